"""Voice commands: `typilot.voice.start {uri, position}` and `typilot.voice.stop`.

Start listens through the voice sidecar (push-to-talk: stop ends the recording; otherwise it ends
by itself after `voice.silenceSeconds` of non-speech, or at `voice.maxSeconds`). The transcript is
parsed into a command; gen/fix/sum become a prefixed comment line at the cursor (in the file's
comment syntax) that runs like any other run, with source "voice"; "cancel" cancels the runs in the
file. Progress shows Listening, the words heard so far, Transcribing, Generating.

This module never imports faster-whisper or sounddevice: they live in the sidecar process.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from typilot_lsp.comments import line_comment_for
from typilot_lsp.errors import RequestFailed, TypilotError
from typilot_lsp.feature import Feature
from typilot_lsp.features.documents import DocumentsFeature
from typilot_lsp.features.runs import RunsFeature
from typilot_lsp.features.voice.client import SidecarError, VoiceClient, VoiceRequest
from typilot_lsp.pygls_adapter import register_command
from typilot_lsp.voice_agent import protocol as p
from typilot_lsp.work_done_progress import WorkDoneProgress

if TYPE_CHECKING:
    from typilot_lsp.config import Config
    from typilot_lsp.documents import TypilotDocument
    from typilot_lsp.server import TypilotServer

log = logging.getLogger("typilot_lsp.voice")

START_COMMAND = "typilot.voice.start"
STOP_COMMAND = "typilot.voice.stop"
PREFIX_INDEX_TIMEOUT = 5.0
LISTEN_TIMEOUT = 15.0
HEARD_CHARS = 80
"""The progress message shows at most this much of the words heard so far."""

_ids = itertools.count(1)


@attrs.define(eq=False)
class VoiceSession:
    uri: str
    position: types.Position
    listen: VoiceRequest
    progress: WorkDoneProgress
    cancelled: bool = False
    task: asyncio.Task[None] | None = None
    started_at: float = attrs.field(factory=time.monotonic)


def prefixed_line(
    language_id: str, indent: str, prefix: str, instruction: str
) -> str:  # e.g. "    # gen: parse an ISO date"
    opener, closer = line_comment_for(language_id)
    body = f"{prefix} {instruction}".rstrip()
    line = f"{indent}{opener} {body}"
    return f"{line} {closer}" if closer else line


class VoiceFeature(Feature):
    """Owns the sidecar's client (started on first use, stopped on shutdown) and one session."""

    def __init__(
        self,
        server: TypilotServer,
        documents: DocumentsFeature,
        runs: RunsFeature,
        client_factory: Callable[[], VoiceClient] = VoiceClient,
    ) -> None:
        super().__init__(server)
        self.documents = documents
        self.runs = runs
        self._client_factory = client_factory
        self._client: VoiceClient | None = None
        self.session: VoiceSession | None = None
        self._starting = False
        self._configured: p.Configure | None = None
        """The last configure sent; None sends it again before the next listen."""

    # --- lifecycle -----------------------------------------------------------------------

    def register(self) -> None:
        register_command(self.server, START_COMMAND, self.start_command)
        register_command(self.server, STOP_COMMAND, self.stop_command)

    async def start_command(self, *args: Any) -> dict[str, Any]:
        """`typilot.voice.start {uri, position}`: listen; a failure is also shown."""
        uri, position = _position_args(args)
        try:
            return await self.start(uri, position)
        except TypilotError as exc:
            message = str(exc) if str(exc).startswith("Typilot") else f"Typilot voice: {exc}"
            self.server.show_message(message, types.MessageType.Error)
            raise RequestFailed(message) from exc

    async def stop_command(self, *args: Any) -> dict[str, Any]:
        """`typilot.voice.stop`: end the recording (push-to-talk)."""
        return await self.stop()

    def settings_changed(self, old: Config, new: Config) -> None:
        if old.voice != new.voice or old.commands.keys() != new.commands.keys():
            self._configured = None  # sent again before the next listen

    async def shutdown(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    # --- the sidecar ---------------------------------------------------------------------

    @property
    def client(self) -> VoiceClient:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def configure_request(self) -> p.Configure:
        config = self.server.config
        return p.Configure(
            voice=config.voice, user_commands=tuple(name.rstrip(":") for name in config.commands)
        )

    # --- progress ------------------------------------------------------------------------

    def _on_progress_cancel(self, session: VoiceSession) -> None:
        if session.cancelled:
            return
        session.cancelled = True
        self.server.run_task(self._abort(session), "voice abort")

    async def _abort(self, session: VoiceSession) -> None:
        with contextlib.suppress(SidecarError):
            await self.client.notify(p.Abort(id=session.listen.id))

    # --- commands ------------------------------------------------------------------------

    async def start(self, uri: str, position: types.Position) -> dict[str, Any]:
        if self.documents.document(uri) is None:
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
        message = self.configure_request()
        configure: VoiceRequest | None = None
        if message != self._configured or not client.running:
            # Loads the model on the sidecar's model thread while the microphone is already open.
            configure = await client.request(message)
            self._configured = message
        listen = await client.request(p.Listen())
        progress = WorkDoneProgress(self.server, f"typilot-voice-{next(_ids)}")
        session = VoiceSession(uri, position, listen, progress)
        self.session = session
        try:
            first = await asyncio.wait_for(listen.next_event(), LISTEN_TIMEOUT)
        except asyncio.TimeoutError:
            self.session = None
            with contextlib.suppress(SidecarError):
                await client.notify(p.Abort(id=listen.id))
            raise TypilotError(
                f"the microphone did not open within {LISTEN_TIMEOUT:g} s: check "
                "`typilot.voice.inputDevice` and your sound server (PulseAudio/PipeWire), or "
                "run `typilot-lsp doctor`"
            ) from None
        if not isinstance(first, p.Listening):
            self.session = None
            if configure is not None and not configure.done:
                # A dead microphone says nothing about the model: keep its answer for later.
                self.server.run_task(self._watch_configure(configure, None), "voice configure")
            if isinstance(first, p.Error):
                raise SidecarError(first.message, first.code)
            raise SidecarError(f"the voice sidecar answered listen with {first!r}")
        await session.progress.begin(
            "Typilot voice", "Listening…", on_cancel=lambda: self._on_progress_cancel(session)
        )
        session.task = self.server.run_task(self._follow(session, configure), "voice session")
        return {"listening": True, "sessionId": listen.id}

    async def stop(self) -> dict[str, Any]:
        session = self.session
        if session is None:
            return {"stopped": False}
        with contextlib.suppress(SidecarError):
            await self.client.notify(p.Stop(id=session.listen.id))
        return {"stopped": True, "sessionId": session.listen.id}

    # --- one session ---------------------------------------------------------------------

    async def _watch_configure(self, configure: VoiceRequest, session: VoiceSession | None) -> None:
        event = await configure.next_event()
        if isinstance(event, p.Error):
            self._configured = None
            if session is not None and self.session is session:
                session.cancelled = True
                with contextlib.suppress(SidecarError):
                    await self.client.notify(p.Abort(id=session.listen.id))
                session.progress.end("voice model unavailable")
            self.server.show_message(f"Typilot voice: {event.message}", types.MessageType.Error)

    async def _follow(self, session: VoiceSession, configure: VoiceRequest | None) -> None:
        if configure is not None:
            # The model loads while the user speaks; a failure to load ends the session at once.
            self.server.run_task(self._watch_configure(configure, session), "voice configure")
        try:
            async for event in session.listen:
                if isinstance(event, p.Speech):
                    session.progress.report("Listening… (hearing you)")
                elif isinstance(event, p.Partial):
                    session.progress.report(f"Listening… heard: {_heard(event.text)}")
                elif isinstance(event, p.Transcribing):
                    session.progress.report("Transcribing…")
                elif isinstance(event, p.Aborted):
                    session.progress.end("stopped")
                elif isinstance(event, p.Error):
                    session.progress.end("failed")
                    if not session.cancelled:
                        self.server.show_message(
                            f"Typilot voice: {event.message}", types.MessageType.Error
                        )
                elif isinstance(event, p.Result):
                    if session.cancelled:
                        session.progress.end("stopped")
                    else:
                        await self._on_result(session, event)
        except Exception as exc:
            session.progress.end("failed")
            message = str(exc) if isinstance(exc, TypilotError) else f"failed: {exc}"
            self.server.show_message(f"Typilot voice: {message}", types.MessageType.Error)
            if not isinstance(exc, TypilotError):
                log.exception("voice session failed")
        finally:
            if self.session is session:
                self.session = None
            session.progress.end("done")

    async def _on_result(self, session: VoiceSession, event: p.Result) -> None:
        command = event.command
        instruction = event.instruction
        if not command:
            hint = (
                "nothing was heard: check that the microphone is not muted and that "
                "`typilot.voice.inputDevice` names the right one"
                if event.reason is p.EndReason.NO_SPEECH
                else "no words were recognised: speak closer to the microphone and try again"
            )
            session.progress.end("no speech")
            self.server.show_message(f"Typilot voice: {hint}.", types.MessageType.Warning)
            return
        if command == "cancel":
            count = self.runs.cancel_runs(session.uri)
            session.progress.end(f"cancelled {count} run(s)")
            return
        prefix = self._prefix_for(command)
        line = await self._insert_line(session, prefix, instruction)
        # The run reports its own progress from here on; ours ends once it has started.
        session.progress.report(f"Generating… {prefix} {instruction}".rstrip())
        try:
            await self.runs.start_run(session.uri, line, source="voice")
        finally:
            session.progress.end("Generating")

    def _prefix_for(self, command: str) -> str:
        prefixes = self.server.config.prefixes
        if command in prefixes:
            return prefixes[command]
        for name in self.server.config.commands:
            if name.rstrip(":") == command:
                return name
        return prefixes.get("gen", "gen:")

    async def _insert_line(self, session: VoiceSession, prefix: str, instruction: str) -> int:
        doc = self.documents.document(session.uri)
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
        # The editor's didChange brings the new line into the prefix index; listen for it from
        # before the edit is sent (the change may arrive before the edit's answer).
        indexed = _LineIndexed(doc, line_no, text)
        doc.listeners.append(indexed)
        try:
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
                    "the editor refused to insert the voice command "
                    f"({result.failure_reason or 'no reason given'}); "
                    "try again without typing while it is inserted"
                )
            indexed.check()
            try:
                await asyncio.wait_for(indexed.event.wait(), PREFIX_INDEX_TIMEOUT)
            except asyncio.TimeoutError:
                raise TypilotError(
                    "the voice command was inserted but the editor did not report the change: "
                    "check that the client sends textDocument/didChange"
                ) from None
        finally:
            with contextlib.suppress(ValueError):
                doc.listeners.remove(indexed)
        return line_no


class _LineIndexed:
    """A document listener that fires once line `line_no` reads `text` and is prefixed."""

    def __init__(self, doc: TypilotDocument, line_no: int, text: str) -> None:
        self.doc = doc
        self.line_no = line_no
        self.text = text
        self.event = asyncio.Event()

    def on_change(self, l1: int, c1: int, l2: int, c2: int, text: str) -> None:
        pass

    def on_changes_applied(self, version: int) -> None:
        self.check()

    def check(self) -> None:
        doc = self.doc
        if (
            self.line_no < len(doc.lines)
            and doc.line_text(self.line_no) == self.text
            and self.line_no in doc.prefixed
        ):
            self.event.set()


def _heard(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= HEARD_CHARS else "…" + text[-(HEARD_CHARS - 1) :]


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
