"""Real speech (espeak-ng) transcribed by Whisper tiny.en (int8, temperature 0) into commands."""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.voice.audio import PHRASES
from typilot_lsp.voice_agent.errors import AudioFileError, ModelError
from typilot_lsp.voice_agent.grammar import parse
from typilot_lsp.voice_agent.transcribe import Transcriber, read_wav, resolve_model

CLI = [sys.executable, "-m", "typilot_lsp"]


@pytest.fixture(scope="module")
def transcriber(tiny_en: str) -> Transcriber:
    return Transcriber(tiny_en, compute_type="int8")


@pytest.mark.parametrize("phrase", list(PHRASES))
def test_spoken_commands_are_recognised(
    transcriber: Transcriber, phrases: dict[str, Path], phrase: str
) -> None:
    transcript = transcriber.transcribe(read_wav(phrases[phrase]))
    parsed = parse(transcript.text)
    assert parsed.command == PHRASES[phrase], transcript.text
    assert transcript.audio_seconds > 0.5
    if parsed.command == "gen":
        assert "function" in parsed.instruction.lower()
        assert "numbers" in parsed.instruction.lower()
    if parsed.command == "fix":
        assert "error" in parsed.instruction.lower()


def test_silence_transcribes_to_no_command(transcriber: Transcriber) -> None:
    """Silence and a quiet microphone's hiss give no text, so no command: left to itself Whisper
    writes "." for silence and a word ("and": a gen: run) for hiss."""
    hiss = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.01
    quiet = {f"{n / 16000:g} s of silence": np.zeros(n, dtype=np.float32) for n in (8000, 48000)}
    for what, audio in {**quiet, "1 s of hiss": hiss}.items():
        transcript = transcriber.transcribe(audio)
        assert transcript.text == "", (what, transcript.text)
        assert parse(transcript.text).command is None, what
    assert transcriber.transcribe(np.zeros(100, dtype=np.float32)).text == ""


def test_transcribe_cli_prints_one_json_object(tiny_en: str, phrases: dict[str, Path]) -> None:
    wav = phrases["fix the off by one error"]
    done = subprocess.run(
        [*CLI, "transcribe", str(wav), "--model", tiny_en], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert set(result) == {"text", "command", "instruction"}
    assert result["command"] == "fix"
    assert "fix" in result["text"].lower()


def test_transcribe_cli_missing_model_folder_names_the_fix(
    tmp_path: Path, phrases: dict[str, Path]
) -> None:
    wav = phrases["cancel"]
    done = subprocess.run(
        [*CLI, "transcribe", str(wav), "--model", str(tmp_path / "no-model")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert "does not exist" in done.stderr
    assert "typilot.voice.model" in done.stderr


def test_transcribe_cli_model_not_downloadable_offline(
    tmp_path: Path, phrases: dict[str, Path]
) -> None:
    """A model name that is not cached, with downloads impossible: say how to get it."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "server"),
    }
    done = subprocess.run(
        [*CLI, "transcribe", str(phrases["cancel"]), "--model", "base.en"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 1
    assert "not downloaded yet" in done.stderr
    assert "typilot-lsp voice --download-model base.en" in done.stderr
    assert "local CTranslate2 Whisper model folder" in done.stderr


def test_named_model_is_never_downloaded_by_itself(tmp_path: Path) -> None:
    """Downloads are off even without HF_HUB_OFFLINE: only --download-model fetches a model."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "HF_HOME": str(tmp_path / "hf"),
        # Were a download attempted, it would go here (a closed loopback port) and say so.
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "server"),
    }
    silence = tmp_path / "silence.wav"
    with wave.open(str(silence), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\0\0" * 16000)
    done = subprocess.run(
        [*CLI, "transcribe", str(silence), "--model", "base.en"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 1
    assert "never downloads anything by itself" in done.stderr
    fetch = subprocess.run(
        [*CLI, "voice", "--download-model", "base.en"], capture_output=True, text=True, env=env
    )
    assert fetch.returncode == 1
    assert "could not be downloaded" in fetch.stderr


def test_model_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"no model\.bin"):
        resolve_model(str(tmp_path / "empty"))
    with pytest.raises(ModelError, match=r"unknown voice model .tiny-en.*tiny\.en"):
        resolve_model("tiny-en")
    with pytest.raises(ModelError, match="empty"):
        resolve_model(" ")


def test_read_wav_converts_to_16k_mono(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    frames = (np.tile(np.array([[1000, -1000]], dtype="<i2"), (44100, 1))).tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(frames)
    audio = read_wav(path)
    assert audio.dtype == np.float32
    assert audio.size == 16000
    assert np.allclose(audio, 0.0)  # the two channels cancel out
    (tmp_path / "bad.wav").write_bytes(b"not a wav")
    with pytest.raises(AudioFileError, match="not a PCM WAV"):
        read_wav(tmp_path / "bad.wav")
    with pytest.raises(AudioFileError, match="no such file"):
        read_wav(tmp_path / "missing.wav")
