"""A `gen:` line in a function's body and a reply that rewrites the whole function (as
SmolLM2 does for most HumanEval problems with the line in the body): only the body lands,
not a second copy of the function nested in itself. Any other reply is untouched and streams."""

from __future__ import annotations

import pytest

from typilot_lsp.runs.output import OutputFilter
from typilot_lsp.runs.output.classify import enclosing_name
from typilot_lsp.runs.output.shaper import LineShaper

REWRITE = '''```python
def truncate_number(number: float) -> float:
    """
    Return the decimal part.

    Returns:
        the part after the point
    """
    if number < 0:
        return -number % 1.0
    return number % 1.0
```

print(truncate_number(3.5))
'''
BODY = "    if number < 0:\n        return -number % 1.0\n    return number % 1.0"


def land(reply: str, size: int = 0, name: str | None = "truncate_number") -> str:
    out = OutputFilter(LineShaper(indent="    "), enclosing=name)
    chunks = [reply[i : i + size] for i in range(0, len(reply), size)] if size else [reply]
    return "".join(out.feed(chunk) for chunk in chunks) + out.finish()


@pytest.mark.parametrize("size", [0, 1, 2, 3, 7, 16])
def test_a_rewritten_enclosing_function_lands_as_its_body(size: int) -> None:
    assert land(REWRITE, size) == BODY


def test_a_multiline_signature_and_a_one_line_docstring() -> None:
    reply = "def truncate_number(\n    number: float,\n) -> float:\n    '''Decimal part.'''\n    return number % 1.0\n"
    assert land(reply, 1) == "    return number % 1.0"


def test_a_body_reply_streams_at_once() -> None:
    out = OutputFilter(LineShaper(indent="    "), enclosing="truncate_number")
    assert out.feed("    return num") == "    return num"


def test_another_function_is_not_unwrapped() -> None:
    reply = "def helper(x):\n    return x % 1.0\n"
    assert land(reply, 1) == land(reply, 1, name=None)
    assert "def helper(x):" in land(reply, 1)


def test_enclosing_name_only_for_a_function_or_class_body() -> None:
    lines = ["def f(x):\n", '    """Doc."""\n', "    # gen: the body\n"]
    assert enclosing_name(lines, 2) == "f"
    assert enclosing_name(["class A:\n", "    # gen: a method\n"], 1) == "A"
    assert enclosing_name(["def f(x):\n", "    if x:\n", "        # gen: y\n"], 2) is None
    assert enclosing_name(["# gen: top level\n"], 0) is None
