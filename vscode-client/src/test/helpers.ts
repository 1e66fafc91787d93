/**
 * Shared test helpers: where the repository and its virtual environment are, an isolated
 * environment for every process a test starts, and the Ollama replay server as a process.
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { spawn, type ChildProcess } from 'node:child_process';

/** vscode-client/out/test -> the repository root. */
export const REPO = path.resolve(__dirname, '..', '..', '..');
export const CLIENT_DIR = path.join(REPO, 'vscode-client');

/** The Python environment that has typilot-lsp installed ($TYPILOT_VENV, else the repo's .venv). */
export const VENV = process.env.TYPILOT_VENV ?? path.join(REPO, '.venv');
export const PYTHON = path.join(VENV, 'bin', 'python');
export const SERVER = path.join(VENV, 'bin', 'typilot-lsp');

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `typilot-${prefix}-`));
}

/** HOME and XDG_* under `root`, so that no test touches the real user's data or config. */
export function isolatedEnv(root: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.OLLAMA_HOST;
  const dirs = {
    HOME: path.join(root, 'home'),
    XDG_CONFIG_HOME: path.join(root, 'home', '.config'),
    XDG_DATA_HOME: path.join(root, 'home', '.local', 'share'),
    XDG_CACHE_HOME: path.join(root, 'home', '.cache'),
    XDG_STATE_HOME: path.join(root, 'home', '.local', 'state'),
  };
  for (const dir of Object.values(dirs)) {
    fs.mkdirSync(dir, { recursive: true });
  }
  return { ...env, ...dirs, ...extra };
}

/** Reads lines of a child's stdout until one matches; rejects when the child exits first. */
export function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    if (child.stdout === null) {
      reject(new Error('child has no stdout'));
      return;
    }
    const lines = readline.createInterface({ input: child.stdout });
    const seen: string[] = [];
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; saw:\n${seen.join('\n')}`));
    }, timeoutMs);
    const onExit = (code: number | null): void => {
      finish();
      reject(new Error(`process exited (${code}) before printing ${pattern}; saw:\n${seen.join('\n')}`));
    };
    const finish = (): void => {
      clearTimeout(timer);
      lines.removeAllListeners('line');
      child.off('exit', onExit);
    };
    lines.on('line', (line) => {
      seen.push(line);
      const match = pattern.exec(line);
      if (match !== null) {
        finish();
        resolve(match);
      }
    });
    child.on('exit', onExit);
  });
}

export interface Replay {
  readonly url: string;
  addRule(rule: Record<string, unknown>): Promise<void>;
  events(kind?: string): Promise<Array<Record<string, unknown>>>;
  /** The first event of `kind` at index `since` or later, waiting for it up to `timeoutS` seconds (one long poll). */
  waitEvent(kind: string, since: number, timeoutS: number): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** Starts `python -m tests.replay.ollama --port 0` in the repository root (the Ollama replay server). */
export async function startReplay(args: string[] = []): Promise<Replay> {
  const child = spawn(PYTHON, ['-m', 'tests.replay.ollama', '--port', '0', ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const match = await waitForLine(child, /^LISTENING (http:\/\/\S+)/, 30000);
  const url = match[1];
  const control = async (method: string, route: string, body?: unknown): Promise<unknown> => {
    const response = await fetch(`${url}${route}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) {
      throw new Error(`replay ${method} ${route}: HTTP ${response.status} ${await response.text()}`);
    }
    return response.json();
  };
  return {
    url,
    addRule: async (rule) => {
      await control('POST', '/_replay/rules', rule);
    },
    events: async (kind) => {
      const answer = (await control('GET', `/_replay/events${kind ? `?kind=${kind}` : ''}`)) as {
        events: Array<Record<string, unknown>>;
      };
      return answer.events;
    },
    waitEvent: async (kind, since, timeoutS) =>
      (await control('GET', `/_replay/wait?kind=${encodeURIComponent(kind)}&since=${since}&timeout=${timeoutS}`)) as Record<string, unknown>,
    stop: () => stopProcess(child),
  };
}

/** SIGTERM, then SIGKILL after a grace period; resolves when the process is gone. */
export function stopProcess(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export { isRunRequest } from './e2e/streamFigures';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns a value other than undefined. */
export async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 30000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(50);
  }
}
