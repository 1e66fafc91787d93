/**
 * A test-only extension that watches the editor from inside the extension host: every
 * `onDidChangeTextDocument` of a file, with its wall-clock time, version, number of content
 * changes, reason (undo/redo) and the document's text, appended as one JSON line to the file
 * named by $TYPILOT_PROBE_LOG. Without that variable it does nothing.
 *
 * It is packaged into its own .vsix by ../probe.ts (never into Typilot's) and installed beside
 * Typilot in code-server by the VS Code benchmark (bench.ts).
 */

import * as fs from 'node:fs';
import * as vscode from 'vscode';

/** Wall clock in ms with sub-millisecond resolution (Date.now() has whole milliseconds). */
function now(): number {
  return performance.timeOrigin + performance.now();
}

export function activate(context: vscode.ExtensionContext): void {
  const log = process.env.TYPILOT_PROBE_LOG;
  if (log === undefined || log === '') {
    return;
  }
  const write = (event: Record<string, unknown>): void => {
    fs.appendFileSync(log, `${JSON.stringify(event)}\n`);
  };
  context.subscriptions.push(
    vscode.workspace.onDidChangeTextDocument((e) => {
      const t = now(); // before any work of ours
      if (e.document.uri.scheme !== 'file') {
        return;
      }
      write({
        kind: 'change',
        t,
        uri: e.document.uri.toString(),
        version: e.document.version,
        changes: e.contentChanges.length,
        reason: e.reason === vscode.TextDocumentChangeReason.Undo ? 'undo' : e.reason === vscode.TextDocumentChangeReason.Redo ? 'redo' : null,
        text: e.document.getText(),
      });
    }),
  );
  write({ kind: 'ready', t: now() });
}

export function deactivate(): void {
  // nothing held open: every event is appended synchronously
}
