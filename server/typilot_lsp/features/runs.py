"""Runs in the editor: code actions on prefixed lines, the commands that start and stop runs.

`RunsFeature` is the language server's `RunHost` (typilot_lsp.runs.host): it owns the
`RunManager`, one `DocumentEditor` per document a run writes into, the backend
(`BackendSlot`) and each run's `$/progress` (`RunProgress`). Other features start and cancel
runs through its methods (`start_run`, `cancel_runs`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import cattrs
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from typilot_lsp.config import Config
from typilot_lsp.context.for_run import OtherFilesSource
from typilot_lsp.context.model import ContextRequest
from typilot_lsp.documents import TypilotDocument
from typilot_lsp.errors import RequestFailed, TypilotError
from typilot_lsp.feature import Feature
from typilot_lsp.features.documents import DocumentsFeature
from typilot_lsp.features.history import HistoryFeature
from typilot_lsp.privacy import PrivacyPolicy
from typilot_lsp.pygls_adapter import register_command
from typilot_lsp.runs.engine import DocumentEditor
from typilot_lsp.runs.host import BackendSlot
from typilot_lsp.runs.manager import RunManager
from typilot_lsp.runs.model import CancelReason, Outcome, Run, RunArguments
from typilot_lsp.runs.prewarm import Prewarmer
from typilot_lsp.work_done_progress import WorkDoneProgress

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from typilot_lsp.backends.base import Backend
    from typilot_lsp.history import AsyncHistory
    from typilot_lsp.server import TypilotServer

log = logging.getLogger(__name__)

RUN_COMMAND = "typilot.run"
CANCEL_COMMAND = "typilot.cancel"
ACTION_KIND = types.CodeActionKind.QuickFix
TITLE_INSTRUCTION_CHARS = 80
"""A code action's title shows at most this much of the instruction (menus are one line)."""


def action_title(command: str, instruction: str) -> str:
    """`Typilot: gen — <instruction>`, the instruction flattened to one line and capped."""
    name = command.rstrip(":")
    flat = " ".join(instruction.split())
    if not flat:
        return f"Typilot: {name}"
    if len(flat) > TITLE_INSTRUCTION_CHARS:
        flat = flat[: TITLE_INSTRUCTION_CHARS - 1].rstrip() + "…"
    return f"Typilot: {name} — {flat}"


def progress_title(run: Run, config: Config) -> str:
    """`Typilot: gen (qwen2.5-coder:1.5b, remote host allowed)`: what runs, on which model (none
    for an OpenAI-compatible server that serves its own), and whether an allow-setting is on."""
    notes = [config.model] if config.model else []
    notice = PrivacyPolicy.from_config(config).progress_label()
    if notice:
        notes.append(notice)
    title = f"Typilot: {run.command.rstrip(':')}"
    return f"{title} ({', '.join(notes)})" if notes else title


class RunProgress:
    """A run's `Progress` (runs.host) as the editor's work-done progress, cancellable there
    (`window/workDoneProgress/cancel`, handled by `RunsFeature`)."""

    def __init__(self, server: TypilotServer, run: Run) -> None:
        self.server = server
        self.progress = WorkDoneProgress(server, run.progress_token)

    async def begin(self, run: Run) -> None:
        await self.progress.begin(progress_title(run, self.server.config), run.instruction or "")

    def report(self, run: Run, message: str) -> None:
        self.progress.report(message)

    async def end(self, run: Run, outcome: Outcome, error: str | None) -> None:
        message = outcome.value if outcome is not Outcome.ERROR else (error or outcome.value)
        self.progress.end(message)


class RunsFeature(Feature):
    """Starts, follows and stops runs in the editor's documents."""

    def __init__(
        self, server: TypilotServer, documents: DocumentsFeature, history: HistoryFeature
    ) -> None:
        super().__init__(server)
        self.documents = documents
        self.history_feature = history
        self.manager = RunManager(self)
        self.prewarm = Prewarmer(self)
        self.editors: dict[str, DocumentEditor] = {}
        self._backend = BackendSlot()
        self.context_source = OtherFilesSource(self.workspace_folders, self.documents.documents)

    # -- for other features ----------------------------------------------------------
    async def start_run(
        self, uri: str, line: int, *, range: types.Range | None = None, source: str = "editor"
    ) -> Run:
        """Start a run on the prefixed `line` of `uri` (RunRefused if it cannot start)."""
        return await self.manager.start(uri, line, range, source=source)

    def cancel_runs(self, uri: str | None = None, reason: CancelReason = CancelReason.USER) -> int:
        """Cancel the runs in `uri` (every run if None); how many there were."""
        return self.manager.cancel(uri, reason=reason)

    # -- RunHost -------------------------------------------------------------------
    @property
    def config(self) -> Config:
        return self.server.config

    @property
    def encoding(self) -> str:
        return self.server.encoding

    @property
    def backend(self) -> Backend:
        return self._backend.get(self.server.config)

    @property
    def history(self) -> AsyncHistory | None:
        return self.history_feature.history

    def document(self, uri: str) -> TypilotDocument | None:
        return self.documents.document(uri)

    async def other_files(self, code: ContextRequest | None, budget: int) -> str:
        found = await self.context_source.for_run(self.config.context, code, budget)
        return found.text

    def workspace_folders(self) -> list[str]:
        """The editor's workspace folders (URIs); its root when it sent no folders."""
        workspace = self.documents.workspace
        if workspace is None:
            return []
        folders = [folder.uri for folder in workspace.folders.values()]
        return folders or ([workspace.root_uri] if workspace.root_uri else [])

    def editor_for(self, doc: TypilotDocument) -> DocumentEditor:
        editor = self.editors.get(doc.uri)
        if editor is None or editor.doc is not doc:
            editor = DocumentEditor(doc, self.server.workspace_apply_edit_async, self.encoding)
            self.editors[doc.uri] = editor
        return editor

    def progress_for(self, run: Run) -> RunProgress:
        return RunProgress(self.server, run)

    def show_message(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        self.server.show_message(message, kind)

    def run_task(self, coro: Coroutine[Any, Any, Any], name: str) -> Any:
        return self.server.run_task(coro, name)

    async def before_request(self, run: Run) -> None:
        await self.prewarm.handover(run.uri, run.line)

    # -- PrewarmHost ---------------------------------------------------------------
    def runs_streaming(self) -> bool:
        return bool(self.manager.active)

    # -- lifecycle -----------------------------------------------------------------
    def settings_changed(self, old: Config, new: Config) -> None:
        backend_settings = ("backend", "ollama", "openai", "privacy")
        if any(getattr(old, name) != getattr(new, name) for name in backend_settings):
            backend = self._backend.take()
            if backend is not None:
                self.prewarm.forget_sent()  # another server: its cache holds nothing of ours
                self.server.run_task(backend.aclose(), "close backend")

    def document_opened(self, doc: TypilotDocument) -> None:
        self.prewarm.document_opened(doc)

    def document_changed(self, doc: TypilotDocument) -> None:
        self.prewarm.document_changed(doc)

    def document_closed(self, uri: str) -> None:
        self.cancel_runs(uri, reason=CancelReason.CLOSED)
        self.prewarm.document_closed(uri)
        self.editors.pop(uri, None)

    async def shutdown(self) -> None:
        self.cancel_runs(reason=CancelReason.SHUTDOWN)
        await self.prewarm.aclose()
        await self.manager.wait_idle()

    # -- LSP -----------------------------------------------------------------------
    def register(self) -> None:
        server = self.server

        @server.feature(
            types.TEXT_DOCUMENT_CODE_ACTION,
            types.CodeActionOptions(code_action_kinds=[ACTION_KIND], resolve_provider=False),
        )
        def code_actions(params: types.CodeActionParams) -> list[types.CodeAction] | None:
            return self.code_actions(params)

        register_command(server, RUN_COMMAND, self.run_command)
        register_command(server, CANCEL_COMMAND, self.cancel_command)

        @server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
        def progress_cancel(params: types.WorkDoneProgressCancelParams) -> None:
            self.manager.cancel_token(params.token)

    async def run_command(self, *args: Any) -> dict[str, str]:
        """`typilot.run {uri, line, range?}`: start a run; its id (the run goes on)."""
        parsed = self._arguments(args)
        try:
            started = await self.start_run(parsed.uri, parsed.line, range=parsed.range)
        except TypilotError as exc:
            # Clients show a failed executeCommand themselves; a popup too would say it twice.
            raise RequestFailed(str(exc)) from exc
        return {"runId": started.id}

    async def cancel_command(self, *args: Any) -> dict[str, int]:
        """`typilot.cancel {uri}` (or a bare uri, or nothing: every run)."""
        uri = None
        if args and isinstance(args[0], dict):
            uri = args[0].get("uri")
        elif args and isinstance(args[0], str):
            uri = args[0]
        return {"cancelled": self.cancel_runs(uri)}

    def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        doc = self.document(params.text_document.uri)
        if doc is None or not doc.prefixed:
            return None
        rng = params.range
        spans_text = rng.start != rng.end
        actions = []
        for line, match in doc.prefixed_in(rng.start.line, rng.end.line):
            argument: dict[str, Any] = {"uri": doc.uri, "line": line}
            if spans_text and rng.start.line != rng.end.line:
                argument["range"] = self.server.converter.unstructure(rng)
            title = action_title(match.command, match.instruction)
            actions.append(
                types.CodeAction(
                    title=title,
                    kind=ACTION_KIND,
                    command=types.Command(title=title, command=RUN_COMMAND, arguments=[argument]),
                )
            )
        if actions:
            # The user is looking at a run they may start: its history can open now, and the
            # model server can read its prompt.
            self.history_feature.expect_a_run()
            first = next(iter(doc.prefixed_in(rng.start.line, rng.end.line)))[0]
            self.prewarm.actions_asked(doc.uri, first)
        return actions or None

    def _arguments(self, args: tuple[Any, ...]) -> RunArguments:
        raw = args[0] if len(args) == 1 else None
        if not isinstance(raw, dict):
            raise JsonRpcInvalidParams(
                "typilot.run expects one argument {uri, line, range?}, got "
                + repr(list(args))[:200]
            )
        try:
            parsed = self.server.converter.structure(raw, RunArguments)
        except (cattrs.BaseValidationError, KeyError, TypeError, ValueError) as exc:
            raise JsonRpcInvalidParams(
                f"typilot.run: invalid arguments {repr(raw)[:200]}: {exc}"
            ) from exc
        line = raw.get("line")
        if isinstance(line, bool) or not isinstance(line, int) or parsed.line < 0:
            raise JsonRpcInvalidParams(
                f"typilot.run: `line` must be a line number >= 0 (0-based), got {line!r}"
            )
        if not isinstance(raw.get("uri"), str) or not parsed.uri:
            raise JsonRpcInvalidParams(
                f"typilot.run: `uri` must be the document's URI, got {repr(raw.get('uri'))[:200]}"
            )
        return parsed
