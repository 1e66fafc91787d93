"""bench/bench_cpu.py keeps working: one short run at one rate and one start-up, through the
real server and the replay Ollama in their own processes. It checks the buffer itself (the
script exits non-zero if what landed differs from the reply); here only that it ran and printed
its rows. The figures live in docs/performance.md, never in assertions."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_bench_cpu_runs_and_prints_its_rows() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "bench_cpu.py"),
            "--rates",
            "1000",
            "--tokens",
            "100",
            "--rounds",
            "1",
            "--starts",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("typilot-lsp") for line in lines), done.stdout
    assert any(line.startswith("bare pygls") for line in lines), done.stdout
    rows = [line.split() for line in lines if line.strip().startswith("1000 ")]
    assert len(rows) == 1 and float(rows[0][2]) > 0, done.stdout  # CPU ms per 1,000 tokens
