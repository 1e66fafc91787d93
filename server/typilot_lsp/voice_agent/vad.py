"""A small energy voice-activity detector that decides when an utterance has ended.

Frames of 30 ms are voiced when their RMS level is above both an absolute floor and the
background noise plus a margin; the noise floor is measured on the first 150 ms and then follows
the quietest frames. Speech has started after `min_speech_seconds` of voiced
frames; it has ended after `silence_seconds` of unvoiced frames following speech. Capture also
ends at `max_seconds`, and after `no_speech_seconds` when nothing was said at all (a muted or wrong
microphone), so a forgotten push-to-talk never records forever.

Only numpy: the detector is fed plain float32 arrays and is tested without audio hardware.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["EnergyVad", "rms_db"]


def rms_db(frame: npt.NDArray[np.float32]) -> float:
    """RMS level of samples in [-1, 1], in dBFS (-inf for digital silence)."""
    if frame.size == 0:
        return -math.inf
    power = float(np.mean(np.square(frame, dtype=np.float64)))
    return 10.0 * math.log10(power) if power > 0 else -math.inf


class EnergyVad:
    """Feed audio with :meth:`feed`; it returns why capture should end, or None to go on."""

    def __init__(
        self,
        sample_rate: int = 16000,
        *,
        silence_seconds: float = 1.2,
        max_seconds: float = 30.0,
        no_speech_seconds: float = 10.0,
        min_speech_seconds: float = 0.12,
        floor_db: float = -50.0,
        margin_db: float = 12.0,
        frame_ms: int = 30,
        calibration_seconds: float = 0.15,
        max_noise_db: float = -35.0,
    ) -> None:
        self.sample_rate = sample_rate
        self.frame = max(1, sample_rate * frame_ms // 1000)
        self.silence_frames = max(1, round(silence_seconds * sample_rate / self.frame))
        self.max_samples = round(max_seconds * sample_rate)
        self.no_speech_samples = round(min(no_speech_seconds, max_seconds) * sample_rate)
        self.min_speech_frames = max(1, round(min_speech_seconds * sample_rate / self.frame))
        self.floor_db = floor_db
        self.margin_db = margin_db
        self.max_noise_db = max_noise_db
        self.noise_db: float | None = None
        self.samples = 0
        self.speech_started = False
        self.voiced_run = 0
        self.silent_run = 0
        self.speech_end_sample: int | None = None
        """Sample offset just after the last voiced frame (None before any speech)."""
        self._pending = np.zeros(0, dtype=np.float32)
        self._calibration_left = max(1, round(calibration_seconds * sample_rate / self.frame))

    @property
    def threshold_db(self) -> float:
        if self.noise_db is None:
            return self.floor_db
        return max(self.floor_db, self.noise_db + self.margin_db)

    def _voiced(self, level: float) -> bool:
        if self._calibration_left > 0:
            # The first frames measure the room: the quietest of them is the noise floor. They
            # are never speech (people start talking a moment after pressing the key).
            self._calibration_left -= 1
            self.noise_db = level if self.noise_db is None else min(self.noise_db, level)
            # Someone who talks from the first moment must not be measured as the room.
            self.noise_db = min(self.noise_db, self.max_noise_db)
            return False
        voiced = level > self.threshold_db
        if self.noise_db is None or level < self.noise_db:
            self.noise_db = level
        elif not voiced:
            self.noise_db += 0.05 * (level - self.noise_db)
        else:
            # A background that got louder for good (a fan starting) must not pass for
            # endless speech: the floor creeps up (1.7 dB/s) while frames stay voiced.
            self.noise_db += 0.05
        return voiced

    def feed(self, samples: npt.NDArray[np.float32]) -> str | None:
        """Add samples; return "silence", "max" or "no-speech" once capture should end."""
        data = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32).ravel()])
        usable = (data.size // self.frame) * self.frame
        self._pending = data[usable:]
        for start in range(0, usable, self.frame):
            frame = data[start : start + self.frame]
            self.samples += self.frame
            if self._voiced(rms_db(frame)):
                self.voiced_run += 1
                self.silent_run = 0
                if self.voiced_run >= self.min_speech_frames:
                    self.speech_started = True
                if self.speech_started:
                    self.speech_end_sample = self.samples
            else:
                self.voiced_run = 0
                self.silent_run += 1
                if self.speech_started and self.silent_run >= self.silence_frames:
                    return "silence"
            if not self.speech_started and self.samples >= self.no_speech_samples:
                return "no-speech"
            if self.samples >= self.max_samples:
                return "max"
        return None
