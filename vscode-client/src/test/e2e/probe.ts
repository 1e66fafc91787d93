/**
 * The probe extension (probeExtension/extension.ts) as a .vsix that code-server installs beside
 * Typilot, and its log read back.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CLIENT_DIR } from '../helpers';
import type { ProbeEvent } from './streamFigures';

const run = promisify(execFile);

/** The compiled probe (tsc puts it next to this file's output). */
const PROBE_JS = path.join(__dirname, 'probeExtension', 'extension.js');

/** Packages the probe into `<dir>/probe/typilot-probe.vsix` (vsce, from the extension's devDependencies). */
export async function buildProbeVsix(dir: string): Promise<string> {
  const src = path.join(dir, 'probe');
  fs.mkdirSync(src, { recursive: true });
  fs.copyFileSync(PROBE_JS, path.join(src, 'extension.js'));
  const manifest = {
    name: 'typilot-probe',
    displayName: 'Typilot test probe',
    description: 'Logs document changes with their times for the Typilot VS Code benchmark.',
    version: '0.0.1',
    publisher: 'typilot-test',
    license: 'MIT',
    private: true,
    engines: { vscode: '^1.100.0' },
    main: './extension.js',
    activationEvents: ['onStartupFinished'],
  };
  fs.writeFileSync(path.join(src, 'package.json'), JSON.stringify(manifest, null, 2));
  fs.writeFileSync(path.join(src, 'README.md'), `# ${manifest.displayName}\n\n${manifest.description}\n`);
  const out = path.join(src, 'typilot-probe.vsix');
  const vsce = path.join(CLIENT_DIR, 'node_modules', '@vscode', 'vsce', 'vsce');
  await run(process.execPath, [vsce, 'package', '--no-dependencies', '--skip-license', '--allow-missing-repository', '--out', out], {
    cwd: src,
    timeout: 120000,
  });
  return out;
}

/** The probe's log so far (a line still being written is left for the next read). */
export function readProbe(file: string): ProbeEvent[] {
  if (!fs.existsSync(file)) {
    return [];
  }
  const events: ProbeEvent[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') {
      continue;
    }
    try {
      events.push(JSON.parse(line) as ProbeEvent);
    } catch {
      break; // the last line, half written
    }
  }
  return events;
}
