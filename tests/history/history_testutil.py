"""Helpers shared by the history tests (`from tests.history.history_testutil import ...`)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from tests import prerequisites
from typilot_lsp.history import RunRecord


def make_record(**overrides: Any) -> RunRecord:
    fields: dict[str, Any] = {
        "source": "editor",
        "command": "gen",
        "instruction": "parse an ISO date",
        "language_id": "python",
        "uri": "file:///work/project/dates.py",
        "model": "qwen2.5-coder:1.5b",
        "host": "http://127.0.0.1:11434",
        "prompt": "Write python code that parses an ISO date.",
        "response": "def parse(s):\n    return datetime.date.fromisoformat(s)\n",
        "outcome": "done",
        "first_token_ms": 120.0,
        "total_ms": 900.0,
        "token_count": 17,
    }
    fields.update(overrides)
    return RunRecord(**fields)


def drop_root_prefix() -> list[str]:
    """A command prefix that makes root obey file permissions (no DAC override), else []."""
    if os.geteuid() != 0:
        return []
    prerequisites.require_tools("setpriv", how="install util-linux (it drops root's DAC override)")
    setpriv = shutil.which("setpriv")
    return [
        setpriv,
        "--inh-caps=-all",
        "--bounding-set=-dac_override,-dac_read_search,-fowner",
        "--",
    ]


def run_python(
    code: str,
    *args: str,
    env: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def file_bytes(path: pathlib.Path) -> dict[str, bytes]:
    """The bytes of the database file and its -wal/-shm companions that exist now."""
    out = {}
    for suffix in ("", "-wal", "-shm"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            out[candidate.name] = candidate.read_bytes()
    return out
