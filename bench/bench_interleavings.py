#!/usr/bin/env python3
"""10,000 interleavings of user edits, stream chunks, cancels and late echoes.

    .venv/bin/python -m bench.bench_interleavings [--examples 10000] [--seed N]

The property of tests/faults/test_interleavings.py (see tests/faults/interleavings.py: the real
streaming engine against a model editor that rejects stale edits and reports every change late)
run for --examples Hypothesis examples. Printed: examples run, wall time, failures (Hypothesis
stops at the first failure and shrinks it; the minimal scenario is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import traceback

from hypothesis import HealthCheck, given, seed, settings
from tests.faults.interleavings import check, lags, run_scenario, steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    counts = {"examples": 0, "chunks": 0, "user_edits": 0, "rejected": 0, "stopped": 0}

    @settings(
        max_examples=args.examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(scenario=steps, echo_lags=lags, send_lags=lags)
    def prop(scenario: list, echo_lags: list[int], send_lags: list[int]) -> None:
        outcome = asyncio.run(run_scenario(scenario, echo_lags, send_lags))
        counts["examples"] += 1
        done = next((i for i, s in enumerate(scenario) if s[0] == "cancel"), len(scenario))
        counts["chunks"] += sum(1 for s in scenario[:done] if s[0] == "chunk")
        counts["user_edits"] += sum(
            1 for s in scenario[:done] if s[0] in ("above", "below", "delete_above")
        )
        counts["rejected"] += outcome.rejected
        counts["stopped"] += outcome.error is not None
        check(outcome)

    if args.seed is not None:
        prop = seed(args.seed)(prop)
    started = time.monotonic()
    failures = 0
    try:
        prop()
    except Exception:
        failures = 1
        traceback.print_exc()
    elapsed = time.monotonic() - started
    print(
        f"examples: {counts['examples']} in {elapsed:.1f} s; failures: {failures}; "
        f"chunks fed: {counts['chunks']}, user edits: {counts['user_edits']}, "
        f"edits rejected as stale and retried: {counts['rejected']}, "
        f"runs stopped by the editor: {counts['stopped']}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
