/**
 * Streamed edits of one run: which `workspace/applyEdit` requests belong to a run, whether they may
 * be applied, and where the undo stops go so that a whole run is one undo step.
 *
 * The server labels every edit of a run `typilot:<runId>`. Those edits are applied on the visible
 * editor with `undoStopBefore` only at the start of the run (or after someone else changed the
 * document in between, so the user's own typing stays a separate undo step) and never
 * `undoStopAfter`. Everything else goes the ordinary vscode-languageclient way.
 *
 * Pure logic (no `vscode` import) so that it runs under `node --test`.
 */

import type {
  ApplyWorkspaceEditParams,
  TextDocumentEdit,
  TextEdit,
} from 'vscode-languageclient/node';

export const RUN_LABEL_PREFIX = 'typilot:';

/** The run id of an applyEdit label `typilot:<runId>`, else undefined. */
export function runIdOf(label: string | undefined): string | undefined {
  if (label === undefined || !label.startsWith(RUN_LABEL_PREFIX)) {
    return undefined;
  }
  const id = label.slice(RUN_LABEL_PREFIX.length).trim();
  return id.length > 0 ? id : undefined;
}

export type EditPlan =
  /** Not a run edit, or one we don't handle specially: the default handler applies it. */
  | { readonly kind: 'plain'; readonly why: string }
  /** The document moved on since the server computed the edit: answer applied=false, never force. */
  | { readonly kind: 'reject'; readonly failureReason: string }
  /** Apply on the editor, merged into the run's undo step. */
  | {
      readonly kind: 'run';
      readonly runId: string;
      readonly uri: string;
      readonly version: number | null;
      readonly edits: readonly TextEdit[];
    };

function isTextDocumentEdit(change: unknown): change is TextDocumentEdit {
  const c = change as Partial<TextDocumentEdit> | undefined;
  return c !== undefined && c !== null && typeof c.textDocument === 'object' && Array.isArray(c.edits);
}

/**
 * Decides how to handle one applyEdit request.
 * @param openVersion the version of the open document with this URI, undefined when it is not open.
 */
export function planApplyEdit(
  params: ApplyWorkspaceEditParams,
  openVersion: (uri: string) => number | undefined,
): EditPlan {
  const runId = runIdOf(params.label);
  if (runId === undefined) {
    return { kind: 'plain', why: 'not a run edit' };
  }
  const changes = params.edit.documentChanges;
  if (changes === undefined) {
    // A run edit without versions (WorkspaceEdit.changes) could land on a moved document.
    return { kind: 'plain', why: 'run edit without documentChanges' };
  }
  if (changes.length !== 1 || !isTextDocumentEdit(changes[0])) {
    return { kind: 'plain', why: 'run edit that is not one TextDocumentEdit' };
  }
  const change = changes[0];
  const uri = change.textDocument.uri;
  const current = openVersion(uri);
  if (current === undefined) {
    return { kind: 'plain', why: 'document is not open' };
  }
  const version = change.textDocument.version;
  if (version !== null && version !== current) {
    return {
      kind: 'reject',
      failureReason: `document version is ${current}, the edit was made for version ${version}`,
    };
  }
  const edits: TextEdit[] = [];
  for (const e of change.edits) {
    if (!('newText' in e) || typeof e.newText !== 'string') {
      return { kind: 'plain', why: 'run edit with a snippet' };
    }
    edits.push({ range: e.range, newText: e.newText });
  }
  return { kind: 'run', runId, uri, version, edits };
}

/**
 * Undo-stop bookkeeping across the edits of runs.
 *
 * `undoStopBefore` is true for the first edit of a run and whenever the document is no longer at
 * the version our previous edit of that run left it at (the user typed in between): then the typing
 * keeps its own undo step and the rest of the run starts a new one.
 */
export class RunUndoTracker {
  private readonly last = new Map<string, { uri: string; version: number }>();

  constructor(private readonly capacity = 64) {}

  undoStopBefore(runId: string, uri: string, currentVersion: number): boolean {
    const prev = this.last.get(runId);
    return prev === undefined || prev.uri !== uri || prev.version !== currentVersion;
  }

  /** Records the version the document reached after a run's edit was applied. */
  applied(runId: string, uri: string, versionAfter: number): void {
    this.last.delete(runId);
    this.last.set(runId, { uri, version: versionAfter });
    while (this.last.size > this.capacity) {
      const oldest = this.last.keys().next().value;
      if (oldest === undefined) {
        break;
      }
      this.last.delete(oldest);
    }
  }

  forget(runId: string): void {
    this.last.delete(runId);
  }

  has(runId: string): boolean {
    return this.last.has(runId);
  }
}

/** Runs async jobs one after another, in the order they were queued (applyEdits must not overlap). */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(job: () => Promise<T>): Promise<T> {
    const result = this.tail.then(job, job);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
