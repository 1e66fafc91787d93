"""Voice commands: `typilot.voice.start {uri, position}` and `typilot.voice.stop`.

Start listens through the voice sidecar (push-to-talk: stop ends the recording; otherwise it ends
by itself after `voice.silenceSeconds` of silence, or at `voice.maxSeconds`). The transcript is
parsed into a command; gen/fix/sum become a prefixed comment line at the cursor (in the file's
comment syntax) that runs like any other run, with source "voice"; "cancel" cancels the runs in the
file. Progress shows Listening, Transcribing, Generating.

This module never imports faster-whisper or sounddevice: they live in the sidecar process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from typing import Any

import attrs
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from typilot_lsp.comments import line_comment_for
from typilot_lsp.config import Config, VoiceConfig
from typilot_lsp.errors import RequestFailed, TypilotError
from typilot_lsp.feature import Feature
from typilot_lsp.features.documents import DocumentsFeature
from typilot_lsp.features.runs import RunsFeature
from typilot_lsp.server import TypilotServer
from typilot_lsp.voice.client import SidecarError, VoiceClient, VoiceRequest

log = logging.getLogger("typilot_lsp.voice")

START_COMMAND = "typilot.voice.start"
STOP_COMMAND = "typilot.voice.stop"
PREFIX_INDEX_TIMEOUT = 5.0
LISTEN_TIMEOUT = 15.0

_ids = itertools.count(1)


@attrs.define(eq=False)
class VoiceSession:
    uri: str
    position: types.Position
    listen: VoiceRequest
    token: str
    progress: bool = False
    cancelled: bool = False
    task: asyncio.Task[None] | None = None
    started_at: float = attrs.field(factory=time.monotonic)


def configure_message(voice: VoiceConfig, user_commands: list[str]) -> dict[str, Any]:
    return {
        "model": voice.model,
        "computeType": voice.compute_type,
        "language": voice.language,
        "inputDevice": voice.input_device,
        "maxSeconds": voice.max_seconds,
        "silenceSeconds": voice.silence_seconds,
        "userCommands": user_commands,
    }


def prefixed_line(
    language_id: str, indent: str, prefix: str, instruction: str
) -> str:  # e.g. "    # gen: parse an ISO date"
    opener, closer = line_comment_for(language_id)
    body = f"{prefix} {instruction}".rstrip()
    line = f"{indent}{opener} {body}"
    return f"{line} {closer}" if closer else line


class VoiceFeature(Feature):
    def __init__(self, server: TypilotServer) -> None:
        super().__init__(server)
        self.session: VoiceSession | None = None
        self._starting = False
        self._configured: dict[str, Any] | None = None
        self._client: VoiceClient | None = None

    @property
    def client(self) -> VoiceClient:
        if self._client is None:
            self._client = VoiceClient()
        return self._client

    def register(self) -> None:
        register_commands(self.server, self)

    def settings_changed(self, old: Config, new: Config) -> None:
        if old.voice != new.voice or old.commands.keys() != new.commands.keys():
            self._configured = None  # sent again before the next listen

    async def shutdown(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    def user_commands(self) -> list[str]:
        return [name.rstrip(":") for name in self.server.config.commands]

    # --- progress ------------------------------------------------------------------------

    async def _progress_begin(self, session: VoiceSession) -> None:
        caps = self.server.client_capabilities
        window = caps.window if caps else None
        if not (window and window.work_done_progress):
            return
        try:
            await self.server.work_done_progress.create_async(session.token)
        except Exception:
            log.debug("client refused a progress token for voice")
            return
        session.progress = True
        self.server.work_done_progress.begin(
            session.token,
            types.WorkDoneProgressBegin(
                title="Typilot voice", message="Listening…", cancellable=True
            ),
        )
        future = self.server.work_done_progress.tokens.get(session.token)
        if future is not None:
            # pygls cancels this future on window/workDoneProgress/cancel.
            future.add_done_callback(
                lambda f: self._on_progress_cancel(session) if f.cancelled() else None
            )

    def _report(self, session: VoiceSession, message: str) -> None:
        if session.progress:
            self.server.work_done_progress.report(
                session.token, types.WorkDoneProgressReport(message=message)
            )

    def _progress_end(self, session: VoiceSession, message: str) -> None:
        if session.progress:
            session.progress = False
            self.server.work_done_progress.end(
                session.token, types.WorkDoneProgressEnd(message=message)
            )
            self.server.work_done_progress.tokens.pop(session.token, None)

    def _on_progress_cancel(self, session: VoiceSession) -> None:
        if session.cancelled:
            return
        session.cancelled = True
        self.server.run_task(self._abort(session), "voice abort")

    async def _abort(self, session: VoiceSession) -> None:
        with contextlib.suppress(SidecarError):
            await self.client.notify("abort", id=session.listen.id)

    # --- commands ------------------------------------------------------------------------

    async def start(self, uri: str, position: types.Position) -> dict[str, Any]:
        if self.server.get_feature(DocumentsFeature).document(uri) is None:
            raise TypilotError(f"Typilot voice: {uri} is not open in the editor.")
        if self.session is not None or self._starting:
            raise TypilotError(
                "Typilot voice is already listening: say your command, or press the voice key "
                "again to stop (typilot.voice.stop)."
            )
        self._starting = True
        try:
            return await self._start(uri, position)
        finally:
            self._starting = False

    async def _start(self, uri: str, position: types.Position) -> dict[str, Any]:
        client = self.client
        message = configure_message(self.server.config.voice, self.user_commands())
        configure: VoiceRequest | None = None
        if message != self._configured or not client.running:
            # Loads the model on the sidecar's worker while the microphone is already open.
            configure = await client.request("configure", **message)
            self._configured = message
        listen = await client.request("listen")
        session = VoiceSession(uri, position, listen, f"typilot-voice-{next(_ids)}")
        self.session = session
        try:
            first = await asyncio.wait_for(listen.next_event(), LISTEN_TIMEOUT)
        except asyncio.TimeoutError:
            self.session = None
            with contextlib.suppress(SidecarError):
                await client.notify("abort", id=listen.id)
            raise TypilotError(
                f"the microphone did not open within {LISTEN_TIMEOUT:g} s: check "
                "`typilot.voice.inputDevice` and your sound server (PulseAudio/PipeWire), or "
                "run `typilot-lsp doctor`"
            ) from None
        if first.get("event") != "listening":
            self.session = None
            if configure is not None and not configure.done:
                # A dead microphone says nothing about the model: keep its answer for later.
                self.server.run_task(self._watch_configure(configure, None), "voice configure")
            raise SidecarError(str(first.get("message", first)), str(first.get("code")))
        await self._progress_begin(session)
        session.task = self.server.run_task(self._follow(session, configure), "voice session")
        return {"listening": True, "sessionId": listen.id}

    async def stop(self) -> dict[str, Any]:
        session = self.session
        if session is None:
            return {"stopped": False}
        with contextlib.suppress(SidecarError):
            await self.client.notify("stop", id=session.listen.id)
        return {"stopped": True, "sessionId": session.listen.id}

    # --- one session ---------------------------------------------------------------------

    async def _watch_configure(self, configure: VoiceRequest, session: VoiceSession | None) -> None:
        event = await configure.next_event()
        if event.get("event") == "error":
            self._configured = None
            if session is not None and self.session is session:
                session.cancelled = True
                with contextlib.suppress(SidecarError):
                    await self.client.notify("abort", id=session.listen.id)
                self._progress_end(session, "voice model unavailable")
            self.server.show_message(
                f"Typilot voice: {event.get('message')}", types.MessageType.Error
            )

    async def _follow(self, session: VoiceSession, configure: VoiceRequest | None) -> None:
        if configure is not None:
            # The model loads while the user speaks; a failure to load ends the session at once.
            self.server.run_task(self._watch_configure(configure, session), "voice configure")
        try:
            async for event in session.listen:
                kind = event.get("event")
                if kind == "speech":
                    self._report(session, "Listening… (hearing you)")
                elif kind == "transcribing":
                    self._report(session, "Transcribing…")
                elif kind == "aborted":
                    self._progress_end(session, "stopped")
                elif kind == "error":
                    self._progress_end(session, "failed")
                    if not session.cancelled:
                        self.server.show_message(
                            f"Typilot voice: {event.get('message')}", types.MessageType.Error
                        )
                elif kind == "result":
                    if session.cancelled:
                        self._progress_end(session, "stopped")
                    else:
                        await self._on_result(session, event)
        except Exception as exc:
            self._progress_end(session, "failed")
            message = str(exc) if isinstance(exc, TypilotError) else f"failed: {exc}"
            self.server.show_message(f"Typilot voice: {message}", types.MessageType.Error)
            if not isinstance(exc, TypilotError):
                log.exception("voice session failed")
        finally:
            if self.session is session:
                self.session = None
            self._progress_end(session, "done")

    async def _on_result(self, session: VoiceSession, event: dict[str, Any]) -> None:
        command = event.get("command")
        instruction = str(event.get("instruction") or "")
        if not command:
            reason = event.get("reason")
            hint = (
                "nothing was heard: check that the microphone is not muted and that "
                "`typilot.voice.inputDevice` names the right one"
                if reason == "no-speech"
                else "no words were recognised: speak closer to the microphone and try again"
            )
            self._progress_end(session, "no speech")
            self.server.show_message(f"Typilot voice: {hint}.", types.MessageType.Warning)
            return
        if command == "cancel":
            count = self.server.get_feature(RunsFeature).runs.cancel(session.uri)
            self._progress_end(session, f"cancelled {count} run(s)")
            return
        prefix = self._prefix_for(str(command))
        line = await self._insert_line(session, prefix, instruction)
        # The run reports its own progress from here on; ours ends once it has started.
        self._report(session, f"Generating… {prefix} {instruction}".rstrip())
        try:
            await self.server.get_feature(RunsFeature).runs.start(session.uri, line, source="voice")
        finally:
            self._progress_end(session, "Generating")

    def _prefix_for(self, command: str) -> str:
        prefixes = self.server.config.prefixes
        if command in prefixes:
            return prefixes[command]
        for name in self.server.config.commands:
            if name.rstrip(":") == command:
                return name
        return prefixes.get("gen", "gen:")

    async def _insert_line(self, session: VoiceSession, prefix: str, instruction: str) -> int:
        doc = self.server.get_feature(DocumentsFeature).document(session.uri)
        if doc is None:
            raise TypilotError(f"{session.uri} was closed before the voice command arrived.")
        line_no = min(max(session.position.line, 0), max(len(doc.lines) - 1, 0))
        current = doc.line_text(line_no) if doc.lines else ""
        blank = current.strip() == ""
        indent = current[: len(current) - len(current.lstrip())]
        text = prefixed_line(doc.language_id, indent, prefix, instruction)
        if blank and doc.lines:
            # An empty line at the cursor becomes the prefixed line.
            edit = types.TextEdit(
                range=types.Range(
                    start=types.Position(line=line_no, character=0),
                    end=types.Position(line=line_no, character=len(current)),
                ),
                new_text=text,
            )
        elif not doc.lines:
            edit = types.TextEdit(
                range=types.Range(
                    start=types.Position(line=0, character=0),
                    end=types.Position(line=0, character=0),
                ),
                new_text=text,
            )
        else:
            # Above the cursor's line, so fix:/sum: take the code the cursor is in as target.
            edit = types.TextEdit(
                range=types.Range(
                    start=types.Position(line=line_no, character=0),
                    end=types.Position(line=line_no, character=0),
                ),
                new_text=text + doc.eol,
            )
        result = await self.server.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(
                label="Typilot voice",
                edit=types.WorkspaceEdit(
                    document_changes=[
                        types.TextDocumentEdit(
                            text_document=types.OptionalVersionedTextDocumentIdentifier(
                                uri=session.uri, version=doc.version
                            ),
                            edits=[edit],
                        )
                    ]
                ),
            )
        )
        if not result.applied:
            raise TypilotError(
                f"the editor refused to insert the voice command ({result.failure_reason or 'no reason given'}); "
                "try again without typing while it is inserted"
            )
        # The editor's didChange brings the new line into the prefix index.
        deadline = time.monotonic() + PREFIX_INDEX_TIMEOUT
        while time.monotonic() < deadline:
            doc = self.server.get_feature(DocumentsFeature).document(session.uri)
            if doc is not None and doc.line_text(line_no) == text and line_no in doc.prefixed:
                return line_no
            await asyncio.sleep(0.02)
        raise TypilotError(
            "the voice command was inserted but the editor did not report the change: check that "
            "the client sends textDocument/didChange"
        )


def _position_args(args: tuple[Any, ...]) -> tuple[str, types.Position]:
    raw = args[0] if len(args) == 1 else None
    if not isinstance(raw, dict) or not isinstance(raw.get("uri"), str):
        raise JsonRpcInvalidParams(
            f"{START_COMMAND} expects one argument {{uri, position}}, got {list(args)!r:.200}"
        )
    pos = raw.get("position") or {}
    try:
        position = types.Position(
            line=int(pos.get("line", 0)), character=int(pos.get("character", 0))
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise JsonRpcInvalidParams(f"{START_COMMAND}: invalid position {pos!r}") from exc
    return raw["uri"], position


def register_commands(server: TypilotServer, feature: VoiceFeature) -> None:
    @server.command(START_COMMAND)
    async def voice_start(ls: TypilotServer, *args: Any) -> dict[str, Any]:
        uri, position = _position_args(args)
        try:
            return await feature.start(uri, position)
        except TypilotError as exc:
            message = str(exc) if str(exc).startswith("Typilot") else f"Typilot voice: {exc}"
            ls.show_message(message, types.MessageType.Error)
            raise RequestFailed(message) from exc

    @server.command(STOP_COMMAND)
    async def voice_stop(ls: TypilotServer, *args: Any) -> dict[str, Any]:
        return await feature.stop()
