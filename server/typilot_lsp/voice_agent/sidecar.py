"""`typilot-lsp voice`: the voice sidecar. JSON lines in on stdin, JSON lines out on stdout.

The language server starts one sidecar on first use; the messages are the typed ones of
`typilot_lsp.voice_agent.protocol` (requests, events and their fields are described there).

Threads: the main thread reads requests and never waits on audio or the model; each listen
records on a capture thread of its own (which also runs the end-pointer, ~0.1 ms a window); the
model (load, warm-up, every transcription) runs on one model thread, so it stays warm and is never
used by two threads at once.

A listen transcribes early: at the first pause in speech (`Endpointer.pause_seconds`) it
transcribes what was said so far, while the user may still be speaking, and reports the words as a
`partial` event. If speech resumes, that transcript is dropped (the next pause makes another); if
the pause becomes the end, it is the result, ready as soon as the end is decided.

At start the sidecar writes `hello`. It exits when stdin closes, so it never outlives the server
that started it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any

import attrs

from typilot_lsp import __version__
from typilot_lsp.voice_agent import protocol as p
from typilot_lsp.voice_agent.errors import VoiceDependencyMissing, VoiceError
from typilot_lsp.voice_agent.grammar import parse

__all__ = ["Sidecar", "main"]

SAMPLE_RATE = 16000


@attrs.define
class _Early:
    """A transcription started at a pause: valid for the result while no speech came after."""

    samples: int
    future: Future[Any]


class Sidecar:
    """The request loop. Capture runs on a thread per listen; model work on one model thread."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._out_lock = threading.Lock()
        self.settings = p.Configure()
        self._transcriber: Any = None
        self._loaded_key: tuple[str, str] | None = None
        self._model = ThreadPoolExecutor(max_workers=1, thread_name_prefix="voice-model")
        self._capture: Any = None
        self._capture_id: int | None = None
        self._capture_lock = threading.Lock()

    # --- output --------------------------------------------------------------------------

    def emit(self, event: p.Event) -> None:
        line = p.encode(event)
        with self._out_lock:
            self._out.write(line + "\n")
            self._out.flush()

    def _error(self, id: int | None, exc: BaseException) -> None:
        if isinstance(exc, ModuleNotFoundError) and exc.name:
            # numpy, faster-whisper, sounddevice and friends come with the voice extra.
            exc = VoiceDependencyMissing(exc.name.split(".")[0], str(exc))
        if isinstance(exc, VoiceError):
            self.emit(p.Error(code=exc.code, message=str(exc), id=id))
        else:
            traceback.print_exc(file=sys.stderr)
            self.emit(
                p.Error(
                    code="internal",
                    message=f"the voice sidecar failed ({type(exc).__name__}: {exc}); see the "
                    "server log (stderr) for details and report it if it persists",
                    id=id,
                )
            )

    # --- model (model thread only) -------------------------------------------------------

    def _ensure_model(self) -> Any:
        """The warm transcriber for the current settings."""
        from typilot_lsp.voice_agent.transcribe import Transcriber

        voice = self.settings.voice
        key = (voice.model, voice.compute_type)
        if self._transcriber is None or self._loaded_key != key:
            self._transcriber = None
            self._transcriber = Transcriber(
                voice.model, compute_type=voice.compute_type, language=voice.language
            )
            self._loaded_key = key
            # Warm while the user is still speaking (configure comes with the first listen).
            self._transcriber.warm_up()
        self._transcriber.language = voice.language or None
        return self._transcriber

    def _configure(self, id: int | None) -> None:
        try:
            transcriber = self._ensure_model()
        except Exception as exc:
            self._error(id, exc)
            return
        self.emit(
            p.Configured(
                model=self.settings.voice.model,
                path=transcriber.path,
                load_seconds=round(transcriber.load_seconds, 3),
                id=id,
            )
        )

    def _transcribe(self, audio: Any) -> Any:
        return self._ensure_model().transcribe(audio)

    def _result(
        self,
        id: int | None,
        transcript: Any,
        reason: p.EndReason,
        speech_end: float | None,
        speculative: bool = False,
    ) -> p.Result:
        parsed = parse(transcript.text, self.settings.user_commands)
        return p.Result(
            text=parsed.text,
            command=parsed.command,
            instruction=parsed.instruction,
            reason=reason,
            audio_seconds=round(transcript.audio_seconds, 3),
            transcribe_seconds=round(transcript.transcribe_seconds, 3),
            latency_seconds=None if speech_end is None else round(time.monotonic() - speech_end, 3),
            speculative=speculative,
            id=id,
        )

    # --- capture -------------------------------------------------------------------------

    def _listen(self, request: p.Listen) -> None:
        from typilot_lsp.voice_agent.capture import Capture
        from typilot_lsp.voice_agent.vad import VadEvent

        id = request.id
        voice = self.settings.voice
        capture = Capture(
            voice.input_device,
            silence_seconds=voice.silence_seconds,
            max_seconds=voice.max_seconds,
            vad_enabled=request.vad,
        )
        with self._capture_lock:
            if self._capture is not None:
                self.emit(
                    p.Error(
                        code="busy",
                        message="already listening: say your command, or stop the current "
                        "recording first (Typilot: stop voice)",
                        id=id,
                    )
                )
                return
            self._capture, self._capture_id = capture, id
        lock = threading.Lock()
        early: list[_Early] = []  # the latest early transcription, if any
        finished = threading.Event()

        def partial(future: Future[Any], seconds: float) -> None:
            if future.cancelled() or future.exception() is not None:
                return  # the result transcribes again and reports a failure
            text = future.result().text
            with lock:
                if text and not finished.is_set():
                    self.emit(p.Partial(text=text, audio_seconds=round(seconds, 3), id=id))

        def on_event(event: VadEvent) -> None:
            if event is VadEvent.SPEECH:
                self.emit(p.Speech(id=id))
            elif event is VadEvent.PAUSE:
                if early and not early[-1].future.done():
                    return  # one at a time: the end transcribes again if this one is stale
                audio = capture.snapshot()
                future = self._model.submit(self._transcribe, audio)
                early[:] = [_Early(audio.size, future)]
                future.add_done_callback(lambda f: partial(f, audio.size / SAMPLE_RATE))

        def run() -> None:
            try:
                result = capture.run(
                    on_event=on_event, on_open=lambda: self.emit(p.Listening(id=id))
                )
            except Exception as exc:
                self._error(id, exc)
                return
            finally:
                with self._capture_lock:
                    self._capture, self._capture_id = None, None
            seconds = round(result.seconds, 3)
            with lock:  # no partial after this point: the words so far are the result's
                finished.set()
                if result.reason is p.EndReason.ABORT:
                    self.emit(p.Aborted(audio_seconds=seconds, id=id))
                    return
                self.emit(
                    p.Transcribing(
                        reason=result.reason,
                        audio_seconds=seconds,
                        speech=result.speech_detected,
                        id=id,
                    )
                )
            if result.reason is p.EndReason.NO_SPEECH:
                self.emit(p.Result(text="", command=None, reason=result.reason,
                                   audio_seconds=seconds, id=id))  # fmt: skip
                return
            end = result.speech_end_sample
            ready = early[-1] if early and end is not None and early[-1].samples >= end else None
            future = ready.future if ready else self._model.submit(self._transcribe, result.audio)
            try:
                transcript = future.result()
            except Exception as exc:
                self._error(id, exc)
                return
            self.emit(
                self._result(
                    id, transcript, result.reason, result.speech_end_monotonic, ready is not None
                )
            )

        threading.Thread(target=run, name=f"voice-capture-{id}", daemon=True).start()

    def _end_capture(self, id: int | None, abort: bool) -> None:
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

    def _transcribe_file(self, id: int | None, path: str) -> None:
        try:
            from typilot_lsp.voice_agent.transcribe import read_wav

            audio = read_wav(path)
            self.emit(
                p.Transcribing(
                    reason=p.EndReason.FILE, audio_seconds=round(audio.size / SAMPLE_RATE, 3), id=id
                )
            )
            transcript = self._transcribe(audio)
        except Exception as exc:
            self._error(id, exc)
            return
        self.emit(self._result(id, transcript, p.EndReason.FILE, None))

    def handle(self, request: p.Request) -> bool:
        """Handle one request; False when the sidecar should exit."""
        try:
            return self._handle(request)
        except Exception as exc:  # one bad request must not end the sidecar
            self._error(request.id, exc)
            return True

    def _handle(self, request: p.Request) -> bool:
        id = request.id
        if isinstance(request, p.Configure):
            self.settings = request
            self._model.submit(self._configure, id)
        elif isinstance(request, p.Listen):
            self._listen(request)
        elif isinstance(request, p.Stop):
            self._end_capture(id, abort=False)
        elif isinstance(request, p.Abort):
            self._end_capture(id, abort=True)
        elif isinstance(request, p.Transcribe):
            self._model.submit(self._transcribe_file, id, request.path)
        elif isinstance(request, p.Ping):
            self.emit(p.Pong(pid=os.getpid(), id=id))
        elif isinstance(request, p.Shutdown):
            return False
        return True

    def serve(self, lines: IO[str]) -> int:
        self.emit(p.Hello(pid=os.getpid(), version=__version__))
        for raw in lines:
            raw = raw.strip()
            if not raw:
                continue
            try:
                request = p.decode_request(raw)
            except p.ProtocolError as exc:
                self.emit(p.Error(code="protocol", message=str(exc), id=getattr(exc, "id", None)))
                continue
            if not self.handle(request):
                break
        with self._capture_lock:
            capture = self._capture
        if capture is not None:
            capture.abort()
        # Let queued work answer (briefly: a model download is not worth waiting for).
        drained = self._model.submit(lambda: None)
        with contextlib.suppress(Exception):
            drained.result(timeout=2.0)
        self._model.shutdown(wait=False)
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
