"""bench.bench_read_path keeps working: one short stream read each of its three ways, through
real sender and reader processes. Only that it ran and printed a positive figure for each way;
the figures live in docs/performance.md, never in assertions."""

from __future__ import annotations

from tests.bench import run_bench


def test_bench_read_path_prints_a_row_per_way() -> None:
    out = run_bench(
        "bench_read_path", "--rates", "1000", "--chunks", "40", "--rounds", "1", timeout=300
    )
    rows = {
        fields[1]: float(fields[2])
        for fields in (line.split() for line in out.splitlines())
        if len(fields) == 4 and fields[0] == "1000"
    }
    assert set(rows) == {"socket", "lean", "httpx"}, out
    assert all(figure > 0 for figure in rows.values()), out
