"""Summaries the benches print."""

from __future__ import annotations


def percentile(values: list[float], q: float) -> float:
    """The `q`-th percentile (0-100) of `values`: the nearest rank, no interpolation."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]
