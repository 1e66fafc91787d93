/**
 * The status bar item's content: the model, a local / cloud badge, a spinner while a run streams.
 * Pure logic (no `vscode` import) so that it runs under `node --test`.
 */

export type Badge = 'local' | 'cloud' | 'remote';

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|::1|\[::1\]|0\.0\.0\.0|::|\[::\])$/i;

/** The host name of an Ollama host setting (`http://h:p`, `h:p`, `h`, `[::1]:p`). */
export function hostName(host: string): string {
  let rest = host.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  rest = rest.split('/')[0];
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    return end > 0 ? rest.slice(1, end) : rest;
  }
  const colons = rest.split(':').length - 1;
  if (colons === 1) {
    return rest.slice(0, rest.indexOf(':'));
  }
  return rest; // a bare IPv6 address or a plain host name
}

export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined || host.trim() === '') {
    return true;
  }
  return LOOPBACK.test(hostName(host));
}

/** A model tagged `:cloud` or `-cloud` (e.g. `gpt-oss:120b-cloud`, `deepseek-v4-pro:cloud`). */
export function isCloudModel(model: string): boolean {
  return /(?::|-)cloud$/i.test(model.trim());
}

export function badgeFor(model: string, host: string | undefined): Badge {
  if (isCloudModel(model)) {
    return 'cloud';
  }
  return isLoopbackHost(host) ? 'local' : 'remote';
}

export type ServerState = 'starting' | 'running' | 'stopped' | 'missing';

export interface StatusInput {
  readonly model: string;
  /** The effective host setting; undefined means `$OLLAMA_HOST` / loopback default. */
  readonly host: string | undefined;
  readonly server: ServerState;
  /** Titles of the runs streaming now. */
  readonly runs: readonly string[];
  /** Voice: `starting` while the start request is on its way, `listening` while the server's session is open. */
  readonly voice: 'off' | 'starting' | 'listening';
}

export interface StatusView {
  readonly text: string;
  readonly tooltip: string;
  /** Command the item runs when clicked. */
  readonly command: string;
  readonly warning: boolean;
}

export function statusView(input: StatusInput): StatusView {
  const badge = badgeFor(input.model, input.host);
  const badgeText = badge === 'local' ? '$(lock) local' : badge === 'cloud' ? '$(cloud) cloud' : '$(globe) remote';
  if (input.server === 'missing') {
    return {
      text: '$(warning) Typilot',
      tooltip: 'Typilot: the language server was not found. Click for the log.',
      command: 'typilot.showLog',
      warning: true,
    };
  }
  if (input.server === 'stopped') {
    return {
      text: '$(debug-disconnect) Typilot',
      tooltip: 'Typilot: the language server is not running. Click to restart it.',
      command: 'typilot.restart',
      warning: true,
    };
  }
  if (input.voice === 'starting') {
    return {
      text: `$(sync~spin) starting voice… ${input.model}`,
      tooltip: 'Typilot: opening the microphone and loading the speech model.',
      command: 'typilot.voice',
      warning: false,
    };
  }
  if (input.voice === 'listening') {
    return {
      text: `$(record) listening… ${input.model}`,
      tooltip: 'Typilot: recording a voice command. Press the voice key again (Ctrl+Alt+V) to stop.',
      command: 'typilot.voice',
      warning: false,
    };
  }
  if (input.runs.length > 0) {
    const what = input.runs.length === 1 ? input.runs[0] : `${input.runs.length} runs`;
    return {
      text: `$(loading~spin) ${input.model} · ${badgeText}`,
      tooltip: `Typilot: ${what} streaming from ${input.model} (${badge}). Click to cancel.`,
      command: 'typilot.cancel',
      warning: false,
    };
  }
  const starting = input.server === 'starting' ? ' (starting)' : '';
  return {
    text: `$(sparkle) ${input.model} · ${badgeText}`,
    tooltip: `Typilot${starting}: model ${input.model}, ${badge}. Click for the log.`,
    command: 'typilot.showLog',
    warning: false,
  };
}

/** The server's voice sessions report progress titled "Typilot voice". */
export function isVoiceTitle(title: string): boolean {
  return /^typilot voice\b/i.test(title.trim());
}

/** `$/progress` work-done state per token. */
export interface ProgressValue {
  readonly kind: 'begin' | 'report' | 'end';
  readonly title?: string;
  readonly message?: string;
}

export class RunProgress {
  private readonly active = new Map<string, string>();

  /** Applies one `$/progress` value; returns true when the set of streaming runs changed. */
  update(token: string | number, value: ProgressValue): boolean {
    const key = String(token);
    switch (value.kind) {
      case 'begin': {
        this.active.set(key, value.title ?? 'run');
        return true;
      }
      case 'report':
        return false;
      case 'end':
        return this.active.delete(key);
    }
  }

  clear(): void {
    this.active.clear();
  }

  /** Titles of the runs in progress (voice sessions excluded). */
  get titles(): string[] {
    return [...this.active.values()].filter((t) => !isVoiceTitle(t));
  }

  /** True while a run streams (the `typilot.running` context key). */
  get running(): boolean {
    return this.titles.length > 0;
  }

  /** True while the server's voice session listens or transcribes. */
  get listening(): boolean {
    return [...this.active.values()].some(isVoiceTitle);
  }
}
