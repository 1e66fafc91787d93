/**
 * The `workspace/applyEdit` middleware: a run's streamed edits (label `typilot:<runId>`) are
 * applied on the visible editor without undo stops in between, so that one Ctrl+Z takes the whole
 * run back; every other edit goes the ordinary vscode-languageclient way.
 *
 * Version discipline: an edit made for another document version is answered `applied: false`
 * (the server recomputes and retries), never forced. And the answer to an applied edit is sent only
 * after the `didChange` it caused went out, so that the server never sees `applied: true` before
 * the document version it belongs to.
 */

import * as vscode from 'vscode';
import {
  DidChangeTextDocumentNotification,
  type ApplyWorkspaceEditParams,
  type ApplyWorkspaceEditResult,
  type LanguageClient,
} from 'vscode-languageclient/node';
import { planApplyEdit, RunUndoTracker, SerialQueue } from './runEdits';

type Next = (params: ApplyWorkspaceEditParams) => unknown;

/** How long to wait for the didChange of an applied edit before answering anyway. */
const ECHO_WAIT_MS = 2000;

export class RunEditApplier {
  private readonly queue = new SerialQueue();
  private readonly undo = new RunUndoTracker();

  constructor(
    private readonly getClient: () => LanguageClient | undefined,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  handle(params: ApplyWorkspaceEditParams, next: Next): Promise<ApplyWorkspaceEditResult> {
    return this.queue.run(() => this.apply(params, next));
  }

  private openDocument(uri: string): vscode.TextDocument | undefined {
    // Compare parsed URIs: the server's spelling of a URI may encode characters differently.
    const wanted = vscode.Uri.parse(uri).toString();
    return vscode.workspace.textDocuments.find((d) => d.uri.toString() === wanted);
  }

  private async apply(params: ApplyWorkspaceEditParams, next: Next): Promise<ApplyWorkspaceEditResult> {
    const client = this.getClient();
    const plan = planApplyEdit(params, (uri) => this.openDocument(uri)?.version);
    if (plan.kind === 'plain' || client === undefined) {
      return (await next(params)) as ApplyWorkspaceEditResult;
    }
    if (plan.kind === 'reject') {
      this.log.debug(`applyEdit ${params.label ?? ''} not applied: ${plan.failureReason}`);
      return { applied: false, failureReason: plan.failureReason };
    }
    const document = this.openDocument(plan.uri);
    const editor = vscode.window.visibleTextEditors.find((e) => e.document === document);
    if (document === undefined || editor === undefined) {
      // Not shown in an editor: the ordinary path (an undo stop per edit, but correct text).
      return (await next(params)) as ApplyWorkspaceEditResult;
    }
    const versionBefore = document.version;
    const undoStopBefore = this.undo.undoStopBefore(plan.runId, plan.uri, versionBefore);
    const ranges = plan.edits.map((e) => client.protocol2CodeConverter.asRange(e.range));
    const echoed = this.waitForDidChange(client, document, versionBefore);
    let applied: boolean;
    try {
      applied = await editor.edit(
        (builder) => {
          plan.edits.forEach((e, i) => builder.replace(ranges[i], e.newText));
        },
        { undoStopBefore, undoStopAfter: false },
      );
    } catch (error) {
      echoed.cancel();
      const reason = error instanceof Error ? error.message : String(error);
      return { applied: false, failureReason: `the editor refused the edit: ${reason}` };
    }
    if (!applied) {
      echoed.cancel();
      return { applied: false, failureReason: 'the editor refused the edit (the document changed)' };
    }
    const versionAfter = document.version;
    this.undo.applied(plan.runId, plan.uri, versionAfter);
    if (versionAfter !== versionBefore) {
      await echoed.done;
    } else {
      echoed.cancel();
    }
    return { applied: true };
  }

  /** Resolves once the didChange that carries a version past `versionBefore` was sent. */
  private waitForDidChange(
    client: LanguageClient,
    document: vscode.TextDocument,
    versionBefore: number,
  ): { done: Promise<void>; cancel: () => void } {
    let finish: () => void = () => undefined;
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const feature = client.getFeature(DidChangeTextDocumentNotification.method);
    const subscription = feature.onNotificationSent((event) => {
      if (event.textDocument === document && event.params.textDocument.version > versionBefore) {
        cleanup();
      }
    });
    const timer = setTimeout(() => {
      this.log.warn(`no didChange went out for ${document.uri.toString()} within ${ECHO_WAIT_MS} ms of a streamed edit`);
      cleanup();
    }, ECHO_WAIT_MS);
    const cleanup = (): void => {
      clearTimeout(timer);
      subscription.dispose();
      finish();
    };
    return { done, cancel: cleanup };
  }
}
