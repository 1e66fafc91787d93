"""Microphone capture with sounddevice: 16 kHz mono float32, ended by the caller or the end-pointer.

Only the sidecar imports this module (sounddevice loads PortAudio, which the language server
process never needs).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from typilot_lsp.voice_agent.errors import (
    InputDeviceError,
    NoInputDevice,
    PortAudioMissing,
    VoiceDependencyMissing,
)
from typilot_lsp.voice_agent.protocol import EndReason
from typilot_lsp.voice_agent.vad import ENDING, Endpointer, VadEvent

__all__ = ["SAMPLE_RATE", "Capture", "CaptureResult", "import_sounddevice", "input_devices"]

SAMPLE_RATE = 16000
BLOCK_SECONDS = 0.03


def import_sounddevice() -> ModuleType:
    """Import sounddevice, turning a missing package or PortAudio into an actionable error."""
    try:
        import sounddevice
    except ModuleNotFoundError as exc:
        raise VoiceDependencyMissing("sounddevice", str(exc)) from exc
    except OSError as exc:  # sounddevice raises OSError("PortAudio library not found")
        raise PortAudioMissing(str(exc)) from exc
    return sounddevice


def input_devices(sd: ModuleType) -> list[str]:
    """Input devices as "index: name" strings."""
    try:
        devices = sd.query_devices()
    except Exception:
        return []
    return [
        f"{d['index']}: {d['name']}"
        for d in devices
        if isinstance(d, dict) and int(d.get("max_input_channels", 0)) > 0
    ]


def _device_arg(device: str | int | None) -> str | int | None:
    if isinstance(device, str):
        stripped = device.strip()
        if stripped == "":
            return None
        if stripped.isdigit():
            return int(stripped)
        return stripped
    return device


@attrs.define
class CaptureResult:
    audio: npt.NDArray[np.float32]
    reason: EndReason
    speech_detected: bool
    speech_end_monotonic: float | None
    """time.monotonic() when the last speech window arrived; None when none did."""
    speech_end_sample: int | None
    """Samples of `audio` up to the end of the last speech window; None without speech."""

    @property
    def seconds(self) -> float:
        return self.audio.size / SAMPLE_RATE


def _resample(block: npt.NDArray[np.float32], rate: float) -> npt.NDArray[np.float32]:
    if rate == SAMPLE_RATE or block.size == 0:
        return block
    n_out = max(1, round(block.size * SAMPLE_RATE / rate))
    x_out = np.linspace(0, block.size - 1, n_out)
    return np.interp(x_out, np.arange(block.size), block).astype(np.float32)


class Capture:
    """One recording: open the device, collect audio until the end-pointer, `stop()` or `abort()`.

    `run()` blocks (call it on a thread of its own); `stop()` and `abort()` may be called from any
    thread. `on_event` is called from the capturing thread with each end-pointer event but the
    ending one (speech, pause, resume); `snapshot()` there gives the audio so far.
    """

    def __init__(
        self,
        device: str | int | None,
        *,
        silence_seconds: float,
        max_seconds: float,
        no_speech_seconds: float = 10.0,
        vad_enabled: bool = True,
        endpointer: Endpointer | None = None,
    ) -> None:
        self.device = _device_arg(device)
        self.vad = endpointer or Endpointer(
            SAMPLE_RATE,
            # Without the end-pointer only stop, abort and maxSeconds end the capture.
            silence_seconds=silence_seconds if vad_enabled else max_seconds + 1.0,
            max_seconds=max_seconds,
            no_speech_seconds=no_speech_seconds if vad_enabled else max_seconds,
        )
        self.vad_enabled = vad_enabled
        self._blocks: queue.Queue[npt.NDArray[np.float32]] = queue.Queue()
        self._chunks: list[npt.NDArray[np.float32]] = []
        self._ended = threading.Event()
        self._end_reason: EndReason | None = None
        self.overflows = 0

    def stop(self) -> None:
        """End capture and keep the audio (push-to-talk released)."""
        self._end(EndReason.STOP)

    def abort(self) -> None:
        """End capture and drop the audio."""
        self._end(EndReason.ABORT)

    def _end(self, reason: EndReason) -> None:
        if self._end_reason is None:
            self._end_reason = reason
        self._ended.set()

    def snapshot(self) -> npt.NDArray[np.float32]:
        """The audio recorded so far (call from the capturing thread, e.g. in `on_event`)."""
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0].copy() if self._chunks else np.zeros(0, dtype=np.float32)

    def _open(self, sd: ModuleType) -> tuple[Any, float]:
        def callback(indata: Any, frames: int, time_info: Any, status: Any) -> None:
            if status and status.input_overflow:
                self.overflows += 1
            self._blocks.put(np.array(indata[:, 0], dtype=np.float32, copy=True))

        def stream(rate: float) -> Any:
            return sd.InputStream(
                device=self.device,
                channels=1,
                samplerate=rate,
                dtype="float32",
                blocksize=int(rate * BLOCK_SECONDS),
                callback=callback,
            )

        try:
            default_input = sd.default.device[0] if self.device is None else self.device
            if default_input is None or default_input == -1:
                raise NoInputDevice("the system has no default input device")
            try:
                s = stream(SAMPLE_RATE)
                rate = float(SAMPLE_RATE)
            except sd.PortAudioError as exc:
                if "sample rate" not in str(exc).lower():
                    raise
                # The device cannot do 16 kHz itself: record at its own rate and resample.
                rate = float(sd.query_devices(self.device, "input")["default_samplerate"])
                s = stream(rate)
            s.start()
            return s, rate
        except NoInputDevice:
            raise
        except (sd.PortAudioError, ValueError) as exc:
            available = input_devices(sd)
            if not available:
                raise NoInputDevice(str(exc)) from exc
            raise InputDeviceError(self.device, str(exc), available) from exc

    def run(
        self,
        on_event: Callable[[VadEvent], None] | None = None,
        on_open: Callable[[], None] | None = None,
    ) -> CaptureResult:
        """Record until the end; raises VoiceError when the device cannot be opened.

        `on_open` is called once the device records, `on_event` with the end-pointer's events.
        """
        sd = import_sounddevice()
        stream, rate = self._open(sd)
        if on_open is not None:
            on_open()
        speech_end: float | None = None
        # The end-pointer counts samples; a device that stops delivering them must not stall.
        deadline = time.monotonic() + self.vad.max_samples / SAMPLE_RATE + 2.0
        try:
            while not self._ended.is_set():
                if time.monotonic() > deadline:
                    self._end(EndReason.MAX)
                    break
                try:
                    block = self._blocks.get(timeout=0.1)
                except queue.Empty:
                    if not stream.active:
                        self._end(EndReason.DEVICE_LOST)
                    continue
                arrived = time.monotonic()
                block = _resample(block, rate)
                self._chunks.append(block)
                before = self.vad.speech_end_sample
                events = self.vad.feed(block)
                if self.vad.speech_end_sample != before:
                    speech_end = arrived
                for event in events:
                    if event in ENDING:
                        self._end(EndReason(event.value))
                    elif on_event is not None:
                        on_event(event)
        finally:
            try:
                stream.stop()
                stream.close()
            except Exception:
                pass
        # Blocks that arrived between the end and the stream closing belong to the utterance.
        while not self._blocks.empty():
            self._chunks.append(_resample(self._blocks.get_nowait(), rate))
        audio = self.snapshot()
        return CaptureResult(
            audio=audio,
            reason=self._end_reason or EndReason.STOP,
            speech_detected=self.vad.speech_started,
            speech_end_monotonic=speech_end,
            speech_end_sample=self.vad.speech_end_sample,
        )
