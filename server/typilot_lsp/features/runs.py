"""Runs in the editor: code actions on prefixed lines, the commands that start and stop runs.

`RunsFeature` is the language server's `RunHost` (typilot_lsp.runs.host): it owns the
`RunManager`, one `DocumentEditor` per document a run writes into, the backend
(`BackendSlot`) and each run's `$/progress` (`EditorProgress`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import cattrs
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from typilot_lsp.config import Config
from typilot_lsp.documents import TypilotDocument
from typilot_lsp.errors import RequestFailed, TypilotError
from typilot_lsp.feature import Feature
from typilot_lsp.features.documents import DocumentsFeature
from typilot_lsp.features.history import HistoryFeature
from typilot_lsp.privacy import PrivacyPolicy
from typilot_lsp.runs.engine import DocumentEditor
from typilot_lsp.runs.host import BackendSlot
from typilot_lsp.runs.manager import CancelReason, Outcome, Run, RunArguments, RunManager
from typilot_lsp.server import TypilotServer  # at run time: pygls resolves handler annotations

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from typilot_lsp.backends.base import Backend
    from typilot_lsp.history import AsyncHistory

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


class EditorProgress:
    """A run's `Progress` as `$/progress`, if the client supports server-initiated progress."""

    def __init__(self, server: TypilotServer) -> None:
        self.server = server
        self.enabled = False

    async def begin(self, run: Run) -> None:
        caps = self.server.client_capabilities
        window = caps.window if caps else None
        if not (window and window.work_done_progress):
            return
        try:
            await self.server.work_done_progress.create_async(run.progress_token)
        except Exception:
            log.debug("client refused progress token for run %s", run.id)
            return
        self.enabled = True
        title = f"Typilot: {run.command.rstrip(':')}"
        # What the title says while an allow-setting is on.
        notice = PrivacyPolicy.from_config(self.server.config).progress_label()
        if notice:
            title += f" ({notice})"
        self.server.work_done_progress.begin(
            run.progress_token,
            types.WorkDoneProgressBegin(
                title=title, message=run.instruction or "", cancellable=True, percentage=None
            ),
        )

    def report(self, run: Run, message: str) -> None:
        if self.enabled:
            self.server.work_done_progress.report(
                run.progress_token, types.WorkDoneProgressReport(message=message, cancellable=True)
            )

    async def end(self, run: Run, outcome: Outcome, error: str | None) -> None:
        if not self.enabled:
            return
        message = outcome.value if outcome is not Outcome.ERROR else (error or outcome.value)
        self.server.work_done_progress.end(
            run.progress_token, types.WorkDoneProgressEnd(message=message)
        )
        self.server.work_done_progress.tokens.pop(run.progress_token, None)


class RunsFeature(Feature):
    """Starts, follows and stops runs in the editor's documents."""

    def __init__(self, server: TypilotServer) -> None:
        super().__init__(server)
        self.runs = RunManager(self)
        self.editors: dict[str, DocumentEditor] = {}
        self._backend = BackendSlot()
        self._history_warmed = False

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
        return self.server.get_feature(HistoryFeature).history

    def document(self, uri: str) -> TypilotDocument | None:
        return self.server.get_feature(DocumentsFeature).document(uri)

    def editor_for(self, doc: TypilotDocument) -> DocumentEditor:
        editor = self.editors.get(doc.uri)
        if editor is None or editor.doc is not doc:
            editor = DocumentEditor(doc, self.server.workspace_apply_edit_async, self.encoding)
            self.editors[doc.uri] = editor
        return editor

    def progress_for(self, run: Run) -> EditorProgress:
        return EditorProgress(self.server)

    def show_message(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        self.server.show_message(message, kind)

    def run_task(self, coro: Coroutine[Any, Any, Any], name: str) -> Any:
        return self.server.run_task(coro, name)

    # -- lifecycle -----------------------------------------------------------------
    def settings_changed(self, old: Config, new: Config) -> None:
        backend_settings = ("backend", "ollama", "openai", "privacy")
        if any(getattr(old, name) != getattr(new, name) for name in backend_settings):
            backend = self._backend.take()
            if backend is not None:
                self.server.run_task(backend.aclose(), "close backend")

    def document_closed(self, uri: str) -> None:
        self.runs.cancel(uri, reason=CancelReason.CLOSED)
        self.editors.pop(uri, None)

    async def shutdown(self) -> None:
        self.runs.cancel(reason=CancelReason.SHUTDOWN)
        await self.runs.wait_idle()

    # -- LSP -----------------------------------------------------------------------
    def register(self) -> None:
        server = self.server

        @server.feature(
            types.TEXT_DOCUMENT_CODE_ACTION,
            types.CodeActionOptions(code_action_kinds=[ACTION_KIND], resolve_provider=False),
        )
        def code_actions(params: types.CodeActionParams) -> list[types.CodeAction] | None:
            return self.code_actions(params)

        # A command handler's first parameter is the server (`ls`): pygls looks at it, and on
        # Python 3.10 it cannot take `*args: Any` there.
        @server.command(RUN_COMMAND)
        async def run(ls: TypilotServer, *args: Any) -> dict[str, str]:
            parsed = self._arguments(args)
            try:
                started = await self.runs.start(parsed.uri, parsed.line, parsed.range)
            except TypilotError as exc:
                # Clients show a failed executeCommand themselves; a popup too would say it twice.
                raise RequestFailed(str(exc)) from exc
            return {"runId": started.id}

        @server.command(CANCEL_COMMAND)
        async def cancel(ls: TypilotServer, *args: Any) -> dict[str, int]:
            uri = None
            if args and isinstance(args[0], dict):
                uri = args[0].get("uri")
            elif args and isinstance(args[0], str):
                uri = args[0]
            return {"cancelled": self.runs.cancel(uri)}

        @server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
        def progress_cancel(params: types.WorkDoneProgressCancelParams) -> None:
            self.runs.cancel_token(params.token)

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
                argument["range"] = self.server.protocol._converter.unstructure(rng)
            title = action_title(match.command, match.instruction)
            actions.append(
                types.CodeAction(
                    title=title,
                    kind=ACTION_KIND,
                    command=types.Command(title=title, command=RUN_COMMAND, arguments=[argument]),
                )
            )
        if actions and not self._history_warmed:
            self._warm_history()
        return actions or None

    def _warm_history(self) -> None:
        # The user is looking at a run they may start: the history it will record into opens
        # once the editor goes quiet (the answer to this request goes out first), while
        # nothing streams, instead of at the end of that first run.
        from typilot_lsp.features.history import HistoryFeature
        from typilot_lsp.features.settings import WARM_QUIET_S

        try:
            history = self.server.get_feature(HistoryFeature)
        except KeyError:  # a server built without history
            self._history_warmed = True
            return
        self._history_warmed = True

        async def warm() -> None:
            await self.server.protocol.wait_quiet(WARM_QUIET_S)
            history.warm_up()

        self.server.run_task(warm(), "warm the history")

    def _arguments(self, args: tuple[Any, ...]) -> RunArguments:
        raw = args[0] if len(args) == 1 else None
        if not isinstance(raw, dict):
            raise JsonRpcInvalidParams(
                "typilot.run expects one argument {uri, line, range?}, got "
                + repr(list(args))[:200]
            )
        try:
            parsed = self.server.protocol._converter.structure(raw, RunArguments)
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
