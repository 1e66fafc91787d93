import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { badgeFor, hostName, isCloudModel, isLoopbackHost, RunProgress, statusView, type StatusInput } from '../../common/status';
import { parseHistory, pickItem, responseDocumentName, responseText } from '../../common/history';

test('cloud models by tag', () => {
  assert.equal(isCloudModel('gpt-oss:120b-cloud'), true);
  assert.equal(isCloudModel('deepseek-v4-pro:cloud'), true);
  assert.equal(isCloudModel('qwen2.5-coder:1.5b'), false);
  assert.equal(isCloudModel('cloudy:7b'), false);
});

test('host names and loopback', () => {
  assert.equal(hostName('http://127.0.0.1:11434'), '127.0.0.1');
  assert.equal(hostName('localhost:11434'), 'localhost');
  assert.equal(hostName('https://ollama.example.com/api'), 'ollama.example.com');
  assert.equal(hostName('[::1]:11434'), '::1');
  assert.equal(isLoopbackHost(undefined), true);
  assert.equal(isLoopbackHost('http://127.0.0.2:11434'), true);
  assert.equal(isLoopbackHost('0.0.0.0'), true);
  assert.equal(isLoopbackHost('http://[::1]:11434'), true);
  assert.equal(isLoopbackHost('http://192.168.1.10:11434'), false);
  assert.equal(isLoopbackHost('ollama.example.com'), false);
});

test('badge: local, cloud or remote', () => {
  assert.equal(badgeFor('qwen2.5-coder:1.5b', undefined), 'local');
  assert.equal(badgeFor('gpt-oss:120b-cloud', undefined), 'cloud');
  assert.equal(badgeFor('qwen2.5-coder:1.5b', 'http://10.0.0.5:11434'), 'remote');
});

const base: StatusInput = { model: 'qwen2.5-coder:1.5b', host: undefined, server: 'running', runs: [], voice: 'off' };

test('status bar: model and badge when idle, spinner while a run streams, click cancels', () => {
  const idle = statusView(base);
  assert.equal(idle.text, '$(sparkle) qwen2.5-coder:1.5b · $(lock) local');
  assert.equal(idle.command, 'typilot.showLog');
  const busy = statusView({ ...base, runs: ['Typilot: gen — add two numbers'] });
  assert.match(busy.text, /^\$\(loading~spin\) qwen2\.5-coder:1\.5b/);
  assert.equal(busy.command, 'typilot.cancel');
  assert.match(busy.tooltip, /add two numbers/);
  assert.match(statusView({ ...base, model: 'gpt-oss:120b-cloud' }).text, /\$\(cloud\) cloud/);
});

test('status bar: missing server, stopped server, listening', () => {
  assert.equal(statusView({ ...base, server: 'missing' }).warning, true);
  assert.equal(statusView({ ...base, server: 'stopped' }).command, 'typilot.restart');
  const listening = statusView({ ...base, voice: 'listening' });
  assert.match(listening.text, /listening/);
  assert.equal(listening.command, 'typilot.voice');
  const starting = statusView({ ...base, voice: 'starting' });
  assert.match(starting.text, /starting voice/);
  assert.doesNotMatch(starting.text, /listening/);
});

test('progress: runs begin and end; voice sessions are listening, not runs', () => {
  const progress = new RunProgress();
  assert.equal(progress.update('t1', { kind: 'begin', title: 'Typilot: gen — x' }), true);
  assert.equal(progress.update('t1', { kind: 'report', message: '10 tokens' }), false);
  assert.equal(progress.running, true);
  assert.equal(progress.update('v1', { kind: 'begin', title: 'Typilot voice' }), true);
  assert.equal(progress.listening, true);
  assert.deepEqual(progress.titles, ['Typilot: gen — x']);
  assert.equal(progress.update('t1', { kind: 'end' }), true);
  assert.equal(progress.update('t1', { kind: 'end' }), false, 'a second end changes nothing');
  assert.equal(progress.running, false);
  progress.clear();
  assert.equal(progress.listening, false);
});

test('history: entries from typilot/history become quick-pick items and a response editor', () => {
  const now = new Date('2026-01-02T10:00:00Z');
  const entries = parseHistory({
    entries: [
      {
        id: 12, created_at: now.getTime() / 1000 - 120, source: 'voice', command: 'gen', instruction: 'parse a date',
        uri: 'file:///w/src/my%20dates.py', model: 'qwen2.5-coder:1.5b', outcome: 'done', error: null, response: 'def parse(s):\n    ...\n',
      },
      { id: 11, created_at: now.getTime() / 1000 - 7200, command: 'fix', instruction: '', uri: 'file:///w/a.ts', model: 'm', outcome: 'error', error: 'Ollama is not running', response: '' },
    ],
  });
  assert.equal(entries.length, 2);
  const first = pickItem(entries[0], now);
  assert.equal(first.label, '$(check) gen: parse a date');
  assert.equal(first.description, '2 min ago');
  assert.equal(first.detail, 'my dates.py · qwen2.5-coder:1.5b · voice');
  assert.equal(responseText(entries[0]), 'def parse(s):\n    ...\n');
  assert.equal(responseDocumentName(entries[0]), 'typilot-12-my dates.py');
  const second = pickItem(entries[1], now);
  assert.equal(second.label, '$(error) fix: (no instruction)');
  assert.match(second.detail, /Ollama is not running/);
  assert.match(responseText(entries[1]), /The run failed: Ollama is not running/);
  assert.deepEqual(parseHistory(null), []);
  assert.deepEqual(parseHistory({ entries: 'nope' }), []);
});
