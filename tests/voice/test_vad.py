"""The end-pointer: Silero VAD (shipped inside faster-whisper) on real speech, no audio device.

Speech is espeak-ng's; its end in the file is known from the samples themselves (the synthesized
audio is digitally silent around the voice), so the decisions are checked against the truth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from audio import SAMPLE_RATE, read_pcm, sound_span, speak, speak_with_pause

from typilot_lsp.config import VoiceConfig
from typilot_lsp.voice_agent.vad import WINDOW, Endpointer, SileroVad, VadEvent

RATE = SAMPLE_RATE
DEFAULT_SILENCE = VoiceConfig().silence_seconds


def as_float(samples: np.ndarray) -> np.ndarray:
    return (samples.astype(np.float32) / 32768.0).astype(np.float32)


def noise(seconds: float, level: float = 0.002, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (level * rng.standard_normal(int(seconds * RATE))).astype(np.float32)


def feed(vad: Endpointer, audio: np.ndarray, block: int = 480) -> list[tuple[float, VadEvent]]:
    """Feed `audio` in blocks; each event with the audio time (s) it was decided at."""
    events = []
    for start in range(0, audio.size, block):
        for event in vad.feed(audio[start : start + block]):
            events.append((round(vad.samples / RATE, 3), event))
        if events and events[-1][1] in (VadEvent.SILENCE, VadEvent.MAX, VadEvent.NO_SPEECH):
            break
    return events


@pytest.fixture(scope="module")
def command_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vad")
    return speak("generate a function that adds two numbers", root / "gen.wav", pad_end=3.0)


@pytest.fixture(scope="module")
def paused_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vad-pause")
    return speak_with_pause(
        "generate a function that", "adds two numbers", 0.5, root / "paused.wav", pad_end=3.0
    )


def test_streaming_gives_the_model_s_batch_probabilities(command_wav: Path) -> None:
    """Window by window, with the state carried, equals faster-whisper's whole-file run."""
    from faster_whisper.vad import get_vad_model

    audio = as_float(read_pcm(command_wav))
    usable = audio.size // WINDOW * WINDOW
    batch = np.asarray(get_vad_model()(audio[:usable])).ravel()
    vad = SileroVad()
    streamed = [prob for start in range(0, usable, 700) for prob in vad(audio[start : start + 700])]
    streamed += vad(np.zeros(0, dtype=np.float32))
    assert np.allclose(streamed, batch[: len(streamed)], atol=1e-4)
    assert len(streamed) == usable // WINDOW


@pytest.mark.parametrize("block", [160, 480, 512, 4096])
def test_speech_then_silence_ends_after_the_hang_over(command_wav: Path, block: int) -> None:
    samples = read_pcm(command_wav)
    _start, end = sound_span(samples)
    vad = Endpointer(silence_seconds=DEFAULT_SILENCE)
    events = feed(vad, as_float(samples), block)
    kinds = [e for _, e in events]
    assert kinds[0] is VadEvent.SPEECH
    assert kinds[-1] is VadEvent.SILENCE
    assert VadEvent.PAUSE in kinds
    # The end of speech is found to a few windows (a soft final "s" may fall below the model's
    # threshold), and the end decided one hang-over later.
    assert vad.speech_end_sample is not None
    assert abs(vad.speech_end_sample - end) / RATE <= 0.1
    decided = events[-1][0]
    window = WINDOW / RATE  # the hang-over is counted in whole windows
    hang_over = decided - vad.speech_end_sample / RATE
    assert DEFAULT_SILENCE - window <= hang_over <= DEFAULT_SILENCE + window + block / RATE


def test_a_half_second_pause_mid_sentence_does_not_end_the_command(paused_wav: Path) -> None:
    samples = read_pcm(paused_wav)
    _start, end = sound_span(samples)
    vad = Endpointer(silence_seconds=DEFAULT_SILENCE)
    events = feed(vad, as_float(samples))
    kinds = [e for _, e in events]
    # The pause is noticed (and would be transcribed early), then speech resumes...
    assert kinds[:3] == [VadEvent.SPEECH, VadEvent.PAUSE, VadEvent.RESUME], events
    # ...and only the silence after the second half ends the utterance.
    assert kinds[-1] is VadEvent.SILENCE
    assert vad.speech_end_sample is not None
    assert abs(vad.speech_end_sample - end) / RATE <= 0.1


def test_the_pause_comes_early_and_the_end_late(command_wav: Path) -> None:
    samples = read_pcm(command_wav)
    _start, end = sound_span(samples)
    vad = Endpointer(silence_seconds=1.0, pause_seconds=0.15)
    events = dict((e, t) for t, e in feed(vad, as_float(samples)))
    assert events[VadEvent.PAUSE] - end / RATE < 0.35
    assert events[VadEvent.SILENCE] - events[VadEvent.PAUSE] >= 0.8


def test_noise_is_not_speech() -> None:
    vad = Endpointer(silence_seconds=0.6, max_seconds=30, no_speech_seconds=3.0)
    events = feed(vad, noise(10.0, level=0.02))
    assert [e for _, e in events] == [VadEvent.NO_SPEECH]
    assert events[0][0] == pytest.approx(3.0, abs=0.05)
    assert not vad.speech_started


def test_a_click_is_not_speech() -> None:
    vad = Endpointer(silence_seconds=0.5, max_seconds=30, no_speech_seconds=2.0)
    click = np.zeros(int(0.03 * RATE), dtype=np.float32)
    click[::40] = 0.9
    audio = np.concatenate([noise(0.5), click, noise(3.0)])
    assert [e for _, e in feed(vad, audio)] == [VadEvent.NO_SPEECH]


def test_digital_silence_is_no_speech() -> None:
    vad = Endpointer(max_seconds=30, no_speech_seconds=1.0)
    events = feed(vad, np.zeros(RATE * 2, dtype=np.float32))
    assert [e for _, e in events] == [VadEvent.NO_SPEECH]


def test_max_seconds_ends_endless_speech(command_wav: Path) -> None:
    vad = Endpointer(silence_seconds=0.6, max_seconds=2.0)
    events = feed(vad, as_float(read_pcm(command_wav)))
    assert events[-1] == (pytest.approx(2.0, abs=0.03), VadEvent.MAX)


def test_max_seconds_without_speech_is_no_speech() -> None:
    vad = Endpointer(silence_seconds=1.0, max_seconds=2.0, no_speech_seconds=10.0)
    events = feed(vad, noise(5.0))
    assert events == [(pytest.approx(2.0, abs=0.03), VadEvent.NO_SPEECH)]


def scripted(probs: list[float]) -> Endpointer:
    """An end-pointer whose model says `probs`, one window per WINDOW samples fed."""
    queue = list(probs)

    def probabilities(samples: np.ndarray) -> list[float]:
        count = samples.size // WINDOW
        out, queue[:] = queue[:count], queue[count:]
        return out

    window = WINDOW / RATE
    return Endpointer(
        silence_seconds=5 * window,
        pause_seconds=2 * window,
        min_speech_seconds=2 * window,
        probabilities=probabilities,
    )


def run_script(probs: list[float]) -> list[VadEvent]:
    vad = scripted(probs)
    return [e for _ in probs for e in vad.feed(np.zeros(WINDOW, dtype=np.float32))]


def test_one_speech_window_does_not_start_speech() -> None:
    assert run_script([0.9, 0.1, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]) == []


def test_hysteresis_between_the_thresholds() -> None:
    # 0.4 (between neg_threshold and threshold) does not start speech...
    assert run_script([0.4] * 9) == []
    # ...but once it has started, it continues it and resumes it after a pause.
    assert run_script([0.9, 0.9, 0.4, 0.4, 0.1, 0.1, 0.4, 0.1, 0.1, 0.1, 0.1, 0.1]) == [
        VadEvent.SPEECH,
        VadEvent.PAUSE,
        VadEvent.RESUME,
        VadEvent.PAUSE,
        VadEvent.SILENCE,
    ]


def test_pause_resume_pause_end() -> None:
    assert run_script([0.9, 0.9, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.9]) == [
        VadEvent.SPEECH,
        VadEvent.PAUSE,
        VadEvent.RESUME,
        VadEvent.PAUSE,
        VadEvent.SILENCE,
    ]
