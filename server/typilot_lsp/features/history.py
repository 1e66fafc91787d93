"""The history over LSP: the `typilot.history.purge` command and the `typilot/history` request.

`server.history` (an :class:`~typilot_lsp.history.AsyncHistory`) is created by the settings
feature once the client is initialized, which also starts `AsyncHistory.run_retention`:
retention when the store opens, then every hour while the server runs.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from typilot_lsp.errors import RequestFailed, TypilotError
from typilot_lsp.server import TypilotServer

if TYPE_CHECKING:
    from typilot_lsp.history import AsyncHistory

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


async def _history(ls: TypilotServer) -> AsyncHistory:
    """The server's history; it is opened just after `initialized`, so wait a moment for it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + OPEN_WAIT_S
    while ls.history is None:
        if loop.time() > deadline:
            raise RequestFailed(
                "Typilot history is not open yet (the client has not sent `initialized`?): "
                "try again in a moment"
            )
        await asyncio.sleep(0.05)
    return ls.history


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


def setup(server: TypilotServer) -> None:
    # typilot_lsp.history (SQLAlchemy, dataset) is imported off the event loop after
    # `initialized`; the handlers only need its errors, which are TypilotErrors.
    @server.command(PURGE_COMMAND)
    async def purge(ls: TypilotServer, *args: Any) -> dict[str, int]:
        history = await _history(ls)
        try:
            purged = await history.purge_all()
        except TypilotError as exc:
            ls.show_message(str(exc), types.MessageType.Error)
            raise RequestFailed(str(exc)) from exc
        ls.show_message(
            f"Typilot: deleted {purged} history entr{'y' if purged == 1 else 'ies'}.",
            types.MessageType.Info,
        )
        return {"purged": purged}

    @server.feature(HISTORY_REQUEST)
    async def recent(ls: TypilotServer, params: Any = None) -> dict[str, list[dict[str, Any]]]:
        limit = _limit(params)
        history = await _history(ls)
        try:
            entries = await history.list_recent(limit)
        except TypilotError as exc:
            raise RequestFailed(str(exc)) from exc
        return {"entries": [entry_for_client(e) for e in entries]}
