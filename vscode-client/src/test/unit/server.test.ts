import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  canImportModule,
  discoverServer,
  doctorArgs,
  expandPath,
  findOnPath,
  INSTALL_COMMAND,
  isExecutableFile,
  serveArgs,
  type DiscoveryInput,
} from '../../common/server';
import { PYTHON, SERVER, tempDir, VENV } from '../helpers';

const real = {
  isExecutable: isExecutableFile,
  canImport: (cmd: readonly string[]) => canImportModule(cmd),
  workspaceFolder: undefined,
} satisfies Partial<DiscoveryInput>;

/** A Python interpreter without typilot_lsp: the system one (the venv is not on its path). */
const SYSTEM_PYTHON = '/usr/bin/python3';

test('typilot.serverPath wins and is used as it is', async () => {
  const found = await discoverServer({ ...real, serverPath: SERVER, pythonCommand: [PYTHON], pathEnv: '' });
  assert.ok(found.ok);
  assert.equal(found.server.command, SERVER);
  assert.equal(found.server.source, 'serverPath');
  assert.deepEqual(serveArgs(found.server), ['--stdio']);
});

test('a serverPath that is not an executable is an error that says how to fix it (no silent fallback)', async () => {
  const found = await discoverServer({ ...real, serverPath: '/nonexistent/typilot-lsp', pythonCommand: [PYTHON], pathEnv: path.dirname(SERVER) });
  assert.ok(!found.ok);
  assert.match(found.message, /typilot\.serverPath/);
  assert.match(found.message, /\/nonexistent\/typilot-lsp/);
  assert.ok(found.message.includes(INSTALL_COMMAND));
});

test('serverPath expands ~, ${userHome}, ${workspaceFolder} and ${env:NAME}', () => {
  assert.equal(expandPath('~/bin/typilot-lsp', undefined, '/home/u'), '/home/u/bin/typilot-lsp');
  assert.equal(expandPath('${userHome}/x', undefined, '/home/u'), '/home/u/x');
  assert.equal(expandPath('${workspaceFolder}/.venv/bin/typilot-lsp', '/ws', '/home/u'), '/ws/.venv/bin/typilot-lsp');
  assert.equal(expandPath('${env:TOOLS}/typilot-lsp', undefined, '/h', { TOOLS: '/opt/t' }), '/opt/t/typilot-lsp');
});

test('the selected Python interpreter runs -m typilot_lsp when it has the package', async () => {
  const found = await discoverServer({ ...real, serverPath: undefined, pythonCommand: [PYTHON], pathEnv: '' });
  assert.ok(found.ok);
  assert.equal(found.server.source, 'python');
  assert.equal(found.server.command, PYTHON);
  assert.deepEqual(serveArgs(found.server), ['-m', 'typilot_lsp', '--stdio']);
  assert.deepEqual(doctorArgs(found.server, '/tmp/s.json'), ['-m', 'typilot_lsp', 'doctor', '--settings', '/tmp/s.json']);
  // and that command line really is the server: it prints its version
  const version = execFileSync(found.server.command, [...found.server.baseArgs, '--version'], { encoding: 'utf8' });
  assert.match(version, /^typilot-lsp \d+\.\d+/);
});

test('an interpreter without typilot_lsp falls back to typilot-lsp on PATH, with a note', async (t) => {
  if (!fs.existsSync(SYSTEM_PYTHON) || (await canImportModule([SYSTEM_PYTHON]))) {
    t.skip(`${SYSTEM_PYTHON} is missing or has typilot_lsp installed`);
    return;
  }
  const found = await discoverServer({
    ...real,
    serverPath: undefined,
    pythonCommand: [SYSTEM_PYTHON],
    pathEnv: ['/nonexistent', path.join(VENV, 'bin')].join(':'),
  });
  assert.ok(found.ok);
  assert.equal(found.server.source, 'path');
  assert.equal(found.server.command, SERVER);
  assert.equal(found.notes.length, 1);
  assert.match(found.notes[0], /has no typilot_lsp package/);
  assert.ok(found.notes[0].includes(`${SYSTEM_PYTHON} -m ${INSTALL_COMMAND}`));
});

test('nothing found: the message names the install command', async () => {
  const empty = tempDir('empty-path');
  const found = await discoverServer({ ...real, serverPath: undefined, pythonCommand: undefined, pathEnv: empty });
  assert.ok(!found.ok);
  assert.ok(found.message.includes(INSTALL_COMMAND), found.message);
  assert.match(found.message, /typilot\.serverPath/);
});

test('PATH lookup skips directories and non-executable files', async () => {
  const dir = tempDir('path');
  fs.mkdirSync(path.join(dir, 'a', 'typilot-lsp'), { recursive: true }); // a directory
  fs.mkdirSync(path.join(dir, 'b'));
  fs.writeFileSync(path.join(dir, 'b', 'typilot-lsp'), '#!/bin/sh\n', { mode: 0o644 }); // not executable
  fs.mkdirSync(path.join(dir, 'c'));
  fs.writeFileSync(path.join(dir, 'c', 'typilot-lsp'), '#!/bin/sh\n', { mode: 0o755 });
  const pathEnv = ['a', 'b', 'c'].map((d) => path.join(dir, d)).join(':');
  assert.equal(await findOnPath('typilot-lsp', pathEnv, isExecutableFile, 'linux'), path.join(dir, 'c', 'typilot-lsp'));
  assert.equal(await findOnPath('typilot-lsp', '', isExecutableFile, 'linux'), undefined);
});
