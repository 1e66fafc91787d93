/**
 * Finding the `typilot-lsp` server: `typilot.serverPath`, else the Python extension's selected
 * interpreter running `-m typilot_lsp`, else `typilot-lsp` on PATH; else a message saying how to
 * install it. Pure logic over injected probes, so that it runs under `node --test`.
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile } from 'node:child_process';

export const INSTALL_COMMAND = 'pip install typilot-lsp';
export const EXECUTABLE = 'typilot-lsp';
export const PYTHON_MODULE = 'typilot_lsp';

export type ServerSource = 'serverPath' | 'python' | 'path';

/** How to start the server (stdio) and run its companion commands (`doctor`). */
export interface ServerCommand {
  /** The program to run. */
  readonly command: string;
  /** Arguments that come before a subcommand (`-m typilot_lsp` for an interpreter). */
  readonly baseArgs: readonly string[];
  readonly source: ServerSource;
}

export type Discovery =
  | { readonly ok: true; readonly server: ServerCommand; readonly notes: readonly string[] }
  | { readonly ok: false; readonly message: string };

export interface DiscoveryInput {
  /** `typilot.serverPath`, already trimmed; undefined when unset. */
  readonly serverPath: string | undefined;
  /** The selected interpreter's command line (e.g. `['/venv/bin/python']`), when the Python extension has one. */
  readonly pythonCommand: readonly string[] | undefined;
  /** `$PATH`. */
  readonly pathEnv: string | undefined;
  /** First workspace folder, for `${workspaceFolder}` in serverPath. */
  readonly workspaceFolder: string | undefined;
  readonly isExecutable: (file: string) => Promise<boolean>;
  /** Whether `python -c "import typilot_lsp"` works with this interpreter. */
  readonly canImport: (pythonCommand: readonly string[]) => Promise<boolean>;
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
  if (!pathEnv) {
    return undefined;
  }
  const sep = platform === 'win32' ? ';' : ':';
  const names = platform === 'win32' ? [`${name}.exe`, `${name}.cmd`, name] : [name];
  for (const dir of pathEnv.split(sep)) {
    if (!dir) {
      continue;
    }
    for (const candidate of names) {
      const file = path.join(dir, candidate);
      if (await isExecutable(file)) {
        return file;
      }
    }
  }
  return undefined;
}

export async function discoverServer(input: DiscoveryInput): Promise<Discovery> {
  const platform = input.platform ?? process.platform;
  if (input.serverPath !== undefined) {
    const file = expandPath(input.serverPath, input.workspaceFolder);
    if (await input.isExecutable(file)) {
      return { ok: true, server: { command: file, baseArgs: [], source: 'serverPath' }, notes: [] };
    }
    return {
      ok: false,
      message:
        `typilot.serverPath is set to "${input.serverPath}", which is not an executable file. ` +
        `Point it at the typilot-lsp executable (\`${INSTALL_COMMAND}\` installs one), or clear the ` +
        'setting to use the selected Python interpreter or typilot-lsp from PATH.',
    };
  }
  const notes: string[] = [];
  if (input.pythonCommand !== undefined && input.pythonCommand.length > 0) {
    const [command, ...rest] = input.pythonCommand;
    if (await input.canImport(input.pythonCommand)) {
      return {
        ok: true,
        server: { command, baseArgs: [...rest, '-m', PYTHON_MODULE], source: 'python' },
        notes,
      };
    }
    notes.push(
      `The selected Python interpreter (${input.pythonCommand.join(' ')}) has no ${PYTHON_MODULE} ` +
        `package: \`${input.pythonCommand.join(' ')} -m ${INSTALL_COMMAND}\` installs it there.`,
    );
  }
  const onPath = await findOnPath(EXECUTABLE, input.pathEnv, input.isExecutable, platform);
  if (onPath !== undefined) {
    return { ok: true, server: { command: onPath, baseArgs: [], source: 'path' }, notes };
  }
  return {
    ok: false,
    message:
      `Typilot could not find its language server: \`${EXECUTABLE}\` is not on PATH. ` +
      `Install it with \`${INSTALL_COMMAND}\`` +
      (notes.length > 0 ? ` (${notes.join(' ')})` : '') +
      ', or set typilot.serverPath to the typilot-lsp executable.',
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
    case 'python':
      return `${cmd} (the selected Python interpreter)`;
    case 'path':
      return `${cmd} (from PATH)`;
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

export function canImportModule(
  pythonCommand: readonly string[],
  timeoutMs = 15000,
): Promise<boolean> {
  const [command, ...rest] = pythonCommand;
  return new Promise((resolve) => {
    execFile(
      command,
      [...rest, '-c', `import ${PYTHON_MODULE}`],
      { timeout: timeoutMs },
      (error) => resolve(error === null),
    );
  });
}
