/**
 * The client's protocol logic against the real `typilot-lsp` over stdio (vscode-jsonrpc), with the
 * Ollama replay server behind it: settings sent as initializationOptions and answered for
 * workspace/configuration, the run's edits planned with `planApplyEdit` (stale versions refused)
 * and echoed as didChange before the reply, exactly as the extension does.
 */

import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import type { ApplyWorkspaceEditParams, ApplyWorkspaceEditResult, CodeAction, Command, TextEdit } from 'vscode-languageclient/node';
import { planApplyEdit, runIdOf } from '../../common/runEdits';
import { contributedKeys, serverSettings, type Inspector } from '../../common/settings';
import { CLIENT_DIR, isolatedEnv, SERVER, startReplay, stopProcess, tempDir, waitFor, type Replay } from '../helpers';

const keys = contributedKeys(JSON.parse(fs.readFileSync(path.join(CLIENT_DIR, 'package.json'), 'utf8')));

/** An open document as an editor keeps it: text, version, LSP positions in UTF-16 code units. */
class Doc {
  version = 1;
  constructor(readonly uri: string, public text: string) {}

  offset(line: number, character: number): number {
    let offset = 0;
    for (let i = 0; i < line; i++) {
      const nl = this.text.indexOf('\n', offset);
      offset = nl < 0 ? this.text.length : nl + 1;
    }
    const lineEnd = this.text.indexOf('\n', offset);
    return Math.min(offset + character, lineEnd < 0 ? this.text.length : lineEnd);
  }

  apply(edits: readonly TextEdit[]): void {
    // LSP: every range refers to the document before the edit; apply from the end.
    const spans = edits
      .map((e) => ({ start: this.offset(e.range.start.line, e.range.start.character), end: this.offset(e.range.end.line, e.range.end.character), text: e.newText }))
      .sort((a, b) => b.start - a.start);
    for (const s of spans) {
      this.text = this.text.slice(0, s.start) + s.text + this.text.slice(s.end);
    }
    this.version += 1;
  }
}

interface Session {
  connection: MessageConnection;
  process: ChildProcess;
  docs: Map<string, Doc>;
  applied: string[];
  refused: string[];
  progressEnds: number;
  messages: string[];
  configurationRequests: number;
}

let replay: Replay;
let root: string;

before(async () => {
  root = tempDir('lsp');
  replay = await startReplay(['--tps', '400']);
});

after(async () => {
  await replay?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

async function startSession(userSettings: Record<string, unknown>, onApply?: (s: Session, p: ApplyWorkspaceEditParams) => void): Promise<Session> {
  const inspect: Inspector = (key) => ({ globalValue: userSettings[key] });
  const settings = serverSettings(keys, inspect, true);
  const child = spawn(SERVER, ['--stdio'], { env: isolatedEnv(root), stdio: ['pipe', 'pipe', 'inherit'] });
  const connection = createMessageConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
  const session: Session = { connection, process: child, docs: new Map(), applied: [], refused: [], progressEnds: 0, messages: [], configurationRequests: 0 };

  connection.onRequest('workspace/applyEdit', (params: ApplyWorkspaceEditParams): ApplyWorkspaceEditResult => {
    onApply?.(session, params);
    const plan = planApplyEdit(params, (uri) => session.docs.get(uri)?.version);
    if (plan.kind === 'reject') {
      session.refused.push(plan.failureReason);
      return { applied: false, failureReason: plan.failureReason };
    }
    assert.equal(plan.kind, 'run', `every edit of a run carries the typilot:<runId> label (got ${params.label})`);
    assert.ok(plan.kind === 'run');
    const doc = session.docs.get(plan.uri)!;
    doc.apply(plan.edits);
    session.applied.push(plan.runId);
    // As the extension does: the didChange goes out before the answer.
    void connection.sendNotification('textDocument/didChange', {
      textDocument: { uri: doc.uri, version: doc.version },
      contentChanges: [{ text: doc.text }],
    });
    return { applied: true };
  });
  connection.onRequest('workspace/configuration', (params: { items: Array<{ section?: string }> }) => {
    session.configurationRequests += 1;
    return params.items.map((item) => (item.section === 'typilot' ? settings : null));
  });
  connection.onRequest('window/workDoneProgress/create', () => null);
  connection.onNotification('$/progress', (params: { value: { kind: string } }) => {
    if (params.value.kind === 'end') {
      session.progressEnds += 1;
    }
  });
  connection.onNotification('window/showMessage', (params: { message: string }) => {
    session.messages.push(params.message);
  });
  connection.onNotification('window/logMessage', () => undefined);
  connection.onRequest('client/registerCapability', () => null);
  connection.listen();

  await connection.sendRequest('initialize', {
    processId: process.pid,
    rootUri: null,
    capabilities: {
      workspace: { applyEdit: true, configuration: true, workspaceEdit: { documentChanges: true }, didChangeConfiguration: { dynamicRegistration: false } },
      window: { workDoneProgress: true, showMessage: {} },
      textDocument: { codeAction: { codeActionLiteralSupport: { codeActionKind: { valueSet: ['', 'quickfix', 'refactor', 'refactor.rewrite', 'source'] } } } },
    },
    initializationOptions: settings,
  });
  await connection.sendNotification('initialized', {});
  return session;
}

async function stopSession(session: Session): Promise<void> {
  try {
    await session.connection.sendRequest('shutdown');
    await session.connection.sendNotification('exit');
  } catch {
    // the process may be gone already
  }
  session.connection.dispose();
  await stopProcess(session.process);
}

async function open(session: Session, name: string, text: string): Promise<Doc> {
  const doc = new Doc(`file://${root}/${name}`, text);
  session.docs.set(doc.uri, doc);
  await session.connection.sendNotification('textDocument/didOpen', {
    textDocument: { uri: doc.uri, languageId: 'python', version: doc.version, text },
  });
  return doc;
}

async function runGen(session: Session, doc: Doc, line: number): Promise<string> {
  const actions = await session.connection.sendRequest<Array<CodeAction | Command>>('textDocument/codeAction', {
    textDocument: { uri: doc.uri },
    range: { start: { line, character: 0 }, end: { line, character: 0 } },
    context: { diagnostics: [] },
  });
  const action = actions.find((a) => a.title.startsWith('Typilot: gen'));
  assert.ok(action !== undefined, `a "Typilot: gen — ..." action among ${JSON.stringify(actions.map((a) => a.title))}`);
  const command = ('command' in action && typeof action.command === 'object' ? action.command : action) as Command;
  assert.equal(command.command, 'typilot.run');
  const result = await session.connection.sendRequest<{ runId: string }>('workspace/executeCommand', {
    command: command.command,
    arguments: command.arguments,
  });
  assert.ok(result.runId, 'typilot.run answers {runId}');
  return String(result.runId);
}

const REPLY = Array.from({ length: 30 }, (_, i) => `    total += ${i}  # step ${i}, ünïcödé ✓`).join('\n');
const CODE = `def add_many():\n    total = 0\n${REPLY}\n    return total\n`;

test('settings reach the server: initializationOptions and workspace/configuration use the same mapping', async () => {
  await replay.addRule({ match: 'sum the numbers', reply: CODE, tokens_per_second: 400 });
  const session = await startSession({ 'ollama.host': replay.url, 'streaming.editIntervalMs': 10 });
  try {
    const doc = await open(session, 'settings.py', 'import math\n# gen: sum the numbers\nprint(1)\n');
    const runId = await runGen(session, doc, 1);
    await waitFor('the run to end', () => (doc.text.includes('return total') && session.progressEnds > 0 ? true : undefined));
    // the run reached the replay server named in the settings (not the default 127.0.0.1:11434)
    const requests = await replay.events('request');
    assert.ok(requests.length > 0, 'the server used typilot.ollama.host from the settings');
    assert.ok(session.configurationRequests >= 1, 'the server pulled workspace/configuration');
    assert.ok(session.applied.every((id) => id === runId), 'every applied edit is labelled with the run id');
  } finally {
    await stopSession(session);
  }
});

test('the whole streamed text lands in place of the prefix line, in many edits', async () => {
  await replay.addRule({ match: 'long function', reply: CODE, tokens_per_second: 400 });
  const session = await startSession({ 'ollama.host': replay.url, 'streaming.editIntervalMs': 5 });
  try {
    const doc = await open(session, 'stream.py', 'import math\n# gen: long function\nprint(1)\n');
    await runGen(session, doc, 1);
    await waitFor('the run to end', () => (session.progressEnds > 0 && doc.text.includes('return total') ? true : undefined));
    await waitFor('the text to settle', () => (doc.text === `import math\n${CODE}print(1)\n` ? true : undefined), 10000);
    assert.ok(session.applied.length > 3, `streamed in several edits (${session.applied.length})`);
  } finally {
    await stopSession(session);
  }
});

test('a stale edit is refused, the server recomputes, and typing is kept', async () => {
  await replay.addRule({ match: 'racing keystroke', reply: CODE, tokens_per_second: 300 });
  let typed = false;
  const session = await startSession({ 'ollama.host': replay.url, 'streaming.editIntervalMs': 5 }, (s, params) => {
    // On the third edit of the run, the user types on the first line first: that edit is now stale.
    if (!typed && runIdOf(params.label) !== undefined && s.applied.length === 2) {
      typed = true;
      const doc = [...s.docs.values()][0];
      doc.apply([{ range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } }, newText: 'import os\n' }]);
      void s.connection.sendNotification('textDocument/didChange', {
        textDocument: { uri: doc.uri, version: doc.version },
        contentChanges: [{ text: doc.text }],
      });
    }
  });
  try {
    const doc = await open(session, 'race.py', 'import math\n# gen: racing keystroke\nprint(1)\n');
    await runGen(session, doc, 1);
    await waitFor('the text to settle', () => (doc.text === `import os\nimport math\n${CODE}print(1)\n` ? true : undefined), 30000);
    assert.equal(typed, true);
    assert.ok(session.refused.length >= 1, 'the stale edit was refused');
    assert.match(session.refused[0], /document version is \d+, the edit was made for version \d+/);
  } finally {
    await stopSession(session);
  }
});
