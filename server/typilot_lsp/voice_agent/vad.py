"""End-pointing: a speech/non-speech model decides when an utterance starts, pauses and ends.

`SileroVad` runs the Silero VAD model that faster-whisper ships (an ONNX file inside the
faster_whisper package, run by onnxruntime: nothing is downloaded) on a stream, one 32 ms window at
a time, carrying the model's state from window to window. A window costs about 0.1 ms of CPU.

`Endpointer` turns the speech probabilities into decisions:

* speech starts after `min_speech_seconds` of windows at or above `threshold` (a click or a
  cough is not speech);
* once speech has started, a window counts as speech down to `neg_threshold` (hysteresis: the
  model's probability falls slowly at a word's soft end and rises over a window or two when
  speech resumes); windows below it are a pause;
* a pause of `pause_seconds` is reported (`PAUSE`): the sidecar transcribes what was said so far
  while the user may still go on;
* speech again is `RESUME` (that early transcript is stale);
* a pause of `silence_seconds` (the hang-over) ends the utterance (`SILENCE`); so a pause
  shorter than it, e.g. 0.5 s in the middle of a sentence, does not.

Capture also ends at `max_seconds`, and after `no_speech_seconds` when nothing was said at all (a
muted or wrong microphone), so a forgotten push-to-talk never records forever.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["WINDOW", "Endpointer", "SileroVad", "VadEvent"]

WINDOW = 512
"""Samples per model window at 16 kHz (32 ms)."""
_CONTEXT = 64


class VadEvent(str, enum.Enum):
    SPEECH = "speech"
    """Speech started (once per utterance)."""
    PAUSE = "pause"
    """`pause_seconds` of non-speech after speech: transcribe what was said so far."""
    RESUME = "resume"
    """Speech again after a pause."""
    SILENCE = "silence"
    """The hang-over passed: the utterance has ended."""
    MAX = "max"
    NO_SPEECH = "no-speech"


ENDING = frozenset((VadEvent.SILENCE, VadEvent.MAX, VadEvent.NO_SPEECH))


def _silero_session() -> Any:
    # The whole package first, under the sidecar's one import lock (see _import_faster_whisper).
    from typilot_lsp.voice_agent.transcribe import _import_faster_whisper

    _import_faster_whisper()
    from faster_whisper.vad import get_vad_model

    return get_vad_model().session


class SileroVad:
    """Speech probability of each 32 ms window of a 16 kHz stream (state kept across calls)."""

    def __init__(self, session: Any = None) -> None:
        # One ONNX session per process (faster-whisper caches it); onnxruntime sessions may be
        # run from several threads, and the recurrent state lives here, per stream.
        self._session = session if session is not None else _silero_session()
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, _CONTEXT), dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def __call__(self, samples: npt.NDArray[np.float32]) -> list[float]:
        """Add samples; return the probabilities of the windows they completed."""
        data = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32).ravel()])
        usable = (data.size // WINDOW) * WINDOW
        self._pending = data[usable:]
        probs: list[float] = []
        for start in range(0, usable, WINDOW):
            window = data[start : start + WINDOW].reshape(1, WINDOW)
            out, h, c = self._session.run(
                None,
                {
                    "input": np.concatenate([self._context, window], axis=1),
                    "h": self._h,
                    "c": self._c,
                },
            )
            # Copies: the state must not share memory with anything onnxruntime may reuse.
            self._h, self._c = np.array(h, dtype=np.float32), np.array(c, dtype=np.float32)
            self._context = window[:, -_CONTEXT:].copy()
            probs.append(float(np.asarray(out).ravel()[0]))
        return probs


class Endpointer:
    """Feed audio with :meth:`feed`; it returns what happened, the ending event last."""

    def __init__(
        self,
        sample_rate: int = 16000,
        *,
        silence_seconds: float = 0.6,
        max_seconds: float = 30.0,
        no_speech_seconds: float = 10.0,
        pause_seconds: float = 0.15,
        min_speech_seconds: float = 0.09,
        threshold: float = 0.5,
        neg_threshold: float = 0.35,
        probabilities: Callable[[npt.NDArray[np.float32]], list[float]] | None = None,
    ) -> None:
        if sample_rate != 16000:
            raise ValueError("the end-pointer works on 16 kHz audio")
        window_s = WINDOW / sample_rate
        self.probabilities = probabilities if probabilities is not None else SileroVad()
        self.silence_windows = max(1, round(silence_seconds / window_s))
        self.pause_windows = max(1, min(round(pause_seconds / window_s), self.silence_windows))
        self.min_speech_windows = max(1, round(min_speech_seconds / window_s))
        self.max_samples = round(max_seconds * sample_rate)
        self.no_speech_samples = round(min(no_speech_seconds, max_seconds) * sample_rate)
        self.threshold = threshold
        self.neg_threshold = neg_threshold
        self.samples = 0
        """Samples fed so far."""
        self.windows = 0
        self.speech_started = False
        self.speech_end_sample: int | None = None
        """Sample offset just after the last speech window (None before any speech)."""
        self.paused = False
        self._speech_run = 0
        self._silence_run = 0
        self._ended = False

    def feed(self, samples: npt.NDArray[np.float32]) -> list[VadEvent]:
        """Add samples; the events they caused, in order (an ending event is the last)."""
        samples = np.asarray(samples, dtype=np.float32).ravel()
        events: list[VadEvent] = []
        if self._ended:
            return events
        self.samples += samples.size
        for prob in self.probabilities(samples):
            self.windows += 1
            events.extend(self._window(prob))
            if events and events[-1] in ENDING:
                self._ended = True
                return events
        if not self.speech_started and self.samples >= self.no_speech_samples:
            self._ended = True
            events.append(VadEvent.NO_SPEECH)
        elif self.samples >= self.max_samples:
            self._ended = True
            events.append(VadEvent.MAX if self.speech_started else VadEvent.NO_SPEECH)
        return events

    def _window(self, prob: float) -> list[VadEvent]:
        end = self.windows * WINDOW
        if prob >= self.threshold or (self.speech_started and prob >= self.neg_threshold):
            self._speech_run += 1
            self._silence_run = 0
            events = []
            if not self.speech_started and self._speech_run >= self.min_speech_windows:
                self.speech_started = True
                events.append(VadEvent.SPEECH)
            if self.speech_started:
                self.speech_end_sample = end
                if self.paused:
                    self.paused = False
                    events.append(VadEvent.RESUME)
            return events
        self._speech_run = 0
        if not self.speech_started:
            return []
        self._silence_run += 1
        if self._silence_run == self.pause_windows and not self.paused:
            self.paused = True
            if self._silence_run >= self.silence_windows:
                return [VadEvent.PAUSE, VadEvent.SILENCE]
            return [VadEvent.PAUSE]
        if self._silence_run >= self.silence_windows:
            return [VadEvent.SILENCE]
        return []
