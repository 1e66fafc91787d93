"""Unit tests of the core's pure parts: output filter, prefixes, documents, targets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from typilot_lsp.comments import comment_syntax, known_languages, line_comment_for
from typilot_lsp.documents import TypilotDocument, col_to_units, split_lines, units_to_col
from typilot_lsp.prefixes import PrefixMatcher
from typilot_lsp.runs.engine import map_position
from typilot_lsp.runs.output_filter import LineShaper, OutputFilter
from typilot_lsp.runs.targets import block_below, find_target

PREFIXES = {"gen": "gen:", "fix": "fix:", "sum": "sum:"}


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
        shaped(["# Adds.\n\nReturns the sum.\n"], indent="  ", mode="comment", line_comment="#")
        == "  # Adds.\n  # Returns the sum."
    )


def test_block_comment_mode_closes_at_the_end() -> None:
    text = shaped(["One.\nTwo."], indent="", mode="comment", block_comment=("<!--", "-->"))
    assert text == "<!-- One.\n     Two. -->"


def test_crlf_output() -> None:
    assert shaped(["a\nb\n"], indent="", eol="\r\n") == "a\r\nb"


def test_unterminated_think_is_dropped() -> None:
    assert shaped(["x = 1\n<think>never ends"], indent="") == "x = 1"


# -- prefixes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "line", "command", "instruction", "indent"),
    [
        ("python", "    # gen: parse an ISO date", "gen", "parse an ISO date", "    "),
        ("python", "gen: x", "gen", "x", ""),
        ("go", "\t// fix: nil map", "fix", "nil map", "\t"),
        ("sql", "-- sum:", "sum", "", ""),
        ("html", "  <!-- gen: nav -->", "gen", "nav", "  "),
        ("css", "/* fix: */", "fix", "", ""),
        ("clojure", ";;; gen: fib", "gen", "fib", ""),
        ("unknown-lang", "% GEN: loud", "gen", "loud", ""),
    ],
)
def test_prefix_lines(
    language: str, line: str, command: str, instruction: str, indent: str
) -> None:
    found = PrefixMatcher.build(language, PREFIXES).match(line + "\n")
    assert found is not None
    assert (found.command, found.instruction, found.indent) == (command, instruction, indent)


@pytest.mark.parametrize("line", ["x = 'gen: no'", "print(1)  # gen: trailing", "generator: 1", ""])
def test_not_prefix_lines(line: str) -> None:
    assert PrefixMatcher.build("python", PREFIXES).match(line) is None


def test_custom_prefixes_and_user_commands() -> None:
    matcher = PrefixMatcher.build("python", {**PREFIXES, "gen": "ai:"}, ["test:"])
    assert matcher.match("# ai: hi").command == "gen"  # type: ignore[union-attr]
    assert matcher.match("# gen: hi") is None
    assert matcher.match("# test: cover it").command == "test:"  # type: ignore[union-attr]


def test_comment_syntax_for_twenty_languages() -> None:
    assert len(known_languages()) >= 20
    assert line_comment_for("python") == ("#", "")
    assert line_comment_for("html") == ("<!--", "-->")
    assert comment_syntax("rust").line == "//"  # type: ignore[union-attr]


# -- documents ------------------------------------------------------------------------------


def test_split_lines_only_on_lsp_breaks() -> None:
    assert split_lines("a\r\nb\nc\rd\u2028e") == ["a\r\n", "b\n", "c\r", "d\u2028e"]


def test_utf16_columns() -> None:
    line = "a😀b\n"
    assert col_to_units(line, 2, "utf-16") == 3
    assert units_to_col(line, 3, "utf-16") == 2
    assert col_to_units(line, 2, "utf-8") == 5


def _offset(text: str, line: int, col: int) -> int:
    lines = split_lines(text)
    return sum(len(x) for x in lines[:line]) + col


edits = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=1),
        st.floats(min_value=0, max_value=1),
        st.text(alphabet="ab\n# gen:😀\r", max_size=12),
    ),
    max_size=25,
)


@given(st.text(alphabet="xy\n# fix:é😀", max_size=80), edits)
@settings(max_examples=300)
def test_incremental_changes_match_a_string_oracle(initial: str, changes: list) -> None:
    doc = TypilotDocument(
        "file:///t.py", initial, 1, "python", PrefixMatcher.build("python", PREFIXES)
    )
    oracle = initial
    for a, b, new in changes:
        lines = split_lines(oracle)
        l1 = int(a * (len(lines) - 1))
        l2 = int(b * (len(lines) - 1))
        l1, l2 = min(l1, l2), max(l1, l2)
        c1 = len(lines[l1].rstrip("\r\n")) // 2
        c2 = len(lines[l2].rstrip("\r\n"))
        if l1 == l2:
            c1, c2 = min(c1, c2), max(c1, c2)
        start, end = _offset(oracle, l1, c1), _offset(oracle, l2, c2)
        oracle = oracle[:start] + new + oracle[end:]
        doc.apply_edit(
            (l1, col_to_units(lines[l1], c1, "utf-16")),
            (l2, col_to_units(lines[l2], c2, "utf-16")),
            new,
            "utf-16",
        )
        assert doc.text == oracle
    fresh = TypilotDocument("u", oracle, 1, "python", PrefixMatcher.build("python", PREFIXES))
    assert doc.prefixed == fresh.prefixed


def test_map_position_cases() -> None:
    p = (3, 4)
    assert map_position(p, 0, 0, 0, 0, "x\n") == [(4, 4)]  # a line inserted above
    assert map_position(p, 3, 0, 3, 0, "ab") == [(3, 6)]  # typed earlier on the line
    assert map_position(p, 3, 4, 3, 4, "z") == [(3, 4), (3, 5)]  # exactly at: both candidates
    assert map_position(p, 5, 0, 6, 0, "") == [(3, 4)]  # below: unchanged
    assert map_position(p, 1, 0, 3, 2, "q") == [(1, 3)]  # joined lines above


# -- targets -------------------------------------------------------------------------------


def test_block_below_and_whole_file() -> None:
    lines = split_lines("# fix:\ndef f():\n    x = 1\n\n    return x\n\ny = 2\n")
    assert block_below(lines, 0) == (1, 4)
    last = split_lines("a = 1\nb = 2\n# sum:")
    target = find_target(last, 2, None)
    assert target is not None and (target.first_line, target.last_line) == (0, 1)
    inner = split_lines("def f():\n    # fix:\n    a = 1\n    b = 2\nc = 3\n")
    assert block_below(inner, 1) == (2, 3)
