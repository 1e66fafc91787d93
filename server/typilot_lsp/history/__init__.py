"""The local history of runs: one SQLite file shared by every Typilot process.

:class:`HistoryStore` is the synchronous store (the CLI uses it directly);
:class:`AsyncHistory` is what the server uses: every call runs on a worker thread and a
broken store never fails a run.
"""

from __future__ import annotations

from typilot_lsp.history.service import AsyncHistory
from typilot_lsp.history.store import (
    HISTORY_PATH_ENV,
    HistoryStore,
    HistoryUnavailable,
    RunRecord,
    default_history_path,
)

__all__ = [
    "HISTORY_PATH_ENV",
    "AsyncHistory",
    "HistoryStore",
    "HistoryUnavailable",
    "RunRecord",
    "default_history_path",
]
