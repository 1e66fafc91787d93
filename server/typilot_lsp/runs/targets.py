"""What a run replaces: the prefix line, and for fix:/sum: the target below it."""

from __future__ import annotations

import attrs

from typilot_lsp.documents import content_length


def _indent_width(line: str) -> int:
    body = line.lstrip(" \t")
    lead = line[: len(line) - len(body)]
    return len(lead.expandtabs(4))


def _is_blank(line: str) -> bool:
    return not line.strip()


@attrs.frozen
class Target:
    """A span of the document as (line, col) code-point positions, end exclusive."""

    start: tuple[int, int]
    end: tuple[int, int]
    first_line: int
    last_line: int


def block_below(lines: list[str], prefix_line: int) -> tuple[int, int] | None:
    """The code block under the prefix line: first and last line, inclusive.

    It runs up to a blank line followed by code at or left of the prefix's
    indentation, or to the end of the enclosing block (a line indented less).
    """
    indent = _indent_width(lines[prefix_line])
    first = prefix_line + 1
    if first >= len(lines) or _is_blank(lines[first]):
        return None
    if _indent_width(lines[first]) < indent:
        return None
    last = first
    number = first + 1
    while number < len(lines):
        line = lines[number]
        if _is_blank(line):
            ahead = number + 1
            while ahead < len(lines) and _is_blank(lines[ahead]):
                ahead += 1
            if ahead >= len(lines) or _indent_width(lines[ahead]) <= indent:
                break
            number = ahead
            continue
        if _indent_width(line) < indent:
            break
        last = number
        number += 1
    return first, last


def line_span(lines: list[str], first: int, last: int) -> Target:
    return Target(
        start=(first, 0),
        end=(last, content_length(lines[last])),
        first_line=first,
        last_line=last,
    )


def find_target(
    lines: list[str],
    prefix_line: int,
    selection: tuple[tuple[int, int], tuple[int, int]] | None,
) -> Target | None:
    """The target of fix:/sum: per PRODUCT.md: selection, else block below, else whole file."""
    if selection is not None:
        (sl, sc), (el, ec) = selection
        if (sl, sc) != (el, ec):
            if el > sl and ec == 0:  # a selection of whole lines ends at column 0 of the next
                el, ec = el - 1, content_length(lines[el - 1])
            if sl <= prefix_line <= el:
                # The prefix line itself is not part of what it refers to.
                if prefix_line < el:
                    sl, sc = prefix_line + 1, 0
                elif prefix_line > sl:
                    el = prefix_line - 1
                    ec = content_length(lines[el])
                else:
                    return None
            if (sl, sc) < (el, ec):
                return Target(start=(sl, sc), end=(el, ec), first_line=sl, last_line=el)
    block = block_below(lines, prefix_line)
    if block is not None:
        return line_span(lines, *block)
    # Whole file, except the prefix line.
    others = [n for n in range(len(lines)) if n != prefix_line and not _is_blank(lines[n])]
    if not others:
        return None
    first, last = others[0], others[-1]
    if first < prefix_line < last:
        # The prefix sits inside: take what follows it, else what precedes it.
        after = [n for n in others if n > prefix_line]
        first, last = (after[0], after[-1]) if after else (first, prefix_line - 1)
    return line_span(lines, first, last)
