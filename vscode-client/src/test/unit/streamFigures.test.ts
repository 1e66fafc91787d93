/**
 * The VS Code benchmark's figures (e2e/streamFigures.ts) from hand-made event logs: which
 * changes belong to the run, and the same definitions as bench/bench_core.py's stream_figures.
 */

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { formatTable, streamFigures, summarize, type BenchRow, type ProbeEvent } from '../e2e/streamFigures';

const URI = 'file:///w/stream-10.py';
const ORIGINAL = 'import os\n\n# gen: x\n';
const EXPECTED = 'import os\n\ndef f():\n    return 1\n';

// The request at t = 100 s; the first token 0.2 s later (100,200 ms); 10 tok/s, so the `done`
// line (complete) comes 100 ms after the last token: last token at 103,000 ms.
const replayEvents = [
  { kind: 'request', id: 1, path: '/api/show', time: 99.5 },
  { kind: 'request', id: 2, path: '/api/generate', time: 100 },
  { kind: 'complete', id: 2, path: '/api/generate', time: 103.1, tokens_sent: 29 },
];

function change(t: number, text: string, reason: 'undo' | 'redo' | null = null, uri = URI, changes = 1): ProbeEvent {
  return { kind: 'change', t, uri, version: Math.round(t), changes, reason, text };
}

const probeEvents: ProbeEvent[] = [
  { kind: 'ready', t: 90_000 },
  change(99_000, ORIGINAL.replace('x', 'typing')), // before the request: the user's typing
  change(100_212, 'import os\n\ndef'),
  change(100_300, 'other', null, 'file:///w/other.py'), // another document
  change(100_400, 'import os\n\ndef f():', null, URI, 0), // no content change (dirty flag)
  change(101_500, 'import os\n\ndef f():\n'),
  change(103_020, EXPECTED),
  change(105_000, ORIGINAL, 'undo'), // after the run: Ctrl+Z
  change(106_000, EXPECTED, 'redo'),
];

test('first text, last text, edits and the final buffer of one run', () => {
  const figures = streamFigures({ replayEvents, probeEvents, uri: URI, tokensPerSecond: 10, firstTokenDelay: 0.2, expected: EXPECTED });
  assert.equal(figures.tps, 10);
  assert.equal(figures.tokens, 29);
  assert.equal(figures.edits, 3, 'this document, with content, after the request, before the undo');
  assert.ok(Math.abs(figures.firstMs - 12) < 1e-6, `${figures.firstMs}`);
  assert.ok(Math.abs(figures.lagMs - 20) < 1e-6, `${figures.lagMs}`);
  assert.ok(Math.abs(figures.streamS - 2.8) < 1e-6, `${figures.streamS}`);
  assert.ok(Math.abs(figures.editsPerS - 2 / 2.808) < 1e-6, `${figures.editsPerS}`);
  assert.equal(figures.bufferMatches, true);
});

test('a buffer that ends elsewhere than the reply is reported, not hidden', () => {
  const cut = probeEvents.map((e) => (e.kind === 'change' && e.text === EXPECTED && e.reason === null ? { ...e, text: 'import os\n\ndef f():\n    ret' } : e));
  const figures = streamFigures({ replayEvents, probeEvents: cut, uri: URI, tokensPerSecond: 10, firstTokenDelay: 0.2, expected: EXPECTED });
  assert.equal(figures.bufferMatches, false);
});

test('a run the replay server or the editor never saw is an error that says which', () => {
  const base = { probeEvents, uri: URI, tokensPerSecond: 10, firstTokenDelay: 0.2, expected: EXPECTED };
  assert.throws(() => streamFigures({ ...base, replayEvents: replayEvents.slice(0, 1) }), /no \/api\/chat or \/api\/generate request/);
  assert.throws(() => streamFigures({ ...base, replayEvents: replayEvents.slice(0, 2) }), /did not complete request 2/);
  assert.throws(() => streamFigures({ ...base, replayEvents, uri: 'file:///w/none.py' }), /no change of file:\/\/\/w\/none\.py/);
});

test('rounds at one rate summarize as medians, the worst undo and every buffer', () => {
  const row = (firstMs: number, undoSteps: number | null, bufferMatches = true): BenchRow => ({
    tps: 100, tokens: 1001, streamS: 10, edits: 40 + firstMs, editsPerS: 4, firstMs, lagMs: 2 * firstMs, undoSteps, bufferMatches,
  });
  const summary = summarize([row(30, 1), row(10, 1), row(20, 1)]);
  assert.equal(summary.firstMs, 20);
  assert.equal(summary.lagMs, 40);
  assert.equal(summary.edits, 60);
  assert.equal(summary.undoSteps, 1);
  assert.equal(summary.bufferMatches, true);
  assert.equal(summarize([row(10, 1), row(20, 2)]).undoSteps, 2);
  assert.equal(summarize([row(10, 1), row(20, null)]).undoSteps, null);
  assert.equal(summarize([row(10, 1), row(20, 1, false)]).bufferMatches, false);
  assert.throws(() => summarize([]), /no runs/);

  const table = formatTable([summary, { ...row(5, null, false), tps: 1000, tokens: 2002 }]);
  const lines = table.split('\n');
  assert.equal(lines.length, 4);
  assert.match(lines[2], /^\| 100 \| 1,001 \| 60 \| 4\.0 \| 20\.0 ms \| 40\.0 ms \| 1 \| yes \|$/);
  assert.match(lines[3], /^\| 1,000 \| 2,002 \| 45 \| .* \| > 10 \| NO \|$/);
});
