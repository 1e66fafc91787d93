/**
 * A microphone for the voice test: a private PulseAudio daemon (own runtime dir and socket) with
 * one null sink whose monitor is the default source, so what `play()` sends into the sink is what
 * the voice sidecar records; speech made by espeak-ng and converted by sox.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { sleep, stopProcess } from '../helpers';

const run = promisify(execFile);
const SINK = 'typilot_test';

export const AUDIO_TOOLS = ['pulseaudio', 'pactl', 'paplay', 'espeak-ng', 'sox'];

export async function missingAudioTools(): Promise<string[]> {
  const missing: string[] = [];
  for (const tool of AUDIO_TOOLS) {
    try {
      await run('sh', ['-c', `command -v ${tool}`]);
    } catch {
      missing.push(tool);
    }
  }
  return missing;
}

export class PulseNullSink {
  private process: ChildProcess | undefined;
  readonly env: Record<string, string>;
  private readonly runtime: string;

  constructor(private readonly root: string) {
    this.runtime = path.join(root, 'pulse');
    const socket = path.join(this.runtime, 'native');
    this.env = { PULSE_SERVER: `unix:${socket}`, PULSE_RUNTIME_PATH: this.runtime, XDG_RUNTIME_DIR: this.runtime };
  }

  async start(): Promise<void> {
    fs.mkdirSync(this.runtime, { recursive: true, mode: 0o700 });
    const home = path.join(this.root, 'pulse-home');
    fs.mkdirSync(home, { recursive: true });
    const log = fs.openSync(path.join(this.root, 'pulseaudio.log'), 'w');
    this.process = spawn(
      'pulseaudio',
      [
        '-n',
        '--daemonize=no',
        '--exit-idle-time=-1',
        '--disallow-exit',
        '--use-pid-file=no',
        '--system=false',
        `--load=module-native-protocol-unix socket=${path.join(this.runtime, 'native')} auth-anonymous=1`,
        `--load=module-null-sink sink_name=${SINK} rate=16000`,
      ],
      { env: { ...process.env, ...this.env, HOME: home }, stdio: ['ignore', 'ignore', log] },
    );
    const deadline = Date.now() + 20000;
    for (;;) {
      try {
        await this.pactl(['info']);
        break;
      } catch (error) {
        if (this.process.exitCode !== null || Date.now() > deadline) {
          throw new Error(`pulseaudio did not start: ${fs.readFileSync(path.join(this.root, 'pulseaudio.log'), 'utf8').slice(-2000)}`, { cause: error });
        }
        await sleep(100);
      }
    }
    await this.pactl(['set-default-sink', SINK]);
    await this.pactl(['set-default-source', `${SINK}.monitor`]);
  }

  private async pactl(args: string[]): Promise<void> {
    await run('pactl', args, { env: { ...process.env, ...this.env } });
  }

  /** Plays a WAV into the null sink; resolves when it has been played. */
  async play(wav: string): Promise<void> {
    await run('paplay', [`--device=${SINK}`, wav], { env: { ...process.env, ...this.env } });
  }

  async stop(): Promise<void> {
    if (this.process !== undefined) {
      await stopProcess(this.process);
    }
  }
}

/** `text` spoken by espeak-ng as 16 kHz mono 16-bit WAV, with a little silence around it. */
export async function speak(text: string, wav: string): Promise<string> {
  const raw = `${wav}.espeak.wav`;
  await run('espeak-ng', ['-v', 'en-us+f3', '-s', '140', '-w', raw, text]);
  await run('sox', [raw, '-r', '16000', '-c', '1', '-b', '16', wav, 'pad', '0.3', '0.5']);
  fs.rmSync(raw);
  return wav;
}
