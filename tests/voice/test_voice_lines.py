"""The line a voice command becomes, in each comment syntax."""

from __future__ import annotations

import pytest

from typilot_lsp.features.voice import prefixed_line


@pytest.mark.parametrize(
    ("language", "indent", "prefix", "instruction", "line"),
    [
        ("python", "", "gen:", "a parser for ISO dates", "# gen: a parser for ISO dates"),
        ("python", "    ", "fix:", "", "    # fix:"),
        ("javascript", "  ", "fix:", "handle null", "  // fix: handle null"),
        ("lua", "", "sum:", "", "-- sum:"),
        ("html", "  ", "gen:", "a nav bar", "  <!-- gen: a nav bar -->"),
        ("css", "", "gen:", "a red button", "/* gen: a red button */"),
        ("python", "\t", "test:", "empty input", "\t# test: empty input"),
    ],
)
def test_prefixed_line(
    language: str, indent: str, prefix: str, instruction: str, line: str
) -> None:
    assert prefixed_line(language, indent, prefix, instruction) == line
