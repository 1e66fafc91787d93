/**
 * The `typilot` settings section: from VS Code's configuration to what the server reads.
 *
 * Pure logic (no `vscode` import) so that it runs under `node --test`. The extension feeds it
 * `WorkspaceConfiguration.inspect()` results.
 *
 * Rules:
 * - Only values the user set somewhere (user, workspace, folder) are sent; the server's own defaults
 *   (which know `$OLLAMA_HOST`) apply to everything else. A removed setting therefore falls back to
 *   the server default on the next push.
 * - Client-only keys (`serverPath`) never reach the server.
 * - In an untrusted workspace the restricted keys (executables, hosts, privacy guards, history file)
 *   keep only the user's own value: workspace and folder values are ignored.
 * - `null` and `""` mean "not set" for the nullable keys.
 */

export const SECTION = 'typilot';

/** Settings the client consumes itself: never sent to the server. */
export const CLIENT_ONLY_KEYS: readonly string[] = ['serverPath'];

/** Settings whose workspace values are ignored in untrusted workspaces (package.json lists them too). */
export const RESTRICTED_KEYS: readonly string[] = [
  'serverPath',
  'backend',
  'ollama.host',
  'openai.baseUrl',
  'openai.apiKeyEnv',
  'privacy.allowRemoteHost',
  'privacy.allowCloudModels',
  'history.path',
];

/** The subset of `vscode.WorkspaceConfiguration.inspect()` this module reads. */
export interface Inspected {
  readonly defaultValue?: unknown;
  readonly globalValue?: unknown;
  readonly workspaceValue?: unknown;
  readonly workspaceFolderValue?: unknown;
}

export type Inspector = (key: string) => Inspected | undefined;

export type JsonObject = { [key: string]: unknown };

export function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep merge of plain objects (later wins), the way VS Code merges object settings across scopes. */
export function mergeObjects(base: JsonObject, over: JsonObject): JsonObject {
  const out: JsonObject = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    out[key] = isPlainObject(prev) && isPlainObject(value) ? mergeObjects(prev, value) : value;
  }
  return out;
}

function isUnset(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

/**
 * The value the user set for one key, or undefined when only the default applies.
 * Precedence: folder > workspace > user; object values merge across those scopes.
 */
export function explicitValue(
  key: string,
  inspected: Inspected | undefined,
  trusted: boolean,
): unknown {
  if (inspected === undefined) {
    return undefined;
  }
  const layers: unknown[] = [inspected.globalValue];
  if (trusted || !RESTRICTED_KEYS.includes(key)) {
    layers.push(inspected.workspaceValue, inspected.workspaceFolderValue);
  }
  let result: unknown = undefined;
  for (const layer of layers) {
    if (isUnset(layer)) {
      continue;
    }
    result = isPlainObject(result) && isPlainObject(layer) ? mergeObjects(result, layer) : layer;
  }
  return result;
}

/** Sets `a.b.c` in a nested object, creating the intermediate objects. */
export function setDotted(target: JsonObject, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (!isPlainObject(next)) {
      node[part] = {};
    }
    node = node[part] as JsonObject;
  }
  node[parts[parts.length - 1]] = value;
}

/** The keys (without the `typilot.` prefix) that package.json contributes. */
export function contributedKeys(packageJson: unknown): string[] {
  const props = (packageJson as { contributes?: { configuration?: { properties?: unknown } } })
    ?.contributes?.configuration?.properties;
  if (!isPlainObject(props)) {
    return [];
  }
  return Object.keys(props)
    .filter((k) => k.startsWith(`${SECTION}.`))
    .map((k) => k.slice(SECTION.length + 1));
}

/** The `typilot` section as the server reads it (initializationOptions, workspace/configuration). */
export function serverSettings(
  keys: readonly string[],
  inspect: Inspector,
  trusted: boolean,
): JsonObject {
  const out: JsonObject = {};
  for (const key of keys) {
    if (CLIENT_ONLY_KEYS.includes(key)) {
      continue;
    }
    const value = explicitValue(key, inspect(key), trusted);
    if (value !== undefined) {
      setDotted(out, key, value);
    }
  }
  return out;
}

/** The part of `serverSettings` under a dotted sub-section (`workspace/configuration` with `typilot.ollama`). */
export function subSection(settings: JsonObject, dotted: string): unknown {
  let node: unknown = settings;
  for (const part of dotted.split('.').filter((p) => p.length > 0)) {
    if (!isPlainObject(node)) {
      return null;
    }
    node = node[part];
  }
  return node === undefined ? null : node;
}

/** The client's own settings. */
export interface ClientSettings {
  serverPath: string | undefined;
}

export function clientSettings(inspect: Inspector, trusted: boolean): ClientSettings {
  const serverPath = explicitValue('serverPath', inspect('serverPath'), trusted);
  return { serverPath: typeof serverPath === 'string' ? serverPath.trim() || undefined : undefined };
}

/** The model and host the status bar shows: the effective value (explicit, else the default). */
export function effectiveModel(inspect: Inspector, trusted: boolean): string {
  const value = explicitValue('ollama.model', inspect('ollama.model'), trusted);
  if (typeof value === 'string' && value.trim()) {
    return value.trim();
  }
  const fallback = inspect('ollama.model')?.defaultValue;
  return typeof fallback === 'string' ? fallback : 'qwen2.5-coder:1.5b';
}

export function effectiveHost(inspect: Inspector, trusted: boolean): string | undefined {
  const value = explicitValue('ollama.host', inspect('ollama.host'), trusted);
  return typeof value === 'string' ? value : undefined;
}

/** Whether a change to these keys needs a server restart rather than a settings push. */
export function needsRestart(changedKeys: readonly string[]): boolean {
  return changedKeys.some((k) => CLIENT_ONLY_KEYS.includes(k));
}
