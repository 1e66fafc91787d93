/**
 * `typilot/history` entries as quick-pick items and as the text of the editor that shows one.
 * The request answers a list of run records (or `{entries: [...]}`); keys may be snake_case or
 * camelCase. Pure logic (no `vscode` import) so that it runs under `node --test`.
 */

import { isPlainObject, type JsonObject } from './settings';

export const HISTORY_REQUEST = 'typilot/history';

export interface HistoryEntry {
  readonly id: string;
  readonly createdAt: Date | undefined;
  readonly command: string;
  readonly instruction: string;
  readonly source: string;
  readonly uri: string;
  readonly languageId: string;
  readonly model: string;
  readonly outcome: string;
  readonly error: string | undefined;
  readonly prompt: string;
  readonly response: string;
  readonly totalMs: number | undefined;
  readonly tokenCount: number | undefined;
}

export interface HistoryPickItem {
  readonly label: string;
  readonly description: string;
  readonly detail: string;
  readonly entry: HistoryEntry;
}

function field(raw: JsonObject, ...names: string[]): unknown {
  for (const name of names) {
    if (raw[name] !== undefined && raw[name] !== null) {
      return raw[name];
    }
  }
  return undefined;
}

function str(value: unknown): string {
  if (typeof value === 'string') {
    return value;
  }
  if (typeof value === 'number' || typeof value === 'boolean') {
    return String(value);
  }
  return value === undefined ? '' : JSON.stringify(value);
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function toDate(value: unknown): Date | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) {
    // epoch seconds (the store's unit); milliseconds if it is clearly that large
    return new Date(value > 1e12 ? value : value * 1000);
  }
  if (typeof value === 'string' && value) {
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? undefined : d;
  }
  return undefined;
}

export function parseEntry(raw: unknown): HistoryEntry | undefined {
  if (!isPlainObject(raw)) {
    return undefined;
  }
  return {
    id: str(field(raw, 'id')),
    createdAt: toDate(field(raw, 'created_at', 'createdAt')),
    command: str(field(raw, 'command')),
    instruction: str(field(raw, 'instruction')),
    source: str(field(raw, 'source')),
    uri: str(field(raw, 'uri')),
    languageId: str(field(raw, 'language_id', 'languageId')),
    model: str(field(raw, 'model')),
    outcome: str(field(raw, 'outcome')),
    error: field(raw, 'error') === undefined ? undefined : str(field(raw, 'error')),
    prompt: str(field(raw, 'prompt')),
    response: str(field(raw, 'response')),
    totalMs: num(field(raw, 'total_ms', 'totalMs')),
    tokenCount: num(field(raw, 'token_count', 'tokenCount')),
  };
}

/** The entries of a `typilot/history` answer, newest first as the server sends them. */
export function parseHistory(result: unknown): HistoryEntry[] {
  let list: unknown = result;
  if (isPlainObject(result)) {
    list = field(result, 'entries', 'items', 'runs');
  }
  if (!Array.isArray(list)) {
    return [];
  }
  return list.map(parseEntry).filter((e): e is HistoryEntry => e !== undefined);
}

export function fileName(uri: string): string {
  const clean = uri.split(/[?#]/)[0];
  const slash = clean.lastIndexOf('/');
  try {
    return decodeURIComponent(slash >= 0 ? clean.slice(slash + 1) : clean);
  } catch {
    return slash >= 0 ? clean.slice(slash + 1) : clean;
  }
}

export function formatWhen(date: Date | undefined, now: Date = new Date()): string {
  if (date === undefined) {
    return '';
  }
  const seconds = Math.max(0, Math.round((now.getTime() - date.getTime()) / 1000));
  if (seconds < 60) {
    return `${seconds}s ago`;
  }
  if (seconds < 3600) {
    return `${Math.floor(seconds / 60)} min ago`;
  }
  if (seconds < 86400) {
    return `${Math.floor(seconds / 3600)} h ago`;
  }
  return date.toISOString().slice(0, 16).replace('T', ' ');
}

export function pickItem(entry: HistoryEntry, now: Date = new Date()): HistoryPickItem {
  const icon = entry.outcome === 'done' ? '$(check)' : entry.outcome === 'cancelled' ? '$(circle-slash)' : '$(error)';
  const label = `${icon} ${entry.command}: ${entry.instruction || '(no instruction)'}`;
  const parts = [fileName(entry.uri), entry.model, entry.source === 'voice' ? 'voice' : ''].filter((p) => p);
  const detail = entry.outcome === 'error' && entry.error ? `${parts.join(' · ')} — ${entry.error}` : parts.join(' · ');
  return { label, description: formatWhen(entry.createdAt, now), detail, entry };
}

/** The response of a run, for an untitled editor in the run's language. */
export function responseText(entry: HistoryEntry): string {
  if (entry.response) {
    return entry.response;
  }
  if (entry.outcome === 'error' && entry.error) {
    return `The run failed: ${entry.error}`;
  }
  return '(no response text stored: typilot.history.storeContent was off or the run produced nothing)';
}

/**
 * The name of the untitled editor that shows a run's response: it keeps the run's file extension
 * so that VS Code picks the file's language.
 */
export function responseDocumentName(entry: HistoryEntry): string {
  const base = fileName(entry.uri) || 'response.txt';
  return `typilot-${entry.id || 'run'}-${base}`;
}
