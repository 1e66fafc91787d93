"""The output filter: fences, <think>, prose and indentation, on any chunk boundaries."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from typilot_lsp.prefixes import Mode
from typilot_lsp.runs.output import OutputFilter
from typilot_lsp.runs.output.shaper import LineShaper


def shaped(chunks: list[str], **kwargs: object) -> str:
    out = OutputFilter(LineShaper(**kwargs))  # type: ignore[arg-type]
    return "".join(out.feed(c) for c in chunks) + out.finish()


REPLY = (
    "<think>The user wants add.\nOk</think>\n"
    "Here is the function:\n```python\ndef add(a, b):\n    return a + b\n```\nIt adds.\n"
)


@pytest.mark.parametrize("split", range(len(REPLY) + 1))
def test_filter_gives_the_same_result_for_every_chunk_boundary(split: int) -> None:
    expected = "  def add(a, b):\n      return a + b"
    assert shaped([REPLY[:split], REPLY[split:]], indent="  ") == expected


@given(st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=60))
@settings(max_examples=200)
def test_filter_is_chunking_independent(sizes: list[int]) -> None:
    chunks, rest = [], REPLY
    for size in sizes:
        chunks.append(rest[:size])
        rest = rest[size:]
    chunks.append(rest)
    assert shaped(chunks, indent="") == "def add(a, b):\n    return a + b"


def test_plain_code_streams_without_holding_back() -> None:
    out = OutputFilter(LineShaper(indent="    "))
    assert out.feed("def add(a, b):") == "    def add(a, b):"
    assert out.feed("\n") == ""  # the line break waits for the next line's text
    assert out.feed("    return") == "\n        return"


def test_prose_without_fence_is_kept() -> None:
    assert shaped(["Sure, x = 1"], indent="") == "Sure, x = 1"


def test_comment_mode_wraps_every_line_and_strips_model_leaders() -> None:
    assert (
        shaped(["# Adds.\n\nReturns the sum.\n"], indent="  ", mode=Mode.COMMENT, line_comment="#")
        == "  # Adds.\n  # Returns the sum."
    )


def test_block_comment_mode_closes_at_the_end() -> None:
    text = shaped(["One.\nTwo."], indent="", mode=Mode.COMMENT, block_comment=("<!--", "-->"))
    assert text == "<!-- One.\n     Two. -->"


def test_crlf_output() -> None:
    assert shaped(["a\nb\n"], indent="", eol="\r\n") == "a\r\nb"


def test_unterminated_think_is_dropped() -> None:
    assert shaped(["x = 1\n<think>never ends"], indent="") == "x = 1"
