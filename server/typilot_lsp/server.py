"""The language server: a thin pygls subclass that holds shared state.

Behaviour lives in feature modules (`typilot_lsp.features.*`), each with a
`setup(server)` hook; this class only owns what they share: settings,
documents, the backend, background tasks.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol

from typilot_lsp import __version__
from typilot_lsp.config import Config
from typilot_lsp.documents import DocumentState
from typilot_lsp.feature import Feature
from typilot_lsp.prefixes import PrefixMatcher
from typilot_lsp.privacy import PrivacyPolicy
from typilot_lsp.runs.engine import DocumentEditor
from typilot_lsp.runs.manager import Run, RunManager

if TYPE_CHECKING:
    from typilot_lsp.backends.base import Backend
    from typilot_lsp.history import AsyncHistory

log = logging.getLogger("typilot_lsp")
FeatureT = TypeVar("FeatureT", bound=Feature)

FEATURES = (
    "typilot_lsp.features.settings",
    "typilot_lsp.features.documents",
    "typilot_lsp.features.runs",
    "typilot_lsp.features.history",
    "typilot_lsp.features.voice",
)


class RunProgress:
    """`$/progress` for one run, if the client supports server-initiated progress."""

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
        notice = self.server.privacy_notice()
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

    async def end(self, run: Run, outcome: str, error: str | None) -> None:
        if not self.enabled:
            return
        message = {"done": "done", "cancelled": "cancelled"}.get(outcome, error or outcome)
        self.server.work_done_progress.end(
            run.progress_token, types.WorkDoneProgressEnd(message=message)
        )
        self.server.work_done_progress.tokens.pop(run.progress_token, None)


class TypilotProtocol(LanguageServerProtocol):
    """pygls's protocol, without its one leak per notification.

    pygls 2.1 keeps the future of every handler it runs in `_request_futures` under a message
    id; for a request the reply pops it, but for a notification (and for each step of a
    generator handler, such as the built-in didOpen/didChange/didClose) the id is a fresh
    uuid that nothing ever pops. One editor session sends thousands of didChange
    notifications: each future, with its lock and callbacks, stayed for the server's life
    (about 14 KB per short run). Here such an entry is dropped as soon as its handler ends.
    """

    def _execute_handler(
        self,
        msg_id: Any,
        handler: Any,
        callback: Any,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        if getattr(callback, "func", None) == self._send_handler_result:
            return  # a client's request: the reply pops its entry
        future = self._request_futures.get(msg_id)
        if future is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return

        # Not at once: a future's callbacks can run inside a loop over the table (pygls's
        # `shutdown` cancels every pending future while iterating it).
        def forget(_: Any) -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(self._request_futures.pop, msg_id, None)

        future.add_done_callback(forget)


class TypilotServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("typilot-lsp", __version__, protocol_cls=TypilotProtocol)
        self.config = Config()
        self.documents: dict[str, DocumentState] = {}
        self.editors: dict[str, DocumentEditor] = {}
        self.runs = RunManager(self)
        self.history: AsyncHistory | None = None
        self._backend: Backend | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._matchers: dict[str, PrefixMatcher] = {}
        self._privacy_warned = False
        self._features: dict[type[Feature], Feature] = {}
        self.config_listeners: list[Callable[[Config, Config], None]] = []
        """Called with (old, new) after every settings change."""
        self.shutdown_hooks: list[Callable[[], Awaitable[None]]] = []
        """Awaited on `shutdown` (e.g. stopping the voice sidecar)."""

    # -- features ----------------------------------------------------------------
    def add_feature(self, feature: Feature) -> None:
        """Add `feature` (one per type) and let it register its handlers."""
        kind = type(feature)
        if kind in self._features:
            raise ValueError(f"{kind.__name__} is already added")
        self._features[kind] = feature
        feature.register()

    def get_feature(self, kind: type[FeatureT]) -> FeatureT:
        """The feature of type `kind` (or a subclass of it); KeyError if none was added."""
        found = self._features.get(kind)
        if found is None:
            found = next((f for f in self._features.values() if isinstance(f, kind)), None)
        if found is None:
            raise KeyError(f"no {kind.__name__} feature in this server")
        return found  # type: ignore[return-value]

    @property
    def features(self) -> list[Feature]:
        """Every feature, in the order added (the order their hooks are called)."""
        return list(self._features.values())

    # -- shared services ---------------------------------------------------------
    @property
    def encoding(self) -> str:
        try:
            return str(self.workspace.position_encoding or "utf-16")
        except RuntimeError:
            return "utf-16"

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            from typilot_lsp.backends.ollama import OllamaBackend

            self._backend = OllamaBackend.from_config(self.config)
        return self._backend

    def reset_backend(self) -> None:
        old, self._backend = self._backend, None
        if old is not None:
            self.run_task(old.aclose(), "close backend")

    def matcher_for(self, language_id: str) -> PrefixMatcher:
        matcher = self._matchers.get(language_id)
        if matcher is None:
            matcher = PrefixMatcher.build(
                language_id, self.config.prefixes, self.config.commands.keys()
            )
            self._matchers[language_id] = matcher
        return matcher

    def reset_matchers(self) -> None:
        self._matchers.clear()
        for doc in self.documents.values():
            doc.reindex(self.matcher_for(doc.language_id))

    def editor_for(self, doc: DocumentState) -> DocumentEditor:
        editor = self.editors.get(doc.uri)
        if editor is None or editor.doc is not doc:
            editor = DocumentEditor(doc, self.workspace_apply_edit_async, self.encoding)
            self.editors[doc.uri] = editor
        return editor

    def progress_for(self, run: Run) -> RunProgress:
        return RunProgress(self)

    def privacy_notice(self) -> str:
        """What the progress title says while an allow-setting is on ("" when none is)."""
        return PrivacyPolicy.from_config(self.config).progress_label() or ""

    def warn_privacy_once(self) -> None:
        warning = PrivacyPolicy.from_config(self.config).warning()
        if warning and not self._privacy_warned:
            self._privacy_warned = True
            self.show_message(warning, types.MessageType.Warning)

    def show_message(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def run_task(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run `coro` in the background, kept alive and with its failure logged."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("background task %r failed", name, exc_info=t.exception())

        task.add_done_callback(done)
        return task


def create_server() -> TypilotServer:
    server = TypilotServer()
    for name in FEATURES:
        importlib.import_module(name).setup(server)
    return server


def serve(*, tcp: bool = False, port: int = 2087, log_level: str = "WARNING") -> int:
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, str(log_level).upper(), logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    server = create_server()
    # No prompt, code or model output in logs unless `typilot.trace` (read live).
    from typilot_lsp.logging_utils import install_content_filter

    install_content_filter(lambda: server.config.trace)
    if tcp:
        server.start_tcp("127.0.0.1", port)
    else:
        server.start_io()
    return 0
