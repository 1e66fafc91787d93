/**
 * Streaming figures in real VS Code (code-server + headless chromium, as the end-to-end test
 * drives it), the VS Code side of bench/bench_core.py's streaming table:
 *
 *     npm run compile && npm run package   # or scripts/test-vscode.sh --install-only first
 *     npm run bench:e2e [-- --quick] [-- --rates 10,100] [-- --repeats N]
 *
 * Rounds of one run per rate (--repeats, default 3), interleaved; the table has the medians.
 *
 * A `gen:` line runs from the Ctrl+. menu against the Ollama replay server (tests/replay/ollama)
 * at 10, 100 and 1,000 tok/s, with replies of 300 / 1,000 / 2,000 tokens (bench_core's `reply_of`;
 * `--quick`: 100 tokens at 10 tok/s and one round), first token 0.2 s after the request, Typilot's default
 * settings (`streaming.editIntervalMs` 50, `maxEditIntervalMs` 250). A probe extension installed
 * beside Typilot (probeExtension/) logs every onDidChangeTextDocument in the extension host. Per
 * run: the buffer changes, first token -> first text in the buffer, last token -> last text, the
 * Ctrl+Z presses that take the run back, and whether the buffer ends as the reply.
 *
 * Clocks: the replay server (Python time.time()), the extension host and this script run on one
 * machine, so their wall clocks compare directly.
 *
 * Not part of the test run (it asserts no timings): it prints a table for docs/performance.md.
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { REPO, SERVER, startReplay, tempDir, waitFor } from '../helpers';
import { FIRST_TOKEN_DELAY, measureRun, prepareStream, repliesOf, type Stream } from './benchRun';
import { launchBrowser, missingPrerequisites, startCodeServer } from './codeServer';
import { buildProbeVsix, readProbe } from './probe';
import { formatTable, summarize, type BenchRow } from './streamFigures';

function machine(): string {
  const cpus = os.cpus();
  const load = os.loadavg().map((l) => l.toFixed(2)).join(', ');
  return `${cpus[0]?.model ?? os.arch()}, ${cpus.length} CPUs, load average ${load}; ${os.type()} ${os.release()}; Node ${process.version}`;
}

function uptime(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average ${os.loadavg().join(', ')}`;
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const option = (name: string): string | undefined => {
    const at = argv.indexOf(name);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const quick = argv.includes('--quick');
  const rates = (option('--rates') ?? '10,100,1000').split(',').map(Number);
  const repeats = Number(option('--repeats') ?? (quick ? 1 : 3));
  const plan: Array<[number, number]> = [
    [10, quick ? 100 : 300],
    [100, 1000],
    [1000, 2000],
  ];
  const chosen = plan.filter(([tps]) => rates.includes(tps));
  if (chosen.length === 0 || !Number.isInteger(repeats) || repeats < 1) {
    console.error(`usage: bench.js [--quick] [--rates ${plan.map(([tps]) => tps).join(',')}] [--repeats N]`);
    return 2;
  }
  const missing = missingPrerequisites();
  if (missing.length > 0) {
    console.error(`run scripts/test-vscode.sh --install-only and npm run package first; missing:\n${missing.join('\n')}`);
    return 2;
  }

  console.log(`machine: ${machine()}`);
  console.log(`uptime at start: ${uptime()}`);
  const root = tempDir('vscode-bench');
  const workspace = path.join(root, 'workspace');
  fs.mkdirSync(workspace);
  const replies = repliesOf(chosen.map(([, tokens]) => tokens));
  const replay = await startReplay(['--first-token-delay', String(FIRST_TOKEN_DELAY)]);
  let stopServer: (() => Promise<void>) | undefined;
  let closeBrowser: (() => Promise<void>) | undefined;
  const runs: BenchRow[] = [];
  try {
    // Rounds of one run per rate (interleaved, so that load on the machine hits every rate alike),
    // each run in its own file.
    const streams: Stream[] = [];
    for (let round = 1; round <= repeats; round++) {
      for (const [tps, tokens] of chosen) {
        streams.push(await prepareStream(replay, workspace, tps, replies.get(tokens) ?? '', `round ${round} of ${repeats}`));
      }
    }
    const log = path.join(root, 'probe.jsonl');
    const probe = await buildProbeVsix(root);
    const server = await startCodeServer(
      root,
      // gen.maxTokens 0: the 2,000-token reply streams whole (the default bound is 1,024)
      { 'typilot.serverPath': SERVER, 'typilot.ollama.host': replay.url, 'typilot.gen.maxTokens': 0 },
      // this checkout's server, with its bytecode cached as an installed one has (as bench_core runs it)
      { TYPILOT_PROBE_LOG: log, PYTHONPATH: path.join(REPO, 'server'), PYTHONDONTWRITEBYTECODE: '' },
      { extraVsix: [probe] },
    );
    stopServer = () => server.stop();
    const browser = await launchBrowser(root);
    closeBrowser = () => browser.close();
    console.log(`code-server ${server.url}, chromium ${browser.version()}`);
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${server.url}/?folder=${encodeURIComponent(workspace)}`);
    await page.waitForSelector('.monaco-workbench', { timeout: 90000 });
    await waitFor('the probe extension to start', () => (readProbe(log).some((e) => e.kind === 'ready') ? true : undefined), 90000);
    for (const [index, stream] of streams.entries()) {
      const row = await measureRun(page, replay, log, stream);
      runs.push(row);
      console.log(
        `run ${index + 1}/${streams.length}, ${stream.tps} tok/s: ${row.edits} edits, first text ${row.firstMs.toFixed(1)} ms, ` +
          `last text ${row.lagMs.toFixed(1)} ms, undo steps ${row.undoSteps ?? 'more than 10'}, buffer = reply: ${row.bufferMatches}`,
      );
    }
  } finally {
    await closeBrowser?.();
    await stopServer?.();
    await replay.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
  console.log(`uptime at end: ${uptime()}`);
  console.log('');
  console.log(
    `streaming in VS Code (code-server; Typilot's defaults: editIntervalMs 50, maxEditIntervalMs 250), ` +
      `median of ${repeats} run(s) per rate:`,
  );
  const rows = chosen.map(([tps]) => summarize(runs.filter((r) => r.tps === tps)));
  console.log(formatTable(rows));
  return rows.every((r) => r.bufferMatches && r.undoSteps === 1) ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
