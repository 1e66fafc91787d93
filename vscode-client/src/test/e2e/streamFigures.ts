/**
 * The streaming figures of one run in VS Code, from two event logs on one machine's wall clock:
 * the Ollama replay server's (`request` and `complete`, `time` in seconds, Python's time.time())
 * and the probe extension's (`change` events of the document in the extension host, `t` in
 * milliseconds, performance.timeOrigin + performance.now()). The same definitions as
 * bench/bench_core.py's `stream_figures`, so that the two clients' figures compare.
 *
 * Pure (no `vscode`, no I/O): unit-tested in ../unit/streamFigures.test.ts.
 */

/** One line of the probe extension's log (probeExtension/extension.ts). */
export type ProbeEvent =
  | { readonly kind: 'ready'; readonly t: number }
  | {
      readonly kind: 'change';
      readonly t: number;
      readonly uri: string;
      readonly version: number;
      readonly changes: number;
      readonly reason: 'undo' | 'redo' | null;
      readonly text: string;
    };

export type ChangeEvent = Extract<ProbeEvent, { kind: 'change' }>;

export interface StreamRun {
  /** The replay server's events from before the run was started on. */
  readonly replayEvents: ReadonlyArray<Record<string, unknown>>;
  /** The probe's events (any documents, any time: the run's are picked out). */
  readonly probeEvents: readonly ProbeEvent[];
  /** The document the run streams into. */
  readonly uri: string;
  readonly tokensPerSecond: number;
  /** The rule's first_token_delay, in seconds. */
  readonly firstTokenDelay: number;
  /** The whole document's text once the run is complete. */
  readonly expected: string;
}

export interface StreamFigures {
  readonly tps: number;
  /** Tokens the replay server streamed. */
  readonly tokens: number;
  /** From the first token to the last, seconds. */
  readonly streamS: number;
  /** Buffer changes of the run (onDidChangeTextDocument events with content). */
  readonly edits: number;
  readonly editsPerS: number;
  /** First token -> first text in the buffer, ms. */
  readonly firstMs: number;
  /** Last token -> last text in the buffer, ms. */
  readonly lagMs: number;
  /** Whether the document held exactly `expected` after the run's last change. */
  readonly bufferMatches: boolean;
}

const GENERATE_PATHS = new Set(['/api/chat', '/api/generate']);

function num(event: Record<string, unknown>, key: string): number {
  const value = event[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new Error(`replay event ${String(event.kind)} has no numeric ${key}`);
  }
  return value;
}

/** The run's buffer changes: this document, not undo/redo, after the request and before the first undo after it. */
export function runChanges(run: Pick<StreamRun, 'probeEvents' | 'uri'>, requestMs: number): ChangeEvent[] {
  const changes = run.probeEvents.filter(
    (e): e is ChangeEvent => e.kind === 'change' && e.uri === run.uri && e.changes > 0 && e.t >= requestMs,
  );
  const firstUndo = changes.findIndex((e) => e.reason !== null);
  return firstUndo < 0 ? changes : changes.slice(0, firstUndo);
}

/** A run's request streams; a prewarm (the same prompt sent while the user types) asks for one token without a stream. */
export function isRunRequest(event: Record<string, unknown>): boolean {
  const body = event.body as { stream?: unknown } | undefined;
  return body?.stream !== false;
}

export function streamFigures(run: StreamRun): StreamFigures {
  const request = run.replayEvents.find(
    (e) => e.kind === 'request' && GENERATE_PATHS.has(String(e.path)) && isRunRequest(e),
  );
  if (request === undefined) {
    throw new Error('the replay server got no /api/chat or /api/generate request for the run');
  }
  const complete = run.replayEvents.find((e) => e.kind === 'complete' && e.id === request.id);
  if (complete === undefined) {
    throw new Error(`the replay server did not complete request ${String(request.id)}`);
  }
  const requestMs = num(request, 'time') * 1000;
  // The replay server sends the first token `firstTokenDelay` after the request and its `done`
  // line one token interval after the last token.
  const firstTokenMs = requestMs + run.firstTokenDelay * 1000;
  const lastTokenMs = num(complete, 'time') * 1000 - 1000 / run.tokensPerSecond;
  const edits = runChanges(run, requestMs);
  if (edits.length === 0) {
    throw new Error(`no change of ${run.uri} reached the extension host after the request`);
  }
  const first = edits[0];
  const last = edits[edits.length - 1];
  const streamingS = Math.max((last.t - first.t) / 1000, 1e-9);
  return {
    tps: run.tokensPerSecond,
    tokens: num(complete, 'tokens_sent'),
    streamS: (lastTokenMs - firstTokenMs) / 1000,
    edits: edits.length,
    editsPerS: edits.length > 1 ? (edits.length - 1) / streamingS : 0,
    firstMs: first.t - firstTokenMs,
    lagMs: last.t - lastTokenMs,
    bufferMatches: last.text === run.expected,
  };
}

export interface BenchRow extends StreamFigures {
  /** Ctrl+Z presses that took the document back to its text before the run (null: 10 did not). */
  readonly undoSteps: number | null;
}

/** The rows as a Markdown table (docs/performance.md's columns). */
export function formatTable(rows: readonly BenchRow[]): string {
  const lines = [
    '| tok/s | tokens | edits | edits/s | first token -> first text | last token -> last text | undo steps | buffer = reply |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.tps.toLocaleString('en-US')} | ${r.tokens.toLocaleString('en-US')} | ${r.edits} | ${r.editsPerS.toFixed(1)} | ` +
        `${r.firstMs.toFixed(1)} ms | ${r.lagMs.toFixed(1)} ms | ${r.undoSteps ?? '> 10'} | ${r.bufferMatches ? 'yes' : 'NO'} |`,
    );
  }
  return lines.join('\n');
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Several runs at one rate as one row: medians, the most undo steps any run needed, and whether every buffer matched. */
export function summarize(runs: readonly BenchRow[]): BenchRow {
  if (runs.length === 0) {
    throw new Error('no runs to summarize');
  }
  const steps = runs.map((r) => r.undoSteps);
  return {
    tps: runs[0].tps,
    tokens: median(runs.map((r) => r.tokens)),
    streamS: median(runs.map((r) => r.streamS)),
    edits: median(runs.map((r) => r.edits)),
    editsPerS: median(runs.map((r) => r.editsPerS)),
    firstMs: median(runs.map((r) => r.firstMs)),
    lagMs: median(runs.map((r) => r.lagMs)),
    undoSteps: steps.some((s) => s === null) ? null : Math.max(...(steps as number[])),
    bufferMatches: runs.every((r) => r.bufferMatches),
  };
}
