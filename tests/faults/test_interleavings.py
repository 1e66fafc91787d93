"""Interleavings of user edits, stream chunks, cancels and late echoes (a quick profile; the
10,000-example run is bench/bench_interleavings.py)."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings

from tests.faults.interleavings import check, lags, run_scenario, steps

QUICK = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=False,
)


@QUICK
@given(scenario=steps, echo_lags=lags, send_lags=lags)
def test_keystrokes_survive_and_the_generated_text_is_contiguous(
    scenario: list[tuple[object, ...]], echo_lags: list[int], send_lags: list[int]
) -> None:
    check(asyncio.run(run_scenario(scenario, echo_lags, send_lags)))


def test_a_scenario_with_everything_at_once() -> None:
    scenario = [
        ("chunk", "def f():\n"),
        ("above", 0.5, "😀\r\n"),
        ("yield", 2),
        ("below", 0.2, "x\t𝄞"),
        ("chunk", "\treturn 1\n"),
        ("delete_above", 0.0),
        ("chunk", "é"),
        ("above", 1.0, "typed"),
        ("cancel",),
        ("chunk", "never fed"),
    ]
    outcome = asyncio.run(run_scenario(scenario, [3, 0, 5], [2, 0]))
    check(outcome)
    assert outcome.fed == "def f():\n\treturn 1\né"
    assert outcome.written == outcome.fed
    assert "😀\r\n" in outcome.head and "x\t𝄞" in outcome.tail
