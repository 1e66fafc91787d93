/**
 * Typilot for VS Code: starts `typilot-lsp` over stdio and adds what a plain LSP client lacks:
 * a streamed run as one undo step, settings with workspace-trust rules, push-to-talk voice, history,
 * doctor, and a status bar item.
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import * as vscode from 'vscode';
import {
  CancellationToken,
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  State,
  type ConfigurationParams,
  type LanguageClientOptions,
  type ServerOptions,
} from 'vscode-languageclient/node';
import { RunEditApplier } from './common/applyEdit';
import { HISTORY_REQUEST, parseHistory, pickItem, responseDocumentName, responseText } from './common/history';
import { RunProgressFeature } from './common/progress';
import { onDidChangeInterpreter, selectedInterpreter } from './common/python';
import {
  bundledLibs,
  canImportModules,
  describeServer,
  discoverServer,
  doctorArgs,
  isExecutableFile,
  probePython,
  PYTHON_DOWNLOAD,
  serveArgs,
  versionMismatch,
  voiceInstallCommand,
  VOICE_MODULES,
  type ServerCommand,
} from './common/server';
import {
  clientSettings,
  contributedKeys,
  effectiveHost,
  effectiveModel,
  needsRestart,
  SECTION,
  serverSettings,
  subSection,
  type Inspector,
  type JsonObject,
} from './common/settings';
import { RunProgress, statusView, type ServerState } from './common/status';

const CLIENT_ID = 'typilot';
const CLIENT_NAME = 'Typilot';

class TypilotExtension implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private server: ServerCommand | undefined;
  private serverState: ServerState = 'starting';
  private readonly log: vscode.LogOutputChannel;
  private readonly status: vscode.StatusBarItem;
  private readonly progress = new RunProgress();
  private readonly applier: RunEditApplier;
  private readonly keys: string[];
  private readonly extensionPath: string;
  private readonly version: string;
  /** The bundled server's interpreter has the voice extra (checked at the first voice key press). */
  private voiceDependenciesChecked = false;
  private readonly disposables: vscode.Disposable[] = [];
  private voiceTarget: { uri: string; position: { line: number; character: number } } | undefined;
  private voiceStarting = false;
  private lifecycle: Promise<void> = Promise.resolve();

  constructor(context: vscode.ExtensionContext) {
    this.keys = contributedKeys(context.extension.packageJSON);
    this.extensionPath = context.extensionPath;
    const version = (context.extension.packageJSON as { version?: unknown }).version;
    this.version = typeof version === 'string' ? version : '';
    this.log = vscode.window.createOutputChannel(CLIENT_NAME, { log: true });
    this.status = vscode.window.createStatusBarItem('typilot.status', vscode.StatusBarAlignment.Right, 100);
    this.status.name = 'Typilot';
    this.applier = new RunEditApplier(() => this.client, this.log);
    this.disposables.push(this.log, this.status);
  }

  // ---- settings ----------------------------------------------------------------------------

  private inspector(scope?: vscode.Uri): Inspector {
    const config = vscode.workspace.getConfiguration(SECTION, scope ?? null);
    return (key) => config.inspect(key);
  }

  private settingsFor(scope?: vscode.Uri): JsonObject {
    return serverSettings(this.keys, this.inspector(scope), vscode.workspace.isTrusted);
  }

  private async configurationMiddleware(
    params: ConfigurationParams,
    next: (p: ConfigurationParams) => unknown,
  ): Promise<unknown[]> {
    const defaults: unknown = await next(params);
    const answers: unknown[] = Array.isArray(defaults) ? (defaults as unknown[]) : [];
    return params.items.map((item, i): unknown => {
      const section = item.section ?? '';
      if (section !== SECTION && !section.startsWith(`${SECTION}.`)) {
        return answers[i] ?? null;
      }
      const scope = item.scopeUri ? vscode.Uri.parse(item.scopeUri) : undefined;
      const settings = this.settingsFor(scope);
      return section === SECTION ? settings : subSection(settings, section.slice(SECTION.length + 1));
    });
  }

  private async pushSettings(): Promise<void> {
    const client = this.client;
    if (client === undefined || !client.isRunning()) {
      return;
    }
    await client.sendNotification(DidChangeConfigurationNotification.type, {
      settings: { [SECTION]: this.settingsFor() },
    });
  }

  // ---- server lifecycle ---------------------------------------------------------------------

  /** Runs start/stop steps one at a time. */
  private serial(step: () => Promise<void>): Promise<void> {
    this.lifecycle = this.lifecycle.then(step, step).catch((error: unknown) => {
      this.log.error(`Typilot: ${error instanceof Error ? error.message : String(error)}`);
    });
    return this.lifecycle;
  }

  private async findServer(): Promise<ServerCommand | undefined> {
    const folder = vscode.workspace.workspaceFolders?.[0];
    const { serverPath } = clientSettings(this.inspector(folder?.uri), vscode.workspace.isTrusted);
    const found = await discoverServer({
      serverPath,
      pythonCommand: serverPath === undefined ? await selectedInterpreter(folder?.uri) : undefined,
      pathEnv: process.env.PATH,
      pythonPathEnv: process.env.PYTHONPATH,
      workspaceFolder: folder?.uri.fsPath,
      bundleDir: bundledLibs(this.extensionPath),
      isExecutable: isExecutableFile,
      probePython: (cmd) => probePython(cmd),
    });
    if (!found.ok) {
      this.log.error(found.message);
      this.setServerState('missing');
      void vscode.window
        .showErrorMessage(`Typilot: ${found.message}`, 'Select Interpreter', 'Get Python', 'Open Settings')
        .then(async (choice) => {
          if (choice === 'Select Interpreter') {
            await vscode.commands.executeCommand('python.setInterpreter').then(undefined, () =>
              vscode.window.showWarningMessage('Typilot: install the Python extension (ms-python.python) to select an interpreter, or put python3 on PATH.'),
            );
          } else if (choice === 'Get Python') {
            await vscode.env.openExternal(vscode.Uri.parse(PYTHON_DOWNLOAD));
          } else if (choice === 'Open Settings') {
            await vscode.commands.executeCommand('workbench.action.openSettings', 'typilot.serverPath');
          }
        });
      return undefined;
    }
    for (const note of found.notes) {
      this.log.info(note);
    }
    this.log.info(`Starting ${describeServer(found.server)}`);
    return found.server;
  }

  start(): Promise<void> {
    return this.serial(async () => {
      this.setServerState('starting');
      const server = await this.findServer();
      if (server === undefined) {
        return;
      }
      this.server = server;
      this.voiceDependenciesChecked = false; // another interpreter may lack them
      const serverOptions: ServerOptions = {
        command: server.command,
        args: serveArgs(server),
        options: { env: { ...process.env, ...server.env }, cwd: server.cwd },
      };
      const clientOptions: LanguageClientOptions = {
        documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }],
        outputChannel: this.log,
        initializationOptions: () => this.settingsFor(),
        middleware: {
          workspace: {
            handleApplyEdit: (params, next) => this.applier.handle(params, (p) => next(p, CancellationToken.None)),
            configuration: (params, _token, next) => this.configurationMiddleware(params, (p) => next(p, _token)),
          },
          executeCommand: async (command, args, next) => {
            if (command === 'typilot.history.purge' && !(await this.confirmPurge())) {
              return undefined;
            }
            // The server reports the purge itself (window/showMessage).
            return (await next(command, args)) as unknown;
          },
        },
      };
      const client = new LanguageClient(CLIENT_ID, CLIENT_NAME, serverOptions, clientOptions);
      client.registerFeature(new RunProgressFeature(client, this.progress, () => this.refreshStatus()));
      client.onDidChangeState((e) => {
        this.setServerState(e.newState === State.Running ? 'running' : e.newState === State.Starting ? 'starting' : 'stopped');
      });
      this.client = client;
      try {
        await client.start();
        const info = client.initializeResult?.serverInfo;
        this.log.info(`${info?.name ?? 'the server'} ${info?.version ?? '(no version)'} is running; extension ${this.version}`);
        const mismatch = versionMismatch(this.version, info);
        if (mismatch !== undefined) {
          this.log.warn(mismatch);
        }
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        this.log.error(`The Typilot server did not start: ${message}`);
        void vscode.window.showErrorMessage(
          `Typilot: the language server (${describeServer(server)}) did not start: ${message}. Run "Typilot: Doctor" or see the Typilot output.`,
        );
        this.setServerState('stopped');
      }
    });
  }

  stop(): Promise<void> {
    return this.serial(async () => {
      const client = this.client;
      this.client = undefined;
      this.voiceStarting = false;
      this.progress.clear();
      if (client !== undefined) {
        try {
          await client.stop(5000);
        } catch (error) {
          this.log.warn(`stopping the server: ${error instanceof Error ? error.message : String(error)}`);
        }
        await client.dispose();
      }
      this.setServerState('stopped');
    });
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  private setServerState(state: ServerState): void {
    this.serverState = state;
    void vscode.commands.executeCommand('setContext', 'typilot.serverRunning', state === 'running');
    this.refreshStatus();
  }

  // ---- status bar ---------------------------------------------------------------------------

  refreshStatus(): void {
    const inspect = this.inspector();
    const trusted = vscode.workspace.isTrusted;
    const view = statusView({
      model: effectiveModel(inspect, trusted),
      host: effectiveHost(inspect, trusted) ?? process.env.OLLAMA_HOST,
      server: this.serverState,
      runs: this.progress.titles,
      voice: this.progress.listening ? 'listening' : this.voiceStarting ? 'starting' : 'off',
    });
    this.status.text = view.text;
    this.status.tooltip = view.tooltip;
    this.status.command = view.command;
    this.status.backgroundColor = view.warning ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.status.show();
    void vscode.commands.executeCommand('setContext', 'typilot.running', this.progress.running);
    void vscode.commands.executeCommand('setContext', 'typilot.recording', this.isRecording());
  }

  // ---- commands -----------------------------------------------------------------------------

  private runningClient(): LanguageClient | undefined {
    const client = this.client;
    if (client === undefined || !client.isRunning()) {
      void vscode.window.showWarningMessage(
        'Typilot: the language server is not running. See "Typilot: Show Log", or run "Typilot: Doctor".',
      );
      return undefined;
    }
    return client;
  }

  private async confirmPurge(): Promise<boolean> {
    const choice = await vscode.window.showWarningMessage(
      'Delete the whole Typilot history (every prompt and response stored on this machine)?',
      { modal: true, detail: 'This cannot be undone.' },
      'Purge History',
    );
    return choice === 'Purge History';
  }

  /** Listening: the server's voice session is open, or our start request is on its way. */
  private isRecording(): boolean {
    return this.voiceStarting || this.progress.listening;
  }

  /** Push-to-talk toggle: the first press starts listening at the cursor, the second stops. */
  private async voice(): Promise<void> {
    const client = this.runningClient();
    if (client === undefined) {
      return;
    }
    try {
      if (this.isRecording()) {
        await client.sendRequest(ExecuteCommandRequest.type, {
          command: 'typilot.voice.stop',
          arguments: this.voiceTarget === undefined ? [] : [this.voiceTarget],
        });
        return;
      }
      const editor = vscode.window.activeTextEditor;
      if (editor === undefined) {
        void vscode.window.showWarningMessage('Typilot: open a file first; the voice command lands at its cursor.');
        return;
      }
      if (!(await this.voiceDependencies())) {
        return;
      }
      const active = editor.selection.active;
      this.voiceTarget = {
        uri: client.code2ProtocolConverter.asUri(editor.document.uri),
        position: { line: active.line, character: active.character },
      };
      this.voiceStarting = true;
      this.refreshStatus();
      await client.sendRequest(ExecuteCommandRequest.type, {
        command: 'typilot.voice.start',
        arguments: [this.voiceTarget],
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      void vscode.window.showErrorMessage(message.startsWith('Typilot') ? message : `Typilot voice: ${message}`);
    } finally {
      this.voiceStarting = false;
      this.refreshStatus();
    }
  }

  /**
   * The bundled server has no voice packages (faster-whisper and sounddevice are native): at the
   * first voice key press, check that the interpreter has them, else say how to install them.
   * Nothing is installed for the user: "Open Terminal" types the command without running it.
   */
  private async voiceDependencies(): Promise<boolean> {
    const server = this.server;
    if (this.voiceDependenciesChecked || server?.source !== 'bundled' || server.python === undefined) {
      return true;
    }
    if (await canImportModules(server.python, VOICE_MODULES, server.env)) {
      this.voiceDependenciesChecked = true;
      return true;
    }
    const command = voiceInstallCommand(server.python);
    const message =
      `Typilot voice needs faster-whisper and sounddevice (native packages the extension does not bundle) in ${server.python.join(' ')}. ` +
      `Install them with: ${command}`;
    this.log.warn(message);
    const choice = await vscode.window.showWarningMessage(message, 'Copy Command', 'Open Terminal');
    if (choice === 'Copy Command') {
      await vscode.env.clipboard.writeText(command);
    } else if (choice === 'Open Terminal') {
      const terminal = vscode.window.createTerminal('Typilot: voice setup');
      terminal.show();
      terminal.sendText(command, false); // typed, not run: the user presses Enter
    }
    return false;
  }

  private async showHistory(): Promise<void> {
    const client = this.runningClient();
    if (client === undefined) {
      return;
    }
    let result: unknown;
    try {
      result = await client.sendRequest(HISTORY_REQUEST, { limit: 100 });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      void vscode.window.showErrorMessage(`Typilot: could not read the history: ${message}`);
      return;
    }
    const entries = parseHistory(result);
    if (entries.length === 0) {
      void vscode.window.showInformationMessage('Typilot: the history is empty.');
      return;
    }
    const now = new Date();
    const picked = await vscode.window.showQuickPick(
      entries.map((e) => pickItem(e, now)),
      { title: 'Typilot history', placeHolder: 'Pick a run to open its response', matchOnDescription: true, matchOnDetail: true },
    );
    if (picked === undefined) {
      return;
    }
    // An untitled editor named after the run's file, so that it gets the file's language.
    const uri = vscode.Uri.from({ scheme: 'untitled', path: responseDocumentName(picked.entry) });
    const document = await vscode.workspace.openTextDocument(uri);
    const editor = await vscode.window.showTextDocument(document, { preview: false });
    const whole = new vscode.Range(new vscode.Position(0, 0), document.lineAt(document.lineCount - 1).range.end);
    await editor.edit((builder) => builder.replace(whole, responseText(picked.entry)));
  }

  private async doctor(): Promise<void> {
    const server = this.server ?? (await this.findServer());
    if (server === undefined) {
      return;
    }
    const channel = this.doctorChannel();
    channel.clear();
    channel.show(true);
    const settingsFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'typilot-doctor-')), 'settings.json');
    fs.writeFileSync(settingsFile, JSON.stringify({ [SECTION]: this.settingsFor() }), { mode: 0o600 });
    const args = doctorArgs(server, settingsFile);
    const info = this.client?.initializeResult?.serverInfo;
    channel.appendLine(`Typilot extension ${this.version}; running server: ${info ? `${info.name} ${info.version ?? ''}` : 'none'}`);
    channel.appendLine(`Server: ${describeServer(server)}`);
    channel.appendLine(`$ ${[server.command, ...args].join(' ')}`);
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(server.command, args, { env: { ...process.env, ...server.env }, cwd: server.cwd });
      child.stdout.on('data', (data: Buffer) => channel.append(data.toString()));
      child.stderr.on('data', (data: Buffer) => channel.append(data.toString()));
      child.on('error', (error) => {
        channel.appendLine(`could not run ${server.command}: ${error.message}`);
        resolve(null);
      });
      child.on('close', (exitCode) => resolve(exitCode));
    });
    fs.rmSync(path.dirname(settingsFile), { recursive: true, force: true });
    if (code !== 0) {
      channel.appendLine(`\n(typilot-lsp doctor exited with status ${code ?? 'unknown'})`);
      void vscode.window.showWarningMessage('Typilot doctor found problems: see the "Typilot Doctor" output.');
    }
  }

  private doctorOutput: vscode.OutputChannel | undefined;

  private doctorChannel(): vscode.OutputChannel {
    if (this.doctorOutput === undefined) {
      this.doctorOutput = vscode.window.createOutputChannel('Typilot Doctor');
      this.disposables.push(this.doctorOutput);
    }
    return this.doctorOutput;
  }

  // ---- wiring -------------------------------------------------------------------------------

  activate(): void {
    const register = (id: string, fn: () => unknown): void => {
      this.disposables.push(vscode.commands.registerCommand(id, fn));
    };
    register('typilot.voice', () => this.voice());
    register('typilot.history.show', () => this.showHistory());
    register('typilot.doctor', () => this.doctor());
    register('typilot.restart', () => this.restart());
    register('typilot.showLog', () => this.log.show());

    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (!e.affectsConfiguration(SECTION)) {
          return;
        }
        this.refreshStatus();
        const changed = this.keys.filter((key) => e.affectsConfiguration(`${SECTION}.${key}`));
        if (needsRestart(changed) || this.serverState === 'missing') {
          void this.restart();
        } else {
          void this.pushSettings();
        }
      }),
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        // Restricted values (serverPath, host, privacy) now count: start over with them.
        void this.restart();
      }),
    );
    void onDidChangeInterpreter(() => {
      if (this.server === undefined || this.server.source !== 'serverPath') {
        void this.restart();
      }
    }).then((d) => d && this.disposables.push(d));
    this.refreshStatus();
    void this.start();
  }

  dispose(): void {
    for (const d of this.disposables) {
      d.dispose();
    }
  }
}

let extension: TypilotExtension | undefined;

export function activate(context: vscode.ExtensionContext): void {
  extension = new TypilotExtension(context);
  context.subscriptions.push(extension);
  extension.activate();
}

export async function deactivate(): Promise<void> {
  await extension?.stop();
  extension = undefined;
}
