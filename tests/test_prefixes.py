"""Prefixed lines (typilot_lsp.prefixes) and comment syntax per language (typilot_lsp.comments)."""

from __future__ import annotations

import pytest

from typilot_lsp.comments import comment_syntax, known_languages, line_comment_for
from typilot_lsp.prefixes import PrefixMatcher

PREFIXES = {"gen": "gen:", "fix": "fix:", "sum": "sum:"}


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
