"""The document store (typilot_lsp.documents): line splitting, encodings, incremental changes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from typilot_lsp.documents import TypilotDocument, col_to_units, split_lines, units_to_col
from typilot_lsp.prefixes import PrefixMatcher

PREFIXES = {"gen": "gen:", "fix": "fix:", "sum": "sum:"}


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


@given(
    st.lists(
        st.sampled_from(
            ["# gen: a", "# GEN: b", "x = 1  # Fix: c", "  # sum:", "gen:", "fix:fix:", "é", ""]
        ),
        max_size=30,
    )
)
def test_the_whole_text_index_is_every_line_matched(lines: list[str]) -> None:
    """The index of a new document (one `str.find` pass per prefix over the whole text) is
    what matching each line on its own gives."""
    matcher = PrefixMatcher.build("python", PREFIXES)
    doc = TypilotDocument("u", "\n".join(lines), 1, "python", matcher)
    by_line = {n: m for n, line in enumerate(doc.lines) if (m := matcher.match(line)) is not None}
    assert doc.prefixed == by_line
