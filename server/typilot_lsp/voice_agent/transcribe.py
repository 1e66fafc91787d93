"""Speech to text with faster-whisper, and the `typilot-lsp transcribe FILE.wav` command.

The model is loaded once (`Transcriber`) and kept warm by the sidecar. `voice.model` is a
faster-whisper model name (downloaded once into the Hugging Face cache; a cached copy is used
without any network access) or a local CTranslate2 model folder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import wave
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from typilot_lsp.voice_agent.errors import AudioFileError, ModelError, VoiceDependencyMissing
from typilot_lsp.voice_agent.grammar import ParsedCommand, parse

__all__ = ["INITIAL_PROMPT", "Transcriber", "Transcript", "main", "read_wav", "resolve_model"]

SAMPLE_RATE = 16000
ENCODER_STEP_SECONDS = 10.0
"""The encoder window grows in steps of this much (measured: 10 s keeps tiny.en's words)."""
SHORT_AUDIO_SECONDS = 29.0
"""Longer audio goes through faster-whisper's own 30 s segmentation."""

# Biases the decoder towards the command words; without it tiny.en hears "summarize this
# function" as "So I'm gonna write this function" and "cancel" as "Can't go".
INITIAL_PROMPT = (
    "Voice commands for a code editor: generate code, fix a bug, summarize a function, cancel."
)


@attrs.frozen
class Transcript:
    text: str
    audio_seconds: float
    transcribe_seconds: float

    @property
    def real_time_factor(self) -> float:
        return self.transcribe_seconds / self.audio_seconds if self.audio_seconds else 0.0


_IMPORT_LOCK = threading.Lock()


def _import_faster_whisper() -> Any:
    """faster_whisper, imported once for every thread of the sidecar.

    The model loads on one thread while the end-pointer's Silero model loads on another; two
    threads importing `faster_whisper` and `faster_whisper.vad` at once can deadlock on the
    package's import locks (Python raises `_DeadlockError`), so every import goes through here.
    """
    # Hugging Face telemetry off: the only network access voice may make is the model download.
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    with _IMPORT_LOCK:
        try:
            import faster_whisper
        except ModuleNotFoundError as exc:
            raise VoiceDependencyMissing("faster-whisper", str(exc)) from exc
    return faster_whisper


def _looks_like_path(model: str) -> bool:
    # "Systran/faster-whisper-tiny.en" is a Hugging Face repo id, "./models/tiny" a folder.
    return model.startswith((".", "/", "~")) or model.count("/") > 1 or "\\" in model


def resolve_model(model: str, *, allow_download: bool = False) -> str:
    """A local folder for `model` (a name or a path).

    A named model comes from the Hugging Face cache. Typilot never downloads by itself
    (nothing leaves the machine unless you ask): `allow_download` is set only by the explicit
    `typilot-lsp voice --download-model NAME`.
    """
    if not model.strip():
        raise ModelError(
            "`typilot.voice.model` is empty: set it to a model name such as tiny.en, or to a "
            "local CTranslate2 Whisper model folder"
        )
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "model.bin").is_file():
            raise ModelError(
                f"voice model folder {path} has no model.bin, so it is not a CTranslate2 Whisper "
                "model: point `typilot.voice.model` at a converted model folder (see "
                "`ct2-transformers-converter`), or use a model name such as tiny.en"
            )
        return str(path)
    if _looks_like_path(model):
        raise ModelError(
            f"voice model folder {path} does not exist: fix `typilot.voice.model`, or use a "
            "model name such as tiny.en (downloaded once)"
        )
    _import_faster_whisper()
    from faster_whisper.utils import available_models, download_model

    if "/" not in model and model not in available_models():
        raise ModelError(
            f"unknown voice model {model!r}: set `typilot.voice.model` to one of "
            f"{', '.join(available_models())}, a Hugging Face repo id, or a local model folder"
        )
    try:
        return str(download_model(model, local_files_only=True))
    except Exception:
        pass  # not in the cache yet
    if not allow_download:
        raise ModelError(
            f"voice model {model} is not downloaded yet, and Typilot never downloads anything "
            f"by itself: run `typilot-lsp voice --download-model {model}` once (it fetches the "
            "model weights from huggingface.co, nothing else), or set `typilot.voice.model` to "
            "a local CTranslate2 Whisper model folder"
        )
    try:
        return str(download_model(model))
    except Exception as exc:
        raise ModelError(
            f"voice model {model} could not be downloaded "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}): "
            "connect to the internet for the download (unset HF_HUB_OFFLINE), or set "
            "`typilot.voice.model` to a local CTranslate2 Whisper model folder"
        ) from exc


class Transcriber:
    """A faster-whisper model loaded once, on CPU."""

    def __init__(
        self,
        model: str = "tiny.en",
        *,
        compute_type: str = "int8",
        language: str | None = "en",
        cpu_threads: int = 0,
    ) -> None:
        fw = _import_faster_whisper()
        self.model_name = model
        self.compute_type = compute_type
        self.language = language or None
        self.path = resolve_model(model)
        started = time.monotonic()
        try:
            self._model = fw.WhisperModel(
                self.path, device="cpu", compute_type=compute_type, cpu_threads=cpu_threads
            )
        except ValueError as exc:
            raise ModelError(
                f"cannot load voice model {model} with compute type {compute_type!r} ({exc}): "
                "set `typilot.voice.computeType` to int8 (the default), int8_float32 or float32"
            ) from exc
        except RuntimeError as exc:
            raise ModelError(
                f"cannot load voice model {model} from {self.path} ({exc}): the folder may be "
                "incomplete or not a Whisper model; delete it so it is downloaded again, or set "
                "`typilot.voice.model` to another model"
            ) from exc
        self.load_seconds = time.monotonic() - started
        self._english_only = bool(getattr(self._model.model, "is_multilingual", True) is False)
        self._tokenizer: Any = None
        self._suppress: list[int] = []
        self._prompt: list[int] = []

    def warm_up(self) -> None:
        """Run the model once on a second of silence, so the first command is not the slow one."""
        self.transcribe(np.zeros(SAMPLE_RATE, dtype=np.float32))

    def transcribe(self, audio: npt.NDArray[np.float32]) -> Transcript:
        """Text of 16 kHz mono float32 audio (greedy decoding at temperature 0, no timestamps)."""
        started = time.monotonic()
        seconds = audio.size / SAMPLE_RATE
        if audio.size < SAMPLE_RATE // 10:
            return Transcript("", seconds, 0.0)
        language = "en" if self._english_only else self.language
        if language and seconds <= SHORT_AUDIO_SECONDS:
            text = self._transcribe_short(audio, language)
        else:
            segments, _info = self._model.transcribe(
                audio,
                language=language,
                temperature=0.0,
                beam_size=1,
                condition_on_previous_text=False,
                without_timestamps=True,
                vad_filter=False,
                initial_prompt=INITIAL_PROMPT,
            )
            text = "".join(segment.text for segment in segments).strip()
        return Transcript(text, seconds, time.monotonic() - started)

    def _transcribe_short(self, audio: npt.NDArray[np.float32], language: str) -> str:
        """One encoder pass over no more padding than needed, then one greedy decode.

        faster-whisper pads every segment to Whisper's 30 s window; the encoder, which costs most
        of the time, then runs over mostly silence. CTranslate2 accepts a shorter window: this
        pads only to the next multiple of `ENCODER_STEP_SECONDS` (at least that much; shorter
        windows make tiny.en repeat itself), about 5x faster for a spoken command.
        """
        import ctranslate2
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        model = self._model
        if self._tokenizer is None or self._tokenizer.language_code != language:
            self._tokenizer = Tokenizer(
                model.hf_tokenizer,
                model.model.is_multilingual,
                task="transcribe",
                language=language,
            )
            self._suppress = list(get_suppressed_tokens(self._tokenizer, [-1]) or ())
            self._prompt = [
                self._tokenizer.sot_prev,
                *self._tokenizer.encode(" " + INITIAL_PROMPT.strip()),
                *self._tokenizer.sot_sequence,
                self._tokenizer.no_timestamps,
            ]
        tokenizer = self._tokenizer
        features = model.feature_extractor(audio)
        frames = encoder_frames(features.shape[-1])
        if features.shape[-1] < frames:
            features = np.pad(features, ((0, 0), (0, frames - features.shape[-1])))
        else:
            features = features[:, :frames]
        encoded = model.model.encode(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None], np.float32)),
            to_cpu=False,
        )
        # About three tokens a second are spoken; the cap stops a run-away repetition early.
        max_new = 24 + int(8 * audio.size / SAMPLE_RATE)
        result = model.model.generate(
            encoded,
            [self._prompt],
            beam_size=1,
            max_length=min(len(self._prompt) + max_new, model.max_length),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self._suppress,
        )[0]
        tokens = result.sequences_ids[0]
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        # Whisper's own test for "no speech here" (faster-whisper's defaults).
        if result.no_speech_prob > 0.6 and avg_logprob < -1.0:
            return ""
        return str(tokenizer.decode(tokens)).strip()


def encoder_frames(feature_frames: int) -> int:
    """Mel frames (100 a second) of the encoder window for `feature_frames` of audio."""
    step = round(ENCODER_STEP_SECONDS * 100)
    return min(3000, max(step, -(-feature_frames // step) * step))


def read_wav(path: str | os.PathLike[str]) -> npt.NDArray[np.float32]:
    """A PCM WAV file as 16 kHz mono float32 (channels averaged, other rates resampled)."""
    name = str(path)
    if not Path(name).is_file():
        raise AudioFileError(name, "no such file")
    try:
        with wave.open(name, "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioFileError(name, f"not a PCM WAV file: {exc}") from exc
    if width == 2:
        data = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 4:
        data = np.frombuffer(raw, dtype="<i4").astype(np.float32) / 2147483648.0
    elif width == 1:
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    else:
        raise AudioFileError(name, f"unsupported sample width of {width} bytes")
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1)
    if rate != SAMPLE_RATE and data.size:
        n_out = max(1, round(data.size * SAMPLE_RATE / rate))
        data = np.interp(np.linspace(0, data.size - 1, n_out), np.arange(data.size), data).astype(
            np.float32
        )
    return data.astype(np.float32, copy=False)


def main(args: argparse.Namespace) -> int:
    """`typilot-lsp transcribe FILE.wav [--model NAME|PATH]`: one JSON object on stdout."""
    from typilot_lsp.voice_agent.errors import VoiceError

    model = args.model or "tiny.en"
    try:
        audio = read_wav(args.file)
        transcriber = Transcriber(model, compute_type=getattr(args, "compute_type", "int8"))
        transcript = transcriber.transcribe(audio)
    except VoiceError as exc:
        print(f"typilot-lsp transcribe: {exc}", file=sys.stderr)
        return 1
    parsed: ParsedCommand = parse(transcript.text)
    print(json.dumps(parsed.to_json(), ensure_ascii=False))
    return 0
