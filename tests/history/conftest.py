"""Fixtures for the history tests: real SQLite files in tmp dirs, never the user's."""

from __future__ import annotations

import os
import pathlib

import pytest


@pytest.fixture
def db_path(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "data" / "typilot" / "history.sqlite3"


@pytest.fixture
def isolated_env(tmp_path: pathlib.Path) -> dict[str, str]:
    """Environment for child processes: HOME and the XDG dirs inside tmp_path."""
    env = dict(os.environ)
    env.pop("TYPILOT_HISTORY_PATH", None)
    env.pop("TYPILOT_SETTINGS", None)
    for name, sub in (
        ("HOME", "home"),
        ("XDG_DATA_HOME", "home/.local/share"),
        ("XDG_CONFIG_HOME", "home/.config"),
        ("XDG_CACHE_HOME", "home/.cache"),
    ):
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
        env[name] = str(tmp_path / sub)
    return env
