"""`typilot-lsp voice`: the voice sidecar. JSON lines in on stdin, JSON lines out on stdout.

The language server starts one sidecar on first use and talks to it with one JSON object per line.
Requests carry an ``op`` and usually an ``id``; every event the sidecar writes carries an ``event``
and the ``id`` of the request it answers.

Requests:
    {"op": "configure", "id": 1, "model": "tiny.en", "computeType": "int8", "language": "en",
     "inputDevice": null, "maxSeconds": 30, "silenceSeconds": 1.2}
        -> {"event": "configured", "id": 1, "model": ..., "path": ..., "loadSeconds": ...}
        (the model is loaded now and kept warm; reloaded only when model or computeType change)
    {"op": "listen", "id": 2, "vad": true}
        -> {"event": "listening"}, {"event": "speech"} when speech starts,
           {"event": "transcribing", "reason": "silence"|"max"|"stop"|"no-speech", "audioSeconds"},
           {"event": "result", "text", "command", "instruction", "audioSeconds",
            "transcribeSeconds", "latencySeconds"}   (latency: end of speech -> result)
        or {"event": "aborted"}
    {"op": "stop", "id": 2}       end the capture of listen 2 and transcribe it (push-to-talk)
    {"op": "abort", "id": 2}      end it and drop the audio
                                  (both are ignored when that capture has already ended)
    {"op": "transcribe", "id": 3, "path": "x.wav"}  -> "transcribing", then "result"
    {"op": "ping", "id": 4}       -> {"event": "pong", "pid": ...}
    {"op": "shutdown"}            exit
Errors: {"event": "error", "id", "code", "message"}; the message names the fix.

At start the sidecar writes {"event": "hello", "pid", "version"}. It exits when stdin closes, so it
never outlives the server that started it.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import IO, Any

import attrs

from typilot_lsp import __version__
from typilot_lsp.voice_agent.errors import VoiceDependencyMissing, VoiceError
from typilot_lsp.voice_agent.grammar import parse

__all__ = ["Sidecar", "VoiceSettings", "main"]


@attrs.frozen
class VoiceSettings:
    model: str = "tiny.en"
    compute_type: str = "int8"
    language: str = "en"
    input_device: str | int | None = None
    max_seconds: float = 30.0
    silence_seconds: float = 1.2
    user_commands: tuple[str, ...] = ()

    @classmethod
    def from_message(cls, msg: dict[str, Any]) -> VoiceSettings:
        default = cls()
        device = msg.get("inputDevice", default.input_device)
        return cls(
            model=str(msg.get("model") or default.model),
            compute_type=str(msg.get("computeType") or default.compute_type),
            language=str(msg.get("language") or default.language),
            input_device=device if isinstance(device, (str, int)) else None,
            max_seconds=float(msg.get("maxSeconds") or default.max_seconds),
            silence_seconds=float(msg.get("silenceSeconds") or default.silence_seconds),
            user_commands=tuple(str(c) for c in msg.get("userCommands") or ()),
        )


class Sidecar:
    """The request loop. Capture runs on a thread per listen; model work on one worker thread."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._out_lock = threading.Lock()
        self.settings = VoiceSettings()
        self._transcriber: Any = None
        self._loaded_key: tuple[str, str] | None = None
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="voice-worker", daemon=True)
        self._worker.start()
        self._capture: Any = None
        self._capture_id: Any = None
        self._capture_lock = threading.Lock()

    # --- output --------------------------------------------------------------------------

    def emit(self, event: str, id: Any = None, **fields: Any) -> None:
        message = {"event": event, "id": id, **fields}
        line = json.dumps(message, ensure_ascii=False)
        with self._out_lock:
            self._out.write(line + "\n")
            self._out.flush()

    def _error(self, id: Any, exc: BaseException) -> None:
        if isinstance(exc, ModuleNotFoundError) and exc.name:
            # numpy, faster-whisper, sounddevice and friends come with the voice extra.
            exc = VoiceDependencyMissing(exc.name.split(".")[0], str(exc))
        if isinstance(exc, VoiceError):
            self.emit("error", id, code=exc.code, message=str(exc))
        else:
            traceback.print_exc(file=sys.stderr)
            self.emit(
                "error",
                id,
                code="internal",
                message=f"the voice sidecar failed ({type(exc).__name__}: {exc}); see the "
                "server log (stderr) for details and report it if it persists",
            )

    # --- model ---------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            job()

    def _ensure_model(self) -> Any:
        """The warm transcriber for the current settings (worker thread only)."""
        from typilot_lsp.voice_agent.transcribe import Transcriber

        key = (self.settings.model, self.settings.compute_type)
        if self._transcriber is None or self._loaded_key != key:
            self._transcriber = None
            self._transcriber = Transcriber(
                self.settings.model,
                compute_type=self.settings.compute_type,
                language=self.settings.language,
            )
            self._loaded_key = key
            # Warm while the user is still speaking (configure comes with the first listen).
            self._transcriber.warm_up()
        self._transcriber.language = self.settings.language or None
        return self._transcriber

    def _configure(self, id: Any) -> None:
        try:
            transcriber = self._ensure_model()
        except Exception as exc:
            self._error(id, exc)
            return
        self.emit(
            "configured",
            id,
            model=self.settings.model,
            path=transcriber.path,
            loadSeconds=round(transcriber.load_seconds, 3),
        )

    def _transcribe_and_emit(
        self, id: Any, audio: Any, speech_end: float | None, reason: str | None = None
    ) -> None:
        try:
            transcriber = self._ensure_model()
            transcript = transcriber.transcribe(audio)
        except Exception as exc:
            self._error(id, exc)
            return
        parsed = parse(transcript.text, self.settings.user_commands)
        latency = None if speech_end is None else round(time.monotonic() - speech_end, 3)
        self.emit(
            "result",
            id,
            **parsed.to_json(),
            reason=reason,
            audioSeconds=round(transcript.audio_seconds, 3),
            transcribeSeconds=round(transcript.transcribe_seconds, 3),
            latencySeconds=latency,
        )

    # --- capture -------------------------------------------------------------------------

    def _listen(self, id: Any, vad: bool) -> None:
        from typilot_lsp.voice_agent.capture import Capture

        settings = self.settings
        capture = Capture(
            settings.input_device,
            silence_seconds=settings.silence_seconds,
            max_seconds=settings.max_seconds,
            vad_enabled=vad,
        )
        with self._capture_lock:
            if self._capture is not None:
                self.emit(
                    "error",
                    id,
                    code="busy",
                    message="already listening: say your command, or stop the current "
                    "recording first (Typilot: stop voice)",
                )
                return
            self._capture, self._capture_id = capture, id

        def run() -> None:
            try:
                result = capture.run(
                    on_open=lambda: self.emit("listening", id),
                    on_speech=lambda: self.emit("speech", id),
                )
            except Exception as exc:
                self._error(id, exc)
                return
            finally:
                with self._capture_lock:
                    self._capture, self._capture_id = None, None
            if result.reason == "abort":
                self.emit("aborted", id, audioSeconds=round(result.seconds, 3))
                return
            self.emit(
                "transcribing",
                id,
                reason=result.reason,
                audioSeconds=round(result.seconds, 3),
                speech=result.speech_detected,
            )
            if result.reason == "no-speech":
                self.emit(
                    "result", id, text="", command=None, instruction="", reason="no-speech",
                    audioSeconds=round(result.seconds, 3), transcribeSeconds=0.0,
                    latencySeconds=None,
                )  # fmt: skip
                return
            self._jobs.put(
                lambda: self._transcribe_and_emit(
                    id, result.audio, result.speech_end_monotonic, result.reason
                )
            )

        threading.Thread(target=run, name=f"voice-capture-{id}", daemon=True).start()

    def _end_capture(self, id: Any, abort: bool) -> None:
        with self._capture_lock:
            capture, current = self._capture, self._capture_id
        if capture is None or (id is not None and id != current):
            # Capture already ended (silence, max length): the result is on its way, and an
            # error here would be mistaken for the listen's own answer.
            return
        if abort:
            capture.abort()
        else:
            capture.stop()

    # --- requests ------------------------------------------------------------------------

    def _transcribe_file(self, id: Any, path: str) -> None:
        try:
            from typilot_lsp.voice_agent.transcribe import read_wav

            audio = read_wav(path)
        except Exception as exc:
            self._error(id, exc)
            return
        self.emit("transcribing", id, reason="file", audioSeconds=round(audio.size / 16000, 3))
        self._transcribe_and_emit(id, audio, None, "file")

    def handle(self, msg: dict[str, Any]) -> bool:
        """Handle one request; False when the sidecar should exit."""
        try:
            return self._handle(msg)
        except Exception as exc:  # one bad request must not end the sidecar
            self._error(msg.get("id"), exc)
            return True

    def _handle(self, msg: dict[str, Any]) -> bool:
        op = msg.get("op")
        id = msg.get("id")
        if op == "configure":
            self.settings = VoiceSettings.from_message(msg)
            self._jobs.put(lambda: self._configure(id))
        elif op == "listen":
            self._listen(id, bool(msg.get("vad", True)))
        elif op == "stop":
            self._end_capture(id, abort=False)
        elif op == "abort":
            self._end_capture(id, abort=True)
        elif op == "transcribe":
            path = str(msg.get("path", ""))
            self._jobs.put(lambda: self._transcribe_file(id, path))
        elif op == "ping":
            self.emit("pong", id, pid=os.getpid())
        elif op == "shutdown":
            return False
        else:
            self.emit("error", id, code="protocol", message=f"unknown op {op!r}")
        return True

    def serve(self, lines: IO[str]) -> int:
        self.emit("hello", pid=os.getpid(), version=__version__)
        for raw in lines:
            raw = raw.strip()
            if not raw:
                continue
            try:
                msg = json.loads(raw)
                if not isinstance(msg, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                self.emit("error", code="protocol", message=f"bad request line: {exc}")
                continue
            if not self.handle(msg):
                break
        with self._capture_lock:
            capture = self._capture
        if capture is not None:
            capture.abort()
        # Let queued work answer (briefly: a model download is not worth waiting for).
        self._jobs.put(None)
        self._worker.join(timeout=2.0)
        return 0


def download(model: str) -> int:
    """`typilot-lsp voice --download-model NAME`: the one explicit way to fetch a model."""
    from typilot_lsp.voice_agent.errors import VoiceError
    from typilot_lsp.voice_agent.transcribe import resolve_model

    try:
        path = resolve_model(model, allow_download=True)
    except VoiceError as exc:
        print(f"typilot-lsp voice: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


def main(args: argparse.Namespace | None = None) -> int:
    if args is not None and getattr(args, "download_model", None):
        return download(args.download_model)
    # stdout is the protocol channel: keep it for JSON lines and send anything else that writes
    # to fd 1 (libraries, C code) to stderr instead.
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    code = Sidecar(protocol).serve(sys.stdin)
    protocol.flush()
    sys.stderr.flush()
    # Exit at once: a capture or a transcription still running on a daemon thread (an open
    # PortAudio stream, CTranslate2 workers) must not hold the process up or crash its teardown.
    os._exit(code)
