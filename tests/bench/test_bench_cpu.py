"""bench.bench_cpu keeps working: one short run at one rate and one start-up, through the
real server and the replay Ollama in their own processes. It checks the buffer itself (the
script exits non-zero if what landed differs from the reply); here only that it ran and printed
its rows. The figures live in docs/performance.md, never in assertions."""

from __future__ import annotations

from tests.bench import run_bench


def test_bench_cpu_runs_and_prints_its_rows() -> None:
    stdout = run_bench(
        "bench_cpu", "--rates", "1000", "--tokens", "100", "--rounds", "1", "--starts", "1"
    )
    lines = stdout.splitlines()
    assert any(line.startswith("typilot-lsp") for line in lines), stdout
    assert any(line.startswith("bare pygls") for line in lines), stdout
    rows = [line.split() for line in lines if line.strip().startswith("1000 ")]
    assert len(rows) == 1 and float(rows[0][2]) > 0, stdout  # CPU ms per 1,000 tokens
