"""The local history of runs: one SQLite file shared by every Typilot process.

:class:`AsyncHistory` is what the server uses: every call runs on a worker thread and a
broken store never fails a run. :class:`HistoryStore` is the synchronous store (the CLI uses
it directly). Importing this package is cheap: SQLAlchemy and ``dataset`` load with
:mod:`typilot_lsp.history.store`, on first use of ``HistoryStore`` (or on AsyncHistory's
worker thread).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from typilot_lsp.history.records import (
    HISTORY_PATH_ENV,
    HistoryUnavailable,
    RunRecord,
    default_history_path,
    history_path,
)
from typilot_lsp.history.service import AsyncHistory

if TYPE_CHECKING:
    from typilot_lsp.history.store import HistoryStore

__all__ = [
    "HISTORY_PATH_ENV",
    "AsyncHistory",
    "HistoryStore",
    "HistoryUnavailable",
    "RunRecord",
    "default_history_path",
    "history_path",
]


def __getattr__(name: str) -> Any:
    if name == "HistoryStore":
        from typilot_lsp.history.store import HistoryStore

        return HistoryStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
