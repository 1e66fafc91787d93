/**
 * One measured `gen:` run in real VS Code, for the VS Code benchmark (bench.ts) and for the
 * end-to-end test that keeps it working (vscode.test.ts runs it once and checks what it reports,
 * never a timing).
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { isRunRequest, PYTHON, REPO, sleep, waitFor, type Replay } from '../helpers';
import { chooseQuickFix, goToLine, openFile, statusText } from './codeServer';
import { readProbe } from './probe';
import { streamFigures, type BenchRow, type ChangeEvent } from './streamFigures';

/** Seconds from the request to the first token (bench_core's figure). */
export const FIRST_TOKEN_DELAY = 0.2;
const PREAMBLE = 'import os\n\n';

/** One `gen:` run to measure: its file, its replay rule, the texts before and after. */
export interface Stream {
  readonly tps: number;
  readonly name: string;
  readonly instruction: string;
  readonly reply: string;
  readonly original: string;
  readonly expected: string;
  readonly file: string;
}

/**
 * A stream's file in `workspace` (a `gen:` line after two lines of code) and the replay rule that
 * answers it with `reply` at `tps`.
 */
export async function prepareStream(replay: Replay, workspace: string, tps: number, reply: string, label: string): Promise<Stream> {
  const name = `stream-${tps}-${label.replace(/[^A-Za-z0-9]+/g, '-')}.py`;
  const instruction = `stream benchmark at ${tps} tokens per second, ${label}`;
  const original = `${PREAMBLE}# gen: ${instruction}\n`;
  // No trailing line break: the reply's last token is text that must reach the buffer.
  const text = reply.replace(/\n+$/, '');
  const file = path.join(workspace, name);
  fs.writeFileSync(file, original);
  await replay.addRule({ match: instruction, reply: text, tokens_per_second: tps, first_token_delay: FIRST_TOKEN_DELAY });
  return { tps, name, instruction, reply: text, original, expected: `${PREAMBLE}${text}\n`, file };
}

/** bench_core.reply_of for each token count: the same replies as the pytest-lsp client's figures. */
export function repliesOf(counts: readonly number[]): Map<number, string> {
  const code =
    'import json, sys; sys.path[:0] = [sys.argv[1]]; from bench_core import reply_of; ' +
    'print(json.dumps({n: reply_of(int(n)) for n in sys.argv[2:]}))';
  const out = execFileSync(PYTHON, ['-c', code, path.join(REPO, 'bench'), ...counts.map(String)], { encoding: 'utf8' });
  const replies = JSON.parse(out) as Record<string, string>;
  return new Map(counts.map((n) => [n, replies[String(n)]]));
}

/**
 * The `complete` event of the run's own request: a prewarm (one token, no stream, sent when the
 * quick-fix menu asks for code actions) completes first and is passed over. One long poll on the
 * replay server per completed request: nothing else of ours runs while the reply streams.
 */
async function runComplete(replay: Replay, since: number, timeoutS: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutS * 1000;
  let from = since;
  for (;;) {
    const left = Math.max((deadline - Date.now()) / 1000, 0.1);
    const complete = await replay.waitEvent('complete', from, left);
    const events = await replay.events();
    const request = events.find((e) => e.kind === 'request' && e.id === complete.id);
    if (request !== undefined && isRunRequest(request)) {
      return complete;
    }
    from = events.findIndex((e, i) => i >= from && e.kind === 'complete' && e.id === complete.id) + 1;
  }
}

function changesOf(log: string, uri: string, from: number): ChangeEvent[] {
  return readProbe(log)
    .slice(from)
    .filter((e): e is ChangeEvent => e.kind === 'change' && e.uri === uri && e.changes > 0);
}

/**
 * Runs the stream's `gen:` line from the Ctrl+. menu in the open workbench, waits for the whole
 * reply, presses Ctrl+Z until the `gen:` line is back, and computes the figures from the replay
 * server's events and the probe's log (`log`). `settleMs`: a pause between opening the file and
 * starting the run, so that the figures are not the file opening's.
 */
export async function measureRun(page: Page, replay: Replay, log: string, stream: Stream, settleMs = 2000): Promise<BenchRow> {
  const uri = pathToFileURL(stream.file).href;
  await openFile(page, stream.name);
  await waitFor('the Typilot status bar item', async () => ((await statusText(page))?.includes('local') ? true : undefined), 60000);
  await sleep(settleMs); // the run starts in a settled editor and server, not during the file's opening
  const since = (await replay.events()).length;
  const probeFrom = readProbe(log).length;
  await goToLine(page, PREAMBLE.split('\n').length);
  await chooseQuickFix(page, `Typilot: gen — ${stream.instruction}`);
  // A reply has fewer tokens than characters: the bound is generous.
  await runComplete(replay, since, stream.reply.length / stream.tps + 60);
  await waitFor('the run to end (no spinner)', async () => {
    const text = await statusText(page);
    return text !== undefined && !text.includes('$(loading') ? true : undefined;
  }, 30000);
  await waitFor('the whole reply in the buffer', () => (changesOf(log, uri, probeFrom).at(-1)?.text === stream.expected ? true : undefined), 10000).catch(
    () => undefined, // the figures say so (buffer = reply: NO)
  );
  const replayEvents = (await replay.events()).slice(since);

  // Ctrl+Z until the prefix line is back; one press should do.
  let undoSteps: number | null = null;
  for (let presses = 1; presses <= 10; presses++) {
    const before = readProbe(log).length;
    await page.keyboard.press('Control+Z');
    const undone = await waitFor('an undo of the run', () => changesOf(log, uri, before).find((e) => e.reason === 'undo'), 10000).catch(() => undefined);
    if (undone === undefined) {
      break;
    }
    if (changesOf(log, uri, before).at(-1)?.text === stream.original) {
      undoSteps = presses;
      break;
    }
  }
  const figures = streamFigures({
    replayEvents,
    probeEvents: readProbe(log).slice(probeFrom),
    uri,
    tokensPerSecond: stream.tps,
    firstTokenDelay: FIRST_TOKEN_DELAY,
    expected: stream.expected,
  });
  return { ...figures, undoSteps };
}

