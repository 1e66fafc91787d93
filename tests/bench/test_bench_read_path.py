"""bench/bench_read_path.py keeps working: one short stream read each of its three ways, through
real sender and reader processes. Only that it ran and printed a positive figure for each way;
the figures live in docs/performance.md, never in assertions."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_bench_read_path_prints_a_row_per_way() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "bench_read_path.py"),
            "--rates",
            "1000",
            "--chunks",
            "40",
            "--rounds",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = {
        fields[1]: float(fields[2])
        for fields in (line.split() for line in done.stdout.splitlines())
        if len(fields) == 4 and fields[0] == "1000"
    }
    assert set(rows) == {"socket", "lean", "httpx"}, done.stdout
    assert all(figure > 0 for figure in rows.values()), done.stdout
