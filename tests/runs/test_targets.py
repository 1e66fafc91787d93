"""What fix: and sum: work on (typilot_lsp.runs.targets)."""

from __future__ import annotations

from typilot_lsp.documents import split_lines
from typilot_lsp.runs.targets import block_below, find_target


def test_block_below_and_whole_file() -> None:
    lines = split_lines("# fix:\ndef f():\n    x = 1\n\n    return x\n\ny = 2\n")
    assert block_below(lines, 0) == (1, 4)
    last = split_lines("a = 1\nb = 2\n# sum:")
    target = find_target(last, 2, None)
    assert target is not None and (target.first_line, target.last_line) == (0, 1)
    inner = split_lines("def f():\n    # fix:\n    a = 1\n    b = 2\nc = 3\n")
    assert block_below(inner, 1) == (2, 3)
