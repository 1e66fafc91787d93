"""`sum:` comments keep to the file's width: wrapped as they stream, whatever the chunking."""

from __future__ import annotations

import pytest

from typilot_lsp.prefixes import Mode
from typilot_lsp.runs.output import OutputFilter
from typilot_lsp.runs.output.comments import usual_width
from typilot_lsp.runs.output.shaper import LineShaper

SUMMARY = (
    "This function reads the configuration file, merges it with the defaults and the "
    "environment, and returns the settings the server starts with.\nIt never writes the file."
)


def commented(reply: str, size: int = 0, **kwargs: object) -> str:
    out = OutputFilter(LineShaper(mode=Mode.COMMENT, **kwargs))  # type: ignore[arg-type]
    chunks = [reply[i : i + size] for i in range(0, len(reply), size)] if size else [reply]
    return "".join(out.feed(chunk) for chunk in chunks) + out.finish()


@pytest.mark.parametrize("size", [0, 1, 2, 5, 13])
def test_line_comments_wrap_at_the_width_and_keep_every_word(size: int) -> None:
    text = commented(SUMMARY, size, indent="    ", line_comment="#", width=60)
    lines = text.split("\n")
    assert len(lines) > 2
    assert all(len(line) <= 60 for line in lines), lines
    assert all(line.startswith("    # ") for line in lines)
    words = " ".join(line.removeprefix("    # ") for line in lines).split()
    assert words == SUMMARY.split()
    assert text == commented(SUMMARY, 0, indent="    ", line_comment="#", width=60)


def test_block_comments_wrap_inside_the_block() -> None:
    text = commented(SUMMARY, 3, indent="", block_comment=("/*", "*/"), width=50)
    lines = text.split("\n")
    assert lines[0].startswith("/* ") and lines[-1].endswith("*/")
    assert all(line.startswith("   ") for line in lines[1:])
    assert all(len(line) <= 50 for line in lines), lines


def test_crlf_files_stay_crlf_and_short_lines_are_untouched() -> None:
    text = commented(
        "Adds two numbers.\nReturns their sum.",
        1,
        indent="",
        line_comment="//",
        eol="\r\n",
        width=80,
    )
    assert text == "// Adds two numbers.\r\n// Returns their sum."
    wrapped = commented(SUMMARY, 4, indent="", line_comment="//", eol="\r\n", width=40)
    assert "\n" not in wrapped.replace("\r\n", "")
    assert all(len(line) <= 40 for line in wrapped.split("\r\n"))


def test_a_word_wider_than_the_width_stays_whole() -> None:
    url = "https://example.org/" + "a" * 90
    text = commented(f"See {url} for details.", 1, indent="", line_comment="#", width=40)
    assert url in text.split("\n")[1]


def test_no_width_no_wrapping() -> None:
    assert "\n" not in commented(SUMMARY.split("\n")[0], 1, indent="", line_comment="#")


def test_usual_width_is_the_files_95th_percentile_within_bounds() -> None:
    assert usual_width(["x = 1\n"] * 3) == 80  # too few lines to tell
    assert usual_width(["x = 1\n"] * 40) == 72
    assert usual_width([("y" * 90) + "\n"] * 40 + ["\n"] * 10) == 90
    assert usual_width([("z" * 300) + "\n"] * 40) == 120
    # A few long lines (a URL, a table) do not set the width.
    assert usual_width(["a" * 76 + "\n"] * 95 + ["b" * 200 + "\n"] * 5) == 76
