"""The energy VAD that ends a recording: fed real-shaped signals, no audio device needed."""

from __future__ import annotations

import numpy as np
import pytest

from typilot_lsp.voice_agent.vad import EnergyVad, rms_db

RATE = 16000


def tone(seconds: float, amplitude: float = 0.3, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(seconds: float, level: float = 0.002, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (level * rng.standard_normal(int(seconds * RATE))).astype(np.float32)


def feed_in_blocks(vad: EnergyVad, audio: np.ndarray, block: int) -> tuple[str | None, int]:
    """Feed `audio` in blocks; return the end reason and the samples fed until it."""
    fed = 0
    for start in range(0, audio.size, block):
        chunk = audio[start : start + block]
        fed += chunk.size
        reason = vad.feed(chunk)
        if reason is not None:
            return reason, fed
    return None, fed


def test_rms_db() -> None:
    assert rms_db(np.zeros(480, dtype=np.float32)) == float("-inf")
    assert rms_db(np.ones(480, dtype=np.float32)) == pytest.approx(0.0)
    assert rms_db(tone(0.1, amplitude=0.5)) == pytest.approx(-9.03, abs=0.1)


@pytest.mark.parametrize("block", [160, 480, 1000, 4096])
def test_speech_then_silence_ends_after_silence_seconds(block: int) -> None:
    vad = EnergyVad(RATE, silence_seconds=0.8, max_seconds=30)
    audio = np.concatenate([noise(0.5), tone(1.0) + noise(1.0), noise(3.0)])
    reason, fed = feed_in_blocks(vad, audio, block)
    assert reason == "silence"
    assert vad.speech_started
    # Speech ended at 1.5 s; capture ends 0.8 s of silence later (to a frame and a block).
    assert vad.speech_end_sample is not None
    assert abs(vad.speech_end_sample / RATE - 1.5) <= 0.03
    assert 2.3 - 0.03 <= fed / RATE <= 2.3 + 0.03 + block / RATE


def test_pauses_shorter_than_silence_seconds_do_not_end_it() -> None:
    vad = EnergyVad(RATE, silence_seconds=1.0, max_seconds=30)
    audio = np.concatenate([tone(0.6), noise(0.7), tone(0.6), noise(2.0)])
    reason, _fed = feed_in_blocks(vad, audio, 480)
    assert reason == "silence"
    assert abs(vad.speech_end_sample / RATE - 1.9) <= 0.03  # the end of the second word


def test_max_seconds_ends_endless_speech() -> None:
    vad = EnergyVad(RATE, silence_seconds=1.0, max_seconds=2.0)
    reason, fed = feed_in_blocks(vad, tone(5.0), 480)
    assert reason == "max"
    assert fed / RATE == pytest.approx(2.0, abs=0.03)


def test_no_speech_ends_a_silent_recording() -> None:
    vad = EnergyVad(RATE, silence_seconds=1.0, max_seconds=30, no_speech_seconds=3.0)
    reason, fed = feed_in_blocks(vad, noise(10.0), 480)
    assert reason == "no-speech"
    assert not vad.speech_started
    assert fed / RATE == pytest.approx(3.0, abs=0.03)


def test_digital_silence_is_no_speech() -> None:
    vad = EnergyVad(RATE, max_seconds=30, no_speech_seconds=1.0)
    reason, _ = feed_in_blocks(vad, np.zeros(RATE * 2, dtype=np.float32), 480)
    assert reason == "no-speech"


def test_a_click_is_not_speech() -> None:
    vad = EnergyVad(RATE, silence_seconds=0.5, max_seconds=30, no_speech_seconds=2.0)
    audio = np.concatenate([noise(0.5), tone(0.03, amplitude=0.9), noise(3.0)])
    reason, _ = feed_in_blocks(vad, audio, 480)
    assert reason == "no-speech"


def test_threshold_follows_a_noisy_room() -> None:
    # A loud but steady background (fan, hum) raises the threshold; speech above it still counts.
    vad = EnergyVad(RATE, silence_seconds=0.6, max_seconds=30, no_speech_seconds=5.0)
    room = 0.03
    audio = np.concatenate(
        [noise(1.0, room), tone(0.8, amplitude=0.4) + noise(0.8, room, 2), noise(2.0, room, 3)]
    )
    reason, _ = feed_in_blocks(vad, audio, 480)
    assert reason == "silence"
    assert vad.threshold_db > -50
    assert abs(vad.speech_end_sample / RATE - 1.8) <= 0.03


def test_speech_from_the_first_moment_is_still_heard() -> None:
    # The user talks before the room could be measured: speech must not become the noise floor.
    vad = EnergyVad(RATE, silence_seconds=0.6, max_seconds=30, no_speech_seconds=5.0)
    audio = np.concatenate([tone(1.2, amplitude=0.2), noise(2.0)])
    reason, _ = feed_in_blocks(vad, audio, 480)
    assert reason == "silence"
    assert abs(vad.speech_end_sample / RATE - 1.2) <= 0.03


def test_max_seconds_without_speech_is_no_speech() -> None:
    vad = EnergyVad(RATE, silence_seconds=1.0, max_seconds=2.0, no_speech_seconds=10.0)
    reason, fed = feed_in_blocks(vad, noise(5.0), 480)
    assert reason == "no-speech"
    assert fed / RATE == pytest.approx(2.0, abs=0.03)
