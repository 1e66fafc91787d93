"""A reply stuck in a loop (typilot_lsp.runs.output.loops): seen, and only then."""

from __future__ import annotations

from typilot_lsp.runs.output.loops import LOOP_LINES, LoopDetector

# SmolLM2-135M through llama-server, a `gen:` for a method (bench/bench_latency.py, shop.py):
# the reply rewrote the class and then wrote these four lines until the token bound.
CYCLE = [
    "        self.subtotal_cents_cents = 0\n",
    "        self.subtotal_cents_cents = 0\n",
    "        self.shipped_cents_cents = 0\n",
    "        self.shipped_cents_cents = 0\n",
]
HEAD = "class Order:\n    def __init__(self, sku):\n        self.sku = sku\n"


def fed(text: str, size: int = 7) -> LoopDetector:
    loops = LoopDetector()
    for i in range(0, len(text), size):
        loops.feed(text[i : i + size])
    return loops


def test_a_cycle_of_lines_repeated_to_the_bound_is_a_loop() -> None:
    assert fed(HEAD + "".join(CYCLE * (LOOP_LINES // 4))).looping
    assert fed(HEAD + "    x = 0\n" * LOOP_LINES).looping


def test_code_that_repeats_a_little_is_not() -> None:
    assert not fed(HEAD + "".join(CYCLE * (LOOP_LINES // 4 - 1))).looping
    table = "".join(f"    {i},\n" for i in range(100))
    assert not fed("DATA = [\n" + table + "]\n").looping
    five = "".join(f"    a{i % 5} = {i % 5}\n" for i in range(60))  # a cycle longer than 4
    assert not fed(five).looping
    blank_lines = "\n\n\n".join(["    pass"] * 3)
    assert not fed(blank_lines).looping
