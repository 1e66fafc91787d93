import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { ApplyWorkspaceEditParams } from 'vscode-languageclient/node';
import { planApplyEdit, RunUndoTracker, runIdOf, SerialQueue } from '../../common/runEdits';
import { sleep } from '../helpers';

const URI = 'file:///tmp/a.py';

function runEdit(version: number | null, label = 'typilot:7', uri = URI): ApplyWorkspaceEditParams {
  return {
    label,
    edit: {
      documentChanges: [
        {
          textDocument: { uri, version },
          edits: [{ range: { start: { line: 1, character: 0 }, end: { line: 1, character: 4 } }, newText: 'def ' }],
        },
      ],
    },
  };
}

test('run labels: typilot:<runId> only', () => {
  assert.equal(runIdOf('typilot:42'), '42');
  assert.equal(runIdOf('typilot:run-a1b2'), 'run-a1b2');
  assert.equal(runIdOf('typilot:'), undefined);
  assert.equal(runIdOf('Rename symbol'), undefined);
  assert.equal(runIdOf(undefined), undefined);
});

test('edits without the run label take the ordinary path', () => {
  const plan = planApplyEdit(runEdit(3, 'Organize imports'), () => 3);
  assert.equal(plan.kind, 'plain');
  const unlabelled = runEdit(3);
  delete unlabelled.label;
  assert.equal(planApplyEdit(unlabelled, () => 3).kind, 'plain');
});

test('a run edit for the open document at its version is applied on the editor', () => {
  const plan = planApplyEdit(runEdit(3), () => 3);
  assert.equal(plan.kind, 'run');
  assert.ok(plan.kind === 'run');
  assert.equal(plan.runId, '7');
  assert.equal(plan.uri, URI);
  assert.deepEqual(plan.edits.map((e) => e.newText), ['def ']);
});

test('a run edit for another version is refused, never forced', () => {
  const plan = planApplyEdit(runEdit(3), () => 4);
  assert.equal(plan.kind, 'reject');
  assert.ok(plan.kind === 'reject');
  assert.match(plan.failureReason, /version is 4.*version 3/);
});

test('a null version (unversioned) edit is applied as it is', () => {
  assert.equal(planApplyEdit(runEdit(null), () => 9).kind, 'run');
});

test('run edits the editor cannot merge go the ordinary way', () => {
  assert.equal(planApplyEdit(runEdit(3), () => undefined).kind, 'plain', 'document not open');
  const unversioned: ApplyWorkspaceEditParams = { label: 'typilot:1', edit: { changes: { [URI]: [] } } };
  assert.equal(planApplyEdit(unversioned, () => 1).kind, 'plain');
  const twoDocs = runEdit(3);
  twoDocs.edit.documentChanges!.push(runEdit(3, 'typilot:7', 'file:///tmp/b.py').edit.documentChanges![0]);
  assert.equal(planApplyEdit(twoDocs, () => 3).kind, 'plain');
  const createFile: ApplyWorkspaceEditParams = { label: 'typilot:1', edit: { documentChanges: [{ kind: 'create', uri: URI }] } };
  assert.equal(planApplyEdit(createFile, () => 1).kind, 'plain');
});

test('undo stops: one before the first edit of a run, none between its edits', () => {
  const undo = new RunUndoTracker();
  assert.equal(undo.undoStopBefore('r1', URI, 5), true, 'first edit of the run');
  undo.applied('r1', URI, 6);
  assert.equal(undo.undoStopBefore('r1', URI, 6), false, 'the next edit joins the same undo step');
  undo.applied('r1', URI, 7);
  assert.equal(undo.undoStopBefore('r1', URI, 7), false);
  assert.equal(undo.undoStopBefore('r2', URI, 7), true, 'another run is its own undo step');
});

test('undo stops: typing in between keeps its own undo step', () => {
  const undo = new RunUndoTracker();
  undo.applied('r1', URI, 6);
  // the user typed: the document is at 8, not at the 6 our edit left it at
  assert.equal(undo.undoStopBefore('r1', URI, 8), true);
  undo.applied('r1', URI, 9);
  assert.equal(undo.undoStopBefore('r1', URI, 9), false);
});

test('the undo tracker forgets old runs', () => {
  const undo = new RunUndoTracker(2);
  undo.applied('a', URI, 1);
  undo.applied('b', URI, 2);
  undo.applied('c', URI, 3);
  assert.equal(undo.has('a'), false);
  assert.equal(undo.has('b') && undo.has('c'), true);
  undo.forget('b');
  assert.equal(undo.has('b'), false);
});

test('applyEdits run one at a time, in order, even when one fails', async () => {
  const queue = new SerialQueue();
  const log: string[] = [];
  const job = (name: string, ms: number, fail = false) => async (): Promise<string> => {
    log.push(`start ${name}`);
    await sleep(ms);
    log.push(`end ${name}`);
    if (fail) {
      throw new Error(name);
    }
    return name;
  };
  const results = await Promise.allSettled([
    queue.run(job('a', 30)),
    queue.run(job('b', 5, true)),
    queue.run(job('c', 1)),
  ]);
  assert.deepEqual(log, ['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
});
