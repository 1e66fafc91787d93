"""What a user checks after a run with a real model, whatever the model's words were.

`written_part()` splits the file after a run into what was outside the run's reach (which must be
byte-identical to before) and what the run wrote; `check_run()` asserts the rest: the prefix line
is gone, no markdown fence and no prose landed, the prefix line's indentation is kept, and for
`sum:` every written line is a comment.
"""

from __future__ import annotations

import re

FENCE = "```"
# A sentence: a capitalised word, three or more plain words, no code punctuation at all.
_SENTENCE = re.compile(r"^[A-Z][a-z']+(?:,? [A-Za-z'][A-Za-z'-]*){3,}[.:!]?$")
_BARE_OUTPUT = re.compile(r"^(?:output:?\s*)?-?\d+(?:\.\d+)?$", re.IGNORECASE)


def looks_like_prose(line: str) -> bool:
    return bool(_SENTENCE.match(line.strip()))


def written_part(before: str, after: str, prefix_line: int, last_line: int) -> str:
    """The text the run wrote in place of lines `prefix_line..last_line` of `before`.

    Asserts that everything above and below those lines is exactly as it was.
    """
    lines = before.splitlines(keepends=True)
    head = "".join(lines[:prefix_line])
    tail = "".join(lines[last_line + 1 :])
    assert after.startswith(head), f"the code above the run changed:\n{after}"
    assert after.endswith(tail), f"the code below the run changed:\n{after}"
    assert len(after) >= len(head) + len(tail), f"the run took code around it:\n{after}"
    return after[len(head) : len(after) - len(tail)]


def check_run(
    before: str,
    after: str,
    *,
    command: str,
    prefix_line: int,
    target_last: int | None = None,
    comment: str = "#",
) -> list[str]:
    """Asserts what a user checks after a finished `gen:`/`fix:`/`sum:`; returns the written lines.

    `target_last`: the last line of the code a `fix:` replaced (the prefix line for `gen:`;
    `sum:` keeps its code, so only the prefix line is replaced).
    """
    lines = before.splitlines(keepends=True)
    prefix = lines[prefix_line]
    indent = prefix[: len(prefix) - len(prefix.lstrip(" \t"))]
    last = target_last if command == "fix" and target_last is not None else prefix_line
    written = written_part(before, after, prefix_line, last)
    assert prefix.strip() not in after, f"the prefix line is still there:\n{after}"
    new_lines = [line for line in written.splitlines() if line.strip()]
    assert new_lines, f"the run wrote nothing:\n{after}"
    assert FENCE not in written, f"a markdown fence landed:\n{written}"
    for line in new_lines:
        assert line.startswith(indent), f"lost the prefix line's indentation {indent!r}: {line!r}"
        if command == "sum":
            assert line.strip().startswith(comment), f"a sum: line that is no comment: {line!r}"
        else:
            assert not looks_like_prose(line), f"prose landed in the code: {line!r}"
            assert not line.lstrip().startswith(comment + " Output"), f"program output: {line!r}"
            assert not _BARE_OUTPUT.match(line.strip()), f"program output landed: {line!r}"
    return new_lines
