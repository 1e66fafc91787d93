"""bench.bench_latency keeps working: the smallest of its files, two runs typed and picked as a
person does, against the real llama-server and SmolLM2. Checked: each run is measured end to end
(the pick, the model's own request and its timings, what landed), and the prompt was evaluated
before the pick (the prewarm). The figures live in docs/performance.md, never in assertions."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench import run_bench
from tests.llama.llama_server import INSTALL_HINT, find_llama
from tests.prerequisites import needs

SHORT_RUN = ["--files", "textstats.py", "--cps", "100", "--pause", "0.5", "--rounds", "1"]


@needs(find_llama().lacking, INSTALL_HINT)
def test_bench_latency_measures_each_run_from_the_pick(tmp_path: Path) -> None:
    figures = tmp_path / "latency.json"
    stdout = run_bench("bench_latency", *SHORT_RUN, "--json", str(figures))
    data = json.loads(figures.read_text())
    rows = data["rows"]
    assert [(r["file"], r["run"]) for r in rows] == [("textstats.py", 1), ("textstats.py", 2)]
    for row in rows:
        asked = row["requests"]
        runs = [r for r in asked if r["stream"] is True]
        warms = [r for r in asked if r["stream"] is False]
        assert len(runs) == 1 and runs[0]["opened_ms"] >= 0, asked  # the run's own, after the pick
        assert runs[0]["closed_ms"] is not None, asked  # the model server's end is measured
        assert row["pick_to_model_text_ms"] is not None, row
        assert warms and min(r["opened_ms"] for r in warms) < 0, asked  # read before the pick
        assert row["warm_evaluated"] > 0, row
        assert row["outcome"], row
    # SmolLM2 may answer a `fix:` with no code; the `gen:` lands some
    assert any(r["pick_to_first_ms"] is not None and r["landed"] > 0 for r in rows), rows
    assert data["summary"]["runs"] == 2
    assert "pick->1st ms" in stdout and "textstats.py" in stdout
