"""The history over LSP: the `typilot.history.purge` command and the `typilot/history` request.

`HistoryFeature` owns the server's :class:`~typilot_lsp.history.AsyncHistory`: it is created
when the client is initialized (after the settings feature has pulled the settings), which
also starts `AsyncHistory.run_retention` (retention when the store opens, then every hour
while the server runs), follows `typilot.history` changes and is closed on shutdown. A
request that comes before it is open waits for it (`opened()`), for a while.

The store itself (SQLAlchemy, the SQLite file) opens at its first use, or earlier when a run
becomes likely: `expect_a_run()` (the runs feature calls it when it offers a run) opens it once
the editor goes quiet, so that the first run does not pay for it at its end.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from typilot_lsp.config import Config
from typilot_lsp.errors import RequestFailed, TypilotError
from typilot_lsp.feature import Feature
from typilot_lsp.pygls_adapter import register_command

if TYPE_CHECKING:
    from typilot_lsp.history import AsyncHistory
    from typilot_lsp.server import TypilotServer

log = logging.getLogger(__name__)

PURGE_COMMAND = "typilot.history.purge"
HISTORY_REQUEST = "typilot/history"
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
OPEN_WAIT_S = 10.0
ENTRY_FIELDS = (
    "id",
    "created_at",
    "source",
    "command",
    "instruction",
    "uri",
    "model",
    "outcome",
    "error",
    "response",
)


def _limit(params: Any) -> int:
    raw: Any = None
    if isinstance(params, dict):
        raw = params.get("limit")
    elif params is not None:
        raw = getattr(params, "limit", None)
    if raw is None:
        return DEFAULT_LIMIT
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise JsonRpcInvalidParams(
            f"{HISTORY_REQUEST}: `limit` must be a whole number >= 0, got {raw!r}"
        )
    return min(raw, MAX_LIMIT)


def entry_for_client(entry: dict[str, Any]) -> dict[str, Any]:
    return {name: entry.get(name) for name in ENTRY_FIELDS}


class HistoryFeature(Feature):
    """The run history of this server: opened after `initialized`, closed on shutdown."""

    def __init__(self, server: TypilotServer) -> None:
        super().__init__(server)
        self.history: AsyncHistory | None = None
        self._open = asyncio.Event()
        self._warm_up: asyncio.Task[None] | None = None

    def register(self) -> None:
        # typilot_lsp.history (SQLAlchemy, dataset) is imported off the event loop after
        # `initialized`; the handlers only need its errors, which are TypilotErrors.
        register_command(self.server, PURGE_COMMAND, self.purge_command)

        @self.server.feature(HISTORY_REQUEST)
        async def recent(params: Any = None) -> dict[str, list[dict[str, Any]]]:
            return await self.recent(_limit(params))

    async def initialized(self, params: types.InitializedParams) -> None:
        # A cheap import: SQLAlchemy/dataset load on the history's own worker thread.
        from typilot_lsp.history import AsyncHistory
        from typilot_lsp.history.service import RETENTION_INTERVAL_S

        def warn(message: str) -> None:
            self.server.show_message(message, types.MessageType.Warning)

        # The store opens at its first use (recording a run, listing, purging), which applies
        # retention; an idle server never loads SQLAlchemy. At once (not as a task), so that
        # no run can end before there is a history.
        self.history = AsyncHistory(self.server.config.history, warn=warn, open_now=False)
        self._open.set()
        self.server.run_task(
            self.history.run_retention(first_delay_s=RETENTION_INTERVAL_S), "history retention"
        )

    def expect_a_run(self) -> None:
        """A run is likely soon (the editor was offered one): open the store in the background
        once the editor is quiet, instead of at the end of that run. Only the first call
        counts. Before `initialized` (the settings, hence the history's path, may still be on
        their way) it waits for the history to exist."""
        if self._warm_up is None:
            self._warm_up = self.server.run_task(self._open_when_quiet(), "warm the history")

    async def _open_when_quiet(self) -> None:
        await self._open.wait()
        await self.server.wait_editor_quiet()
        assert self.history is not None
        self.history.warm_up()

    def settings_changed(self, old: Config, new: Config) -> None:
        if self.history is not None and old.history != new.history:
            self.history.update_settings(new.history)

    async def shutdown(self) -> None:
        if self._warm_up is not None:
            self._warm_up.cancel()  # still waiting for `initialized`, or for a quiet moment
        if self.history is not None:
            await self.history.aclose()

    async def opened(self, timeout: float = OPEN_WAIT_S) -> AsyncHistory:
        """The history, once open (it opens just after `initialized`)."""
        try:
            await asyncio.wait_for(self._open.wait(), timeout)
        except asyncio.TimeoutError:  # not the builtin on 3.10
            raise RequestFailed(
                "Typilot history is not open yet (the client has not sent `initialized`?): "
                "try again in a moment"
            ) from None
        assert self.history is not None
        return self.history

    async def purge_command(self, *args: Any) -> dict[str, int]:
        """`typilot.history.purge`: delete every entry (arguments ignored)."""
        return await self.purge()

    async def purge(self) -> dict[str, int]:
        history = await self.opened()
        try:
            purged = await history.purge_all()
        except TypilotError as exc:
            self.server.show_message(str(exc), types.MessageType.Error)
            raise RequestFailed(str(exc)) from exc
        self.server.show_message(
            f"Typilot: deleted {purged} history entr{'y' if purged == 1 else 'ies'}.",
            types.MessageType.Info,
        )
        return {"purged": purged}

    async def recent(self, limit: int) -> dict[str, list[dict[str, Any]]]:
        history = await self.opened()
        try:
            entries = await history.list_recent(limit)
        except TypilotError as exc:
            raise RequestFailed(str(exc)) from exc
        return {"entries": [entry_for_client(e) for e in entries]}
