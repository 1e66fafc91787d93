"""Fixtures for the voice tests: spoken phrases, the tiny.en model, a private PulseAudio."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import prerequisites
from tests.voice.audio import PHRASES, PulseNullSink, require_model, speak


@pytest.fixture(scope="session")
def tiny_en() -> str:
    return require_model()


@pytest.fixture(scope="session")
def phrases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each phrase of PHRASES spoken into a WAV file."""
    prerequisites.require_tools("espeak-ng", "sox")
    root = tmp_path_factory.mktemp("speech")
    return {text: speak(text, root / (text.replace(" ", "_") + ".wav")) for text in PHRASES}


@pytest.fixture(scope="session")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseNullSink]:
    prerequisites.require_tools("pulseaudio", "pactl", "paplay")
    sink = PulseNullSink(tmp_path_factory.mktemp("pulse")).start()
    try:
        yield sink
    finally:
        sink.stop()
