/**
 * How the extension runs its language server. The .vsix carries the server and its pure-Python
 * dependencies in `bundled/libs` (scripts/bundle_server.py fills it at package time); the
 * extension runs `python -m typilot_lsp` with `PYTHONPATH=bundled/libs` and an interpreter it
 * finds: the one selected in the Python extension, else the first `python3` >= 3.10 on PATH.
 * `typilot.serverPath` (a `typilot-lsp` executable) overrides all of it. Pure logic over injected
 * probes, so that it runs under `node --test`.
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile } from 'node:child_process';

export const INSTALL_COMMAND = 'pip install typilot-lsp';
export const EXECUTABLE = 'typilot-lsp';
export const PYTHON_MODULE = 'typilot_lsp';
/** The oldest Python the server supports (pyproject's requires-python). */
export const MIN_PYTHON: readonly [number, number] = [3, 10];
/** What the voice sidecar imports besides the server: native packages, not bundled. */
export const VOICE_MODULES = ['faster_whisper', 'sounddevice'] as const;
export const PYTHON_DOWNLOAD = 'https://www.python.org/downloads/';

export type ServerSource = 'serverPath' | 'bundled';

/** How to start the server (stdio) and run its companion commands (`doctor`). */
export interface ServerCommand {
  /** The program to run. */
  readonly command: string;
  /** Arguments that come before a subcommand (`-m typilot_lsp` for an interpreter). */
  readonly baseArgs: readonly string[];
  readonly source: ServerSource;
  /** Bundled: the interpreter's command line (what the voice hint names). */
  readonly python?: readonly string[];
  /** Bundled: the interpreter's version, e.g. `3.12`. */
  readonly pythonVersion?: string;
  /** Variables to add to the environment of the server and its commands. */
  readonly env: Readonly<Record<string, string>>;
  /** Working directory (bundled: the bundle, so that no workspace file can shadow a module). */
  readonly cwd?: string;
}

export type Discovery =
  | { readonly ok: true; readonly server: ServerCommand; readonly notes: readonly string[] }
  | { readonly ok: false; readonly message: string };

/** What `probePython` learns about an interpreter. */
export interface PythonInfo {
  readonly major: number;
  readonly minor: number;
  readonly executable: string;
}

export interface DiscoveryInput {
  /** `typilot.serverPath`, already trimmed; undefined when unset. */
  readonly serverPath: string | undefined;
  /** The selected interpreter's command line (e.g. `['/venv/bin/python']`), when the Python extension has one. */
  readonly pythonCommand: readonly string[] | undefined;
  /** `$PATH`. */
  readonly pathEnv: string | undefined;
  /** `$PYTHONPATH`, kept after the bundle. */
  readonly pythonPathEnv?: string | undefined;
  /** First workspace folder, for `${workspaceFolder}` in serverPath. */
  readonly workspaceFolder: string | undefined;
  /** `<extension>/bundled/libs` when it holds the server; undefined when this build has none. */
  readonly bundleDir: string | undefined;
  readonly isExecutable: (file: string) => Promise<boolean>;
  /** Runs the interpreter; undefined when it does not run. */
  readonly probePython: (pythonCommand: readonly string[]) => Promise<PythonInfo | undefined>;
  readonly platform?: NodeJS.Platform;
}

/** Expands `~`, `${userHome}`, `${workspaceFolder}` and `${env:NAME}` the way VS Code users expect. */
export function expandPath(
  value: string,
  workspaceFolder: string | undefined,
  home: string = os.homedir(),
  env: NodeJS.ProcessEnv = process.env,
): string {
  let out = value.trim();
  if (out === '~' || out.startsWith('~/')) {
    out = home + out.slice(1);
  }
  out = out.replace(/\$\{userHome\}/g, home);
  if (workspaceFolder !== undefined) {
    out = out.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
  }
  out = out.replace(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => env[name] ?? '');
  return out;
}

/** The first `name` on PATH that is an executable file. */
export async function findOnPath(
  name: string,
  pathEnv: string | undefined,
  isExecutable: (file: string) => Promise<boolean>,
  platform: NodeJS.Platform = process.platform,
): Promise<string | undefined> {
  return (await allOnPath(name, pathEnv, isExecutable, platform))[0];
}

function versionText(info: PythonInfo): string {
  return `${info.major}.${info.minor}`;
}

function isSupported(info: PythonInfo): boolean {
  return info.major > MIN_PYTHON[0] || (info.major === MIN_PYTHON[0] && info.minor >= MIN_PYTHON[1]);
}

/** The names of Python 3 on PATH, in the order they are tried. */
function pythonNames(platform: NodeJS.Platform): string[] {
  return platform === 'win32' ? ['python'] : ['python3'];
}

/** Every file called `name` (or `name.exe`...) on PATH that is executable, in PATH order. */
export async function allOnPath(
  name: string,
  pathEnv: string | undefined,
  isExecutable: (file: string) => Promise<boolean>,
  platform: NodeJS.Platform = process.platform,
): Promise<string[]> {
  const found: string[] = [];
  if (!pathEnv) {
    return found;
  }
  const sep = platform === 'win32' ? ';' : ':';
  const names = platform === 'win32' ? [`${name}.exe`, `${name}.cmd`, name] : [name];
  for (const dir of pathEnv.split(sep)) {
    for (const candidate of dir ? names : []) {
      const file = path.join(dir, candidate);
      if (!found.includes(file) && (await isExecutable(file))) {
        found.push(file);
      }
    }
  }
  return found;
}

/** The environment the bundled server runs with: the bundle first on the module path. */
export function bundleEnv(bundleDir: string, pythonPathEnv: string | undefined, platform: NodeJS.Platform = process.platform): Record<string, string> {
  const sep = platform === 'win32' ? ';' : ':';
  return {
    PYTHONPATH: pythonPathEnv ? `${bundleDir}${sep}${pythonPathEnv}` : bundleDir,
    // Python >= 3.11: the working directory is never on the module path.
    PYTHONSAFEPATH: '1',
  };
}

export async function discoverServer(input: DiscoveryInput): Promise<Discovery> {
  const platform = input.platform ?? process.platform;
  if (input.serverPath !== undefined) {
    const file = expandPath(input.serverPath, input.workspaceFolder);
    if (await input.isExecutable(file)) {
      return { ok: true, server: { command: file, baseArgs: [], source: 'serverPath', env: {} }, notes: [] };
    }
    return {
      ok: false,
      message:
        `typilot.serverPath is set to "${input.serverPath}", which is not an executable file. ` +
        `Point it at a typilot-lsp executable (\`${INSTALL_COMMAND}\` installs one), or clear the ` +
        'setting to run the server that comes with the extension.',
    };
  }
  if (input.bundleDir === undefined) {
    return {
      ok: false,
      message:
        'This build of the Typilot extension has no bundled language server (bundled/libs is missing): ' +
        'package it with `npm run package` in vscode-client, or set typilot.serverPath to a typilot-lsp executable.',
    };
  }
  const notes: string[] = [];
  const minimum = MIN_PYTHON.join('.');
  const candidates: Array<{ command: readonly string[]; what: string }> = [];
  if (input.pythonCommand !== undefined && input.pythonCommand.length > 0) {
    candidates.push({ command: input.pythonCommand, what: 'the Python interpreter selected in the Python extension' });
  }
  for (const name of pythonNames(platform)) {
    for (const file of await allOnPath(name, input.pathEnv, input.isExecutable, platform)) {
      candidates.push({ command: [file], what: `${name} on PATH` });
    }
  }
  for (const candidate of candidates) {
    const shown = candidate.command.join(' ');
    const info = await input.probePython(candidate.command);
    if (info === undefined) {
      notes.push(`${candidate.what} (${shown}) did not run.`);
      continue;
    }
    if (!isSupported(info)) {
      notes.push(`${candidate.what} (${shown}) is Python ${versionText(info)}; Typilot needs ${minimum} or newer.`);
      continue;
    }
    const [command, ...rest] = candidate.command;
    return {
      ok: true,
      server: {
        command,
        baseArgs: [...rest, '-m', PYTHON_MODULE],
        source: 'bundled',
        python: candidate.command,
        pythonVersion: versionText(info),
        env: bundleEnv(input.bundleDir, input.pythonPathEnv, platform),
        cwd: input.bundleDir,
      },
      notes,
    };
  }
  return {
    ok: false,
    message:
      `Typilot runs its language server with Python ${minimum} or newer, and found none` +
      (notes.length > 0 ? ` (${notes.join(' ')})` : ` (no ${pythonNames(platform)[0]} on PATH, no interpreter selected in the Python extension)`) +
      `. Install Python ${minimum}+ (${PYTHON_DOWNLOAD} or your system's packages), then select it with ` +
      '"Python: Select Interpreter" or put python3 on PATH; or set typilot.serverPath to a typilot-lsp executable.',
  };
}

/** The arguments that start the language server over stdio. */
export function serveArgs(server: ServerCommand): string[] {
  return [...server.baseArgs, '--stdio'];
}

/** The arguments of `typilot-lsp doctor` with a settings file. */
export function doctorArgs(server: ServerCommand, settingsFile: string | undefined): string[] {
  const args = [...server.baseArgs, 'doctor'];
  if (settingsFile !== undefined) {
    args.push('--settings', settingsFile);
  }
  return args;
}

/** A human description of where the server comes from (log line, doctor header). */
export function describeServer(server: ServerCommand): string {
  const cmd = [server.command, ...server.baseArgs].join(' ');
  switch (server.source) {
    case 'serverPath':
      return `${cmd} (typilot.serverPath)`;
    case 'bundled':
      return `${cmd} (the bundled server, Python ${server.pythonVersion ?? '?'})`;
  }
}

/** Real probes for `discoverServer`. */
export async function isExecutableFile(file: string): Promise<boolean> {
  try {
    const st = await fs.promises.stat(file);
    if (!st.isFile()) {
      return false;
    }
    await fs.promises.access(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The bundled server is there: `<extension>/bundled/libs/typilot_lsp`. */
export function bundledLibs(extensionPath: string): string | undefined {
  const libs = path.join(extensionPath, 'bundled', 'libs');
  return fs.existsSync(path.join(libs, PYTHON_MODULE, '__init__.py')) ? libs : undefined;
}

const PROBE = 'import sys; print(sys.version_info[0], sys.version_info[1]); print(sys.executable)';

export function probePython(pythonCommand: readonly string[], timeoutMs = 15000): Promise<PythonInfo | undefined> {
  const [command, ...rest] = pythonCommand;
  return new Promise((resolve) => {
    execFile(command, [...rest, '-c', PROBE], { timeout: timeoutMs, cwd: os.tmpdir() }, (error, stdout) => {
      const match = /^(\d+) (\d+)\r?\n(.*)$/m.exec(String(stdout));
      resolve(error === null && match !== null ? { major: Number(match[1]), minor: Number(match[2]), executable: match[3].trim() } : undefined);
    });
  });
}

/** Whether `python -c "import a, b"` works with this interpreter and environment. */
export function canImportModules(
  pythonCommand: readonly string[],
  modules: readonly string[],
  env: Readonly<Record<string, string>> = {},
  timeoutMs = 30000,
): Promise<boolean> {
  const [command, ...rest] = pythonCommand;
  return new Promise((resolve) => {
    execFile(
      command,
      [...rest, '-c', `import ${modules.join(', ')}`],
      { timeout: timeoutMs, env: { ...process.env, ...env }, cwd: os.tmpdir() },
      (error) => resolve(error === null),
    );
  });
}

/** The command that installs the voice extra into the interpreter (shown, never run for the user). */
export function voiceInstallCommand(pythonCommand: readonly string[], platform: NodeJS.Platform = process.platform): string {
  const quote = (arg: string): string => (/^[\w./:=@+-]+$/.test(arg) ? arg : platform === 'win32' ? `"${arg}"` : `'${arg.replace(/'/g, `'\\''`)}'`);
  return [...pythonCommand.map(quote), '-m', 'pip', 'install', quote('typilot-lsp[voice]')].join(' ');
}

/** A note when the server and the extension are not the same version (serverPath to another install). */
export function versionMismatch(extensionVersion: string, serverInfo: { name: string; version?: string } | undefined): string | undefined {
  if (serverInfo?.version === undefined || serverInfo.version === extensionVersion) {
    return undefined;
  }
  return `The language server is ${serverInfo.name} ${serverInfo.version}, the extension ${extensionVersion}: ` +
    'settings or commands may not match. Clear typilot.serverPath to use the bundled server, or install the same version.';
}
