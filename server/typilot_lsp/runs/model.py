"""What a run is, how it ends and why: the values the run manager, its hosts, the history and
the editor features share (kept apart from `manager` so that they import no run machinery)."""

from __future__ import annotations

import asyncio
import enum
import time
from typing import TYPE_CHECKING

import attrs
from lsprotocol import types

from typilot_lsp.backends.base import StreamStats
from typilot_lsp.errors import TypilotError
from typilot_lsp.prefixes import Mode
from typilot_lsp.runs.output.reasons import Finished

if TYPE_CHECKING:
    from typilot_lsp.runs.engine import StreamWriter


class Outcome(str, enum.Enum):
    """How a run ended (also what the history records)."""

    DONE = "done"
    CANCELLED = "cancelled"
    ERROR = "error"


class CancelReason(str, enum.Enum):
    """Why a run was cancelled."""

    USER = "user"
    """The progress UI's cancel, `typilot.cancel`, or a spoken "cancel"."""
    REPLACED = "replaced"
    """A new run started on the same line."""
    CLOSED = "closed"
    """The document was closed (nothing more is written)."""
    EDITED = "edited"
    """The user edited the text the run was writing."""
    SHUTDOWN = "shutdown"
    """The server is shutting down."""


QUIET_REASONS = (CancelReason.CLOSED, CancelReason.SHUTDOWN)
"""Cancelled for these, a run shows no message: nobody is there to read it."""


class RunRefused(TypilotError):
    """A run that cannot start (no prefix on the line, document not open, ...)."""


@attrs.define
class RunArguments:
    uri: str
    line: int
    range: types.Range | None = None


@attrs.frozen
class RunResult:
    """How a run ended, and what the history records of it."""

    outcome: Outcome = Outcome.DONE
    error: str | None = None
    """The message shown for a failure (or a cancel that left something to say)."""
    model: str = ""
    """The model as the user knows it (`ModelInfo.shown_name`)."""
    host: str = ""
    prompt: str = ""
    response: str = ""

    def failed(self, error: str) -> RunResult:
        return attrs.evolve(self, outcome=Outcome.ERROR, error=error)

    def cancelled(self) -> RunResult:
        return attrs.evolve(self, outcome=Outcome.CANCELLED)


@attrs.define(eq=False)
class Run:
    id: str
    uri: str
    line: int
    command: str
    mode: Mode
    instruction: str
    source: str
    progress_token: str
    started_at: float = attrs.field(factory=time.monotonic)
    task: asyncio.Task[RunResult] | None = None
    reader: asyncio.Task[None] | None = None
    cancel_reason: CancelReason | None = None
    stats: StreamStats = attrs.field(factory=StreamStats)
    writer: StreamWriter | None = None
    finished_early: Finished | None = None
    """Why the run stopped the model before its end, if it did: nothing more could land."""

    def cancel(self, reason: CancelReason) -> None:
        if self.cancel_reason is None:
            self.cancel_reason = reason
        if self.reader is not None and not self.reader.done():
            self.reader.cancel()
        elif self.reader is None and self.task is not None and not self.task.done():
            self.task.cancel()

    async def result(self) -> RunResult:
        """Wait for the run to end; its outcome."""
        assert self.task is not None, "the run was not started"
        return await self.task
