"""A reply stuck in a loop: the same few lines over and over until the token bound.

Small models do it often (SmolLM2-135M rewrote a class as `self.subtotal_cents_cents = 0`,
`self.shipped_cents_cents = 0`, ... 1,000 tokens long, bench/bench_latency.py). Nothing the
model writes after that can be worth the wait, so the run stops it (`OutputFilter.finished`).
"""

from __future__ import annotations

MAX_PERIOD = 4
"""The longest cycle of lines looked for."""
LOOP_LINES = 24
"""How many lines in a row must repeat one cycle: far more than code repeats itself (a table
of zeros is the rare exception, and it is cut where the token bound would cut it anyway)."""


class LoopDetector:
    """Fed the reply's text; `looping` once its last LOOP_LINES non-blank lines are one cycle
    of at most MAX_PERIOD lines, repeated."""

    def __init__(self) -> None:
        self._partial = ""
        self._lines: list[str] = []
        self.looping = False

    def feed(self, text: str) -> None:
        if self.looping or not text:
            return
        *complete, self._partial = (self._partial + text).split("\n")
        if not complete:
            return  # no line ended: the verdict cannot change
        for line in complete:
            stripped = line.strip()
            if stripped:
                self._lines.append(stripped)
        del self._lines[:-LOOP_LINES]
        self.looping = len(self._lines) == LOOP_LINES and any(
            self._cycles(period) for period in range(1, MAX_PERIOD + 1)
        )

    def _cycles(self, period: int) -> bool:
        lines = self._lines
        return all(lines[i] == lines[i - period] for i in range(period, len(lines)))
