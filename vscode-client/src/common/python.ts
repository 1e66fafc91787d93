/**
 * The interpreter selected in the Python extension (`ms-python.python`), when it is installed.
 * Uses its `environments` API, with the older `settings.getExecutionDetails` as a fallback.
 */

import * as vscode from 'vscode';

export const PYTHON_EXTENSION_ID = 'ms-python.python';

interface EnvironmentPath {
  readonly id: string;
  readonly path: string;
}

interface ResolvedEnvironment {
  readonly executable: { readonly uri?: vscode.Uri };
}

/** The parts of the Python extension's API this module uses. */
interface PythonExtensionApi {
  readonly environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): EnvironmentPath;
    resolveEnvironment(env: EnvironmentPath | string): Promise<ResolvedEnvironment | undefined>;
    readonly onDidChangeActiveEnvironmentPath: vscode.Event<unknown>;
  };
  readonly settings?: {
    getExecutionDetails(resource?: vscode.Uri): { execCommand: string[] | undefined };
    readonly onDidChangeExecutionDetails?: vscode.Event<unknown>;
  };
}

async function pythonApi(): Promise<PythonExtensionApi | undefined> {
  const extension = vscode.extensions.getExtension<PythonExtensionApi>(PYTHON_EXTENSION_ID);
  if (extension === undefined) {
    return undefined;
  }
  try {
    return extension.isActive ? extension.exports : await extension.activate();
  } catch {
    return undefined;
  }
}

/** The selected interpreter's command line, e.g. `['/project/.venv/bin/python']`. */
export async function selectedInterpreter(
  resource: vscode.Uri | undefined,
): Promise<string[] | undefined> {
  const api = await pythonApi();
  if (api === undefined) {
    return undefined;
  }
  try {
    if (api.environments !== undefined) {
      const active = api.environments.getActiveEnvironmentPath(resource);
      const resolved = await api.environments.resolveEnvironment(active);
      const file = resolved?.executable.uri?.fsPath;
      if (file) {
        return [file];
      }
    }
    const command = api.settings?.getExecutionDetails(resource).execCommand;
    if (command !== undefined && command.length > 0) {
      return [...command];
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** Calls `listener` when the user selects another interpreter. */
export async function onDidChangeInterpreter(
  listener: () => void,
): Promise<vscode.Disposable | undefined> {
  const api = await pythonApi();
  const event = api?.environments?.onDidChangeActiveEnvironmentPath ?? api?.settings?.onDidChangeExecutionDetails;
  return event === undefined ? undefined : event(() => listener());
}
