"""bench.bench_nvim_cpu keeps working: one short run at one rate in a real headless Neovim
with the plugin and the real server. The script checks the buffer itself (it exits non-zero if
what landed differs from the reply); here only that it ran and printed a row with both shares.
The figures live in docs/performance.md, never in assertions."""

from __future__ import annotations

from tests.bench import run_bench
from tests.neovim.nvim_harness import NVIM_HOW, nvim_missing
from tests.prerequisites import needs

SHORT_RUN = ["--rates", "1000", "--tokens", "100", "--rounds", "1"]


@needs(nvim_missing(), NVIM_HOW)
def test_bench_nvim_cpu_runs_and_prints_its_row() -> None:
    stdout = run_bench("bench_nvim_cpu", *SHORT_RUN)
    rows = [line.split() for line in stdout.splitlines() if line.strip().startswith("1000 ")]
    assert len(rows) == 1, stdout
    neovim, server, total = (float(value) for value in rows[0][2:5])
    assert neovim > 0 and server > 0 and total >= server, stdout
