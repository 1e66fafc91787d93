"""What a history entry is, and where the history lives: the light part of the package.

Importing this (and :mod:`typilot_lsp.history`) costs milliseconds; SQLAlchemy and
``dataset`` are imported by :mod:`typilot_lsp.history.store`, which the server only loads on
the history's worker thread.
"""

from __future__ import annotations

import os
import pathlib
import time

import attrs
import platformdirs

from typilot_lsp.errors import TypilotError

__all__ = [
    "HISTORY_PATH_ENV",
    "OUTCOMES",
    "SOURCES",
    "HistoryUnavailable",
    "RunRecord",
    "default_history_path",
]

HISTORY_PATH_ENV = "TYPILOT_HISTORY_PATH"
SOURCES = ("editor", "voice", "cli")
OUTCOMES = ("done", "cancelled", "error")


@attrs.frozen
class RunRecord:
    """One run, as it is recorded."""

    source: str  # "editor" | "voice" | "cli"
    command: str  # "gen" | "fix" | "sum" | a user command name
    instruction: str
    language_id: str
    uri: str
    model: str
    host: str
    prompt: str
    response: str
    outcome: str  # "done" | "cancelled" | "error"
    error: str | None = None
    first_token_ms: float | None = None
    total_ms: float | None = None
    token_count: int = 0
    prompt_tokens: int | None = None  # the prompt's size as the model server counted it
    created_at: float = attrs.field(factory=time.time)  # epoch seconds


class HistoryUnavailable(TypilotError):
    """The store cannot be opened or written; ``str()`` says why and what to do."""

    def __init__(self, message: str, *, path: pathlib.Path | None = None) -> None:
        super().__init__(message)
        self.path = path


def default_history_path() -> pathlib.Path:
    """``$TYPILOT_HISTORY_PATH``, else ``history.sqlite3`` in the platform's user data dir."""
    override = os.environ.get(HISTORY_PATH_ENV)
    if override:
        return pathlib.Path(override).expanduser()
    return pathlib.Path(platformdirs.user_data_dir("typilot", appauthor=False)) / "history.sqlite3"
