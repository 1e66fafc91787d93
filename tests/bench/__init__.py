"""Tests of the bench/ scripts: each runs as a user runs it, ``python -m bench.NAME``."""

from __future__ import annotations

import subprocess
import sys

from tests import REPO_ROOT


def run_bench(name: str, *args: str, timeout: float = 600) -> str:
    """Run `python -m bench.<name> args` from the repository root, as a user would; its stdout,
    once it exited 0."""
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout
