// Fills bundled/libs with the server and its pure-Python dependencies (scripts/bundle_server.py),
// so that the .vsix needs only a Python interpreter. Runs before `vsce package` (vscode:prepublish).
//
// The Python that runs the bundler needs pip: $TYPILOT_BUNDLE_PYTHON, else $TYPILOT_VENV/bin/python,
// else the repository's .venv, else python3. $TYPILOT_WHEEL bundles that wheel instead of building one.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const venvPython = (venv) => path.join(venv, process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python');
const candidates = [
  process.env.TYPILOT_BUNDLE_PYTHON,
  process.env.TYPILOT_VENV && venvPython(process.env.TYPILOT_VENV),
  venvPython(path.join(repo, '.venv')),
].filter(Boolean);
const python = candidates.find((file) => fs.existsSync(file)) ?? (process.platform === 'win32' ? 'python' : 'python3');
const args = [path.join(repo, 'scripts', 'bundle_server.py'), '--out', path.join(here, 'bundled', 'libs')];
if (process.env.TYPILOT_WHEEL) {
  args.push('--wheel', process.env.TYPILOT_WHEEL);
}
execFileSync(python, args, { stdio: 'inherit' });
