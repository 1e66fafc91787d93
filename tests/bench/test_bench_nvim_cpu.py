"""bench/bench_nvim_cpu.py keeps working: one short run at one rate in a real headless Neovim
with the plugin and the real server. The script checks the buffer itself (it exits non-zero if
what landed differs from the reply); here only that it ran and printed a row with both shares.
The figures live in docs/performance.md, never in assertions."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from tests.neovim.nvim_harness import NVIM

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHORT_RUN = ["--rates", "1000", "--tokens", "100", "--rounds", "1"]


@pytest.mark.skipif(NVIM is None, reason="no nvim binary: pip install -e .[test]")
def test_bench_nvim_cpu_runs_and_prints_its_row() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_nvim_cpu.py"), *SHORT_RUN],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = [line.split() for line in done.stdout.splitlines() if line.strip().startswith("1000 ")]
    assert len(rows) == 1, done.stdout
    neovim, server, total = (float(value) for value in rows[0][2:5])
    assert neovim > 0 and server > 0 and total >= server, done.stdout
