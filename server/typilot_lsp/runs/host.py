"""What a run needs from whoever hosts it: the language server or `typilot-lsp apply`.

`RunManager` (runs/manager.py) works through a `RunHost`; the server's runs feature
(`features.runs.RunsFeature`) and the CLI's `apply.HeadlessHost` are the two hosts. Each
reports a run's progress through a `Progress` (the editor's `$/progress`, the CLI's line on
stderr) and gets its backend from a `BackendSlot`, the one place a backend is created.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from lsprotocol import types

if TYPE_CHECKING:
    from typilot_lsp.backends.base import Backend
    from typilot_lsp.config import Config
    from typilot_lsp.context.model import ContextRequest
    from typilot_lsp.documents import TypilotDocument
    from typilot_lsp.history import AsyncHistory
    from typilot_lsp.runs.engine import DocumentEditor
    from typilot_lsp.runs.model import Outcome, Run


class Progress(Protocol):
    """One run's progress, as its host shows it."""

    async def begin(self, run: Run) -> None:
        """The run starts (before the model is asked)."""

    def report(self, run: Run, message: str) -> None:
        """A short status while the reply streams (e.g. "120 tokens")."""

    async def end(self, run: Run, outcome: Outcome, error: str | None) -> None:
        """The run is over; `error` is the message shown for a failure, if any."""


class RunHost(Protocol):
    """What `RunManager` uses: settings, documents, the backend, progress, messages, tasks."""

    @property
    def config(self) -> Config: ...
    @property
    def encoding(self) -> str: ...
    @property
    def backend(self) -> Backend: ...
    @property
    def history(self) -> AsyncHistory | None: ...
    def document(self, uri: str) -> TypilotDocument | None: ...
    async def other_files(self, code: ContextRequest | None, budget: int) -> str:
        """The definitions `code` (`context.for_run.request_for`) uses from other files of
        the workspace, as prompt text of at most `budget // 2` characters ("" when there are
        none, or `context.otherFiles` is off). The same code gives the same text, so the
        prewarm and the run send the same prompt."""
        ...

    def editor_for(self, doc: TypilotDocument) -> DocumentEditor: ...
    def progress_for(self, run: Run) -> Progress: ...
    def show_message(self, message: str, kind: types.MessageType = ...) -> None: ...
    def run_task(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]: ...
    async def before_request(self, run: Run) -> None:
        """The run is about to send its request (the server's prewarm hands over here)."""


class BackendSlot:
    """A backend created on first use from the current settings, replaced when they change."""

    def __init__(self, factory: Callable[[Config], Backend] | None = None) -> None:
        if factory is None:
            from typilot_lsp.backends import create_backend

            factory = create_backend
        self._factory = factory
        self._backend: Backend | None = None

    def get(self, config: Config) -> Backend:
        if self._backend is None:
            self._backend = self._factory(config)
        return self._backend

    def take(self) -> Backend | None:
        """Empty the slot (the next `get` creates a new backend); returns the old one to close."""
        old, self._backend = self._backend, None
        return old
