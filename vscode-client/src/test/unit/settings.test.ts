import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  clientSettings,
  contributedKeys,
  effectiveModel,
  explicitValue,
  needsRestart,
  RESTRICTED_KEYS,
  serverSettings,
  subSection,
  type Inspected,
  type Inspector,
} from '../../common/settings';
import { CLIENT_DIR, PYTHON } from '../helpers';

const packageJson = JSON.parse(fs.readFileSync(path.join(CLIENT_DIR, 'package.json'), 'utf8')) as {
  contributes: {
    configuration: { properties: Record<string, { default?: unknown; description?: string; markdownDescription?: string }> };
  };
  capabilities: { untrustedWorkspaces: { supported: string; restrictedConfigurations: string[] } };
};
const properties = packageJson.contributes.configuration.properties;
const keys = contributedKeys(packageJson);

/** An inspector over scoped values, with package.json's defaults. */
function inspector(scopes: { global?: Record<string, unknown>; workspace?: Record<string, unknown>; folder?: Record<string, unknown> }): Inspector {
  return (key) => {
    const out: Inspected = {
      defaultValue: properties[`typilot.${key}`]?.default,
      globalValue: scopes.global?.[key],
      workspaceValue: scopes.workspace?.[key],
      workspaceFolderValue: scopes.folder?.[key],
    };
    return out;
  };
}

/** The server's own list of settings and defaults (server/typilot_lsp/config.py). */
function serverDefaults(): Record<string, unknown> {
  const out = execFileSync(
    PYTHON,
    ['-c', 'import json; from typilot_lsp.config import default_values; print(json.dumps(default_values()))'],
    { encoding: 'utf8' },
  );
  return JSON.parse(out) as Record<string, unknown>;
}

test('package.json contributes every server setting, with the server default and a description', () => {
  const defaults = serverDefaults();
  assert.ok(Object.keys(defaults).length >= 20, 'the server lists its settings');
  for (const [key, value] of Object.entries(defaults)) {
    const prop = properties[`typilot.${key}`];
    assert.ok(prop !== undefined, `typilot.${key} is missing from contributes.configuration`);
    assert.deepEqual(prop.default, value, `typilot.${key}: package.json default differs from config.py`);
    assert.ok((prop.markdownDescription ?? prop.description ?? '').length > 20, `typilot.${key} needs a description`);
  }
  // and nothing the server does not know, except the client's own serverPath
  const extra = keys.filter((k) => !(k in defaults));
  assert.deepEqual(extra, ['serverPath']);
});

test('the PRODUCT.md settings are all there', () => {
  for (const key of [
    'ollama.host', 'ollama.model', 'ollama.keepAlive', 'ollama.options', 'privacy.allowRemoteHost',
    'privacy.allowCloudModels', 'prefixes', 'commands', 'history.enabled', 'history.retentionDays',
    'history.storeContent', 'voice.model', 'voice.computeType', 'voice.inputDevice', 'voice.language', 'trace',
  ]) {
    assert.ok(keys.includes(key), key);
  }
});

test('untrusted workspaces: capabilities restrict exactly the keys the client filters', () => {
  const caps = packageJson.capabilities.untrustedWorkspaces;
  assert.equal(caps.supported, 'limited');
  assert.deepEqual([...caps.restrictedConfigurations].sort(), RESTRICTED_KEYS.map((k) => `typilot.${k}`).sort());
  for (const key of ['serverPath', 'ollama.host', 'privacy.allowRemoteHost', 'privacy.allowCloudModels']) {
    assert.ok(RESTRICTED_KEYS.includes(key), key);
  }
});

test('only values the user set are sent, nested the way the server reads them', () => {
  const settings = serverSettings(
    keys,
    inspector({
      global: { 'ollama.model': 'qwen3:1.7b', 'history.retentionDays': 7, trace: true },
      workspace: { 'ollama.options': { temperature: 0.1 }, 'streaming.editIntervalMs': 20 },
    }),
    true,
  );
  assert.deepEqual(settings, {
    ollama: { model: 'qwen3:1.7b', options: { temperature: 0.1 } },
    history: { retentionDays: 7 },
    streaming: { editIntervalMs: 20 },
    trace: true,
  });
  assert.deepEqual(serverSettings(keys, inspector({}), true), {}, 'nothing set: the server defaults apply');
});

test('the client-only serverPath never reaches the server', () => {
  const settings = serverSettings(keys, inspector({ global: { serverPath: '/opt/typilot-lsp' } }), true);
  assert.deepEqual(settings, {});
  assert.equal(clientSettings(inspector({ global: { serverPath: ' /opt/typilot-lsp ' } }), true).serverPath, '/opt/typilot-lsp');
  assert.equal(clientSettings(inspector({ global: { serverPath: '' } }), true).serverPath, undefined);
});

test('folder beats workspace beats user; object settings merge across scopes like VS Code', () => {
  const inspect = inspector({
    global: { 'ollama.model': 'a', prefixes: { gen: 'make:' }, 'ollama.options': { temperature: 0.5, num_ctx: 4096 } },
    workspace: { 'ollama.model': 'b', 'ollama.options': { temperature: 0.2 } },
    folder: { 'ollama.model': 'c', prefixes: { fix: 'repair:' } },
  });
  const settings = serverSettings(keys, inspect, true);
  assert.deepEqual(settings, {
    ollama: { model: 'c', options: { temperature: 0.2, num_ctx: 4096 } },
    prefixes: { gen: 'make:', fix: 'repair:' },
  });
});

test('untrusted workspace: restricted keys keep only the user value, others keep workspace values', () => {
  const inspect = inspector({
    global: { 'ollama.host': 'http://127.0.0.1:11500' },
    workspace: {
      'ollama.host': 'http://evil.example:11434',
      'privacy.allowRemoteHost': true,
      'privacy.allowCloudModels': true,
      'history.path': '/tmp/elsewhere.sqlite3',
      serverPath: '/tmp/evil',
      'ollama.model': 'qwen3:1.7b',
    },
  });
  assert.deepEqual(serverSettings(keys, inspect, false), {
    ollama: { host: 'http://127.0.0.1:11500', model: 'qwen3:1.7b' },
  });
  assert.equal(clientSettings(inspect, false).serverPath, undefined);
  // once trusted, the workspace values count
  assert.deepEqual(serverSettings(keys, inspect, true), {
    ollama: { host: 'http://evil.example:11434', model: 'qwen3:1.7b' },
    privacy: { allowRemoteHost: true, allowCloudModels: true },
    history: { path: '/tmp/elsewhere.sqlite3' },
  });
  assert.equal(clientSettings(inspect, true).serverPath, '/tmp/evil');
});

test('null and empty strings mean "not set"', () => {
  const inspect = inspector({ global: { 'ollama.host': '', 'voice.inputDevice': null, 'history.path': null } });
  assert.deepEqual(serverSettings(keys, inspect, true), {});
  assert.equal(explicitValue('ollama.host', { globalValue: 'h', workspaceValue: '' }, true), 'h');
  assert.equal(explicitValue('voice.inputDevice', { globalValue: 0 }, true), 0, 'device index 0 is a value');
});

test('workspace/configuration sub-sections', () => {
  const settings = { ollama: { model: 'm', options: { a: 1 } } };
  assert.deepEqual(subSection(settings, 'ollama'), { model: 'm', options: { a: 1 } });
  assert.equal(subSection(settings, 'ollama.model'), 'm');
  assert.equal(subSection(settings, 'voice'), null);
});

test('the status bar model: the explicit value, else the default', () => {
  assert.equal(effectiveModel(inspector({}), true), 'qwen2.5-coder:1.5b');
  assert.equal(effectiveModel(inspector({ workspace: { 'ollama.model': 'qwen3:1.7b' } }), true), 'qwen3:1.7b');
});

test('changing serverPath restarts the server; other settings are pushed', () => {
  assert.equal(needsRestart(['serverPath']), true);
  assert.equal(needsRestart(['ollama.model', 'trace']), false);
});
