/**
 * Work-done progress (`window/workDoneProgress/create` + `$/progress`): each run shows in the
 * window's progress area and drives the status bar spinner and the `typilot.running` context key.
 *
 * Registered after vscode-languageclient's own progress feature, whose create handler it replaces
 * (one handler per token is all the protocol connection allows).
 */

import * as vscode from 'vscode';
import {
  WorkDoneProgress,
  WorkDoneProgressCreateRequest,
  type ClientCapabilities,
  type FeatureState,
  type LanguageClient,
  type ProgressToken,
  type StaticFeature,
  type WorkDoneProgressBegin,
  type WorkDoneProgressEnd,
  type WorkDoneProgressReport,
} from 'vscode-languageclient/node';
import { RunProgress } from './status';

type Value = WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;

export class RunProgressFeature implements StaticFeature {
  private readonly parts = new Map<string, { dispose(): void }>();

  constructor(
    private readonly client: LanguageClient,
    private readonly progress: RunProgress,
    private readonly changed: () => void,
  ) {}

  fillClientCapabilities(capabilities: ClientCapabilities): void {
    capabilities.window = capabilities.window ?? {};
    capabilities.window.workDoneProgress = true;
  }

  getState(): FeatureState {
    return { kind: 'static' };
  }

  initialize(): void {
    this.client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
      this.track(token);
    });
  }

  clear(): void {
    for (const part of this.parts.values()) {
      part.dispose();
    }
    this.parts.clear();
    this.progress.clear();
    this.changed();
  }

  private track(token: ProgressToken): void {
    const key = String(token);
    let report: ((message: string | undefined) => void) | undefined;
    let finish: (() => void) | undefined;
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const listener = this.client.onProgress(WorkDoneProgress.type, token, (value: Value) => {
      if (this.progress.update(token, value)) {
        this.changed();
      }
      switch (value.kind) {
        case 'begin':
          void vscode.window.withProgress(
            { location: vscode.ProgressLocation.Window, title: value.title },
            async (progress) => {
              report = (message) => progress.report({ message });
              report(value.message);
              await finished;
            },
          );
          break;
        case 'report':
          report?.(value.message);
          break;
        case 'end':
          done();
          break;
      }
    });
    const done = (): void => {
      listener.dispose();
      finish?.();
      this.parts.delete(key);
      if (this.progress.update(token, { kind: 'end' })) {
        this.changed();
      }
    };
    this.parts.set(key, { dispose: done });
  }
}
