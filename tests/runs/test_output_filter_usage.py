"""The output filter keeps the code the user asked for and drops what only shows how to use it.

Synthetic replies shaped like the real ones in tests/runs/replies/ (the measured cases are in
test_output_filter_replies.py), each fed token-sized and in one piece: the result must not depend
on where the chunks split.
"""

from __future__ import annotations

import pytest

from typilot_lsp.prefixes import Mode
from typilot_lsp.runs.output import OutputFilter
from typilot_lsp.runs.output.classify import wants_usage
from typilot_lsp.runs.output.shaper import LineShaper


def shaped(reply: str, *, indent: str = "", keep_usage: bool = False, size: int = 0) -> str:
    out = OutputFilter(LineShaper(indent=indent, keep_usage=keep_usage))
    chunks = [reply[i : i + size] for i in range(0, len(reply), size)] if size else [reply]
    return "".join(out.feed(chunk) for chunk in chunks) + out.finish()


def same_for_every_split(reply: str, **kwargs: object) -> str:
    whole = shaped(reply, **kwargs)  # type: ignore[arg-type]
    for size in (1, 2, 3, 5, 8):
        assert shaped(reply, size=size, **kwargs) == whole, size  # type: ignore[arg-type]
    return whole


FIB = "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)"

CASES = {
    "print after the function": (f"{FIB}\n\nprint(fib(10))\n", FIB),
    "call and print": (f"{FIB}\n\nresult = fib(10)\nprint(result)\n", FIB),
    "data then print": (f"{FIB}\n\nnumbers = [1, 2, 3]\nprint([fib(x) for x in numbers])\n", FIB),
    "main guard": (f'{FIB}\n\n\nif __name__ == "__main__":\n    print(fib(5))\n', FIB),
    "example comment": (f"{FIB}\n\n# Example usage:\nfib(3)\n", FIB),
    "program output after a fix": (f"{FIB}\n\nprint(fib(6))\n8\n", FIB),
    "bare output": (f"{FIB}\n\n55\n", FIB),
    "repl session": (f"{FIB}\n\n>>> fib(10)\n55\n", FIB),
    "fenced, usage in a second block": (
        f"```python\n{FIB}\n```\n\n```python\nprint(fib(7))\n```\n",
        FIB,
    ),
    "fenced, prose, same function again": (
        f"```python\n{FIB}\n```\nOr, shorter:\n```python\ndef fib(n):\n    return n\n```\n",
        FIB,
    ),
    "a constant after the function stays": (
        f"{FIB}\n\nLIMIT = 30\n",
        f"{FIB}\n\nLIMIT = 30",
    ),
    "an import block after the code goes with the file's imports (OutputFilter.imports)": (
        "```python\ndef root(x):\n    return math.sqrt(x)\n```\nYou need:\n```python\nimport math\n```\n",
        "def root(x):\n    return math.sqrt(x)",
    ),
    "a helper the code calls stays, its example goes": (
        "```python\ndef area(r):\n    return PI * square(r)\n```\nwith\n```python\n"
        "def square(x):\n    return x * x\n\nprint(square(3))\n```\n",
        "def area(r):\n    return PI * square(r)\n\ndef square(x):\n    return x * x",
    ),
    "a helper the code does not call goes": (
        "```python\ndef area(r):\n    return 3.14 * r * r\n```\n```python\n"
        "def perimeter(r):\n    return 2 * 3.14 * r\n```\n",
        "def area(r):\n    return 3.14 * r * r",
    ),
    "two functions with usage between them": (
        "def a():\n    return 1\n\nprint(a())\n\ndef b():\n    return a() + 1\n\nprint(b())\n",
        "def a():\n    return 1\n\ndef b():\n    return a() + 1",
    ),
    "javascript console.log": (
        "function add(a, b) {\n  return a + b;\n}\n\nconsole.log(add(1, 2));\n",
        "function add(a, b) {\n  return a + b;\n}",
    ),
    "javascript export stays": (
        "function add(a, b) {\n  return a + b;\n}\n\nmodule.exports = { add };\n",
        "function add(a, b) {\n  return a + b;\n}\n\nmodule.exports = { add };",
    ),
    "rust main goes": (
        'fn square(x: i32) -> i32 {\n    x * x\n}\n\nfn main() {\n    println!("{}", square(3));\n}\n',
        "fn square(x: i32) -> i32 {\n    x * x\n}",
    ),
    "go main goes": (
        "func Max(a, b int) int {\n\tif a > b {\n\t\treturn a\n\t}\n\treturn b\n}\n\n"
        "func main() {\n\tfmt.Println(Max(1, 2))\n}\n",
        "func Max(a, b int) int {\n\tif a > b {\n\t\treturn a\n\t}\n\treturn b\n}",
    ),
    "a statement alone is the answer": ("print('hello')\n", "print('hello')"),
    "statements without a definition stay": (
        "total = 0\nfor x in items:\n    total += x\nprint(total)\n",
        "total = 0\nfor x in items:\n    total += x\nprint(total)",
    ),
}


@pytest.mark.parametrize(("reply", "expected"), CASES.values(), ids=CASES.keys())
def test_what_lands_is_the_code_asked_for(reply: str, expected: str) -> None:
    assert same_for_every_split(reply) == expected


def test_methods_keep_the_prefix_indentation_and_drop_usage() -> None:
    reply = "def push(self, item):\n    self.items.append(item)\n\nstack = Stack()\nstack.push(1)\n"
    assert same_for_every_split(reply, indent="    ") == (
        "    def push(self, item):\n        self.items.append(item)"
    )


def test_usage_the_user_asked_for_stays() -> None:
    reply = f"{FIB}\n\nprint(fib(10))\n"
    assert wants_usage("fib(n) and print fib(10)")
    assert not wants_usage("a function fibonacci(n)")
    assert wants_usage("parse a date, with an example") and wants_usage("slugify and add tests")
    # An instruction that describes behaviour asks for no usage (HumanEval's docstrings).
    assert not wants_usage("solve(N): the sum of its digits in binary. Example For N = 1000, 1")
    assert not wants_usage("add(lst): add the even elements. Examples: add([4, 2, 6, 7]) ==> 2")
    assert not wants_usage("fetch(url): calls the API and returns its output")
    assert same_for_every_split(reply, keep_usage=True) == f"{FIB}\n\nprint(fib(10))"


def test_the_first_block_streams_at_once() -> None:
    """Only top-level lines after a definition wait, each for its own line break."""
    out = OutputFilter(LineShaper(indent=""))
    assert out.feed("def fib") == "def fib"
    assert out.feed("(n):\n    return") == "(n):\n    return"
    assert out.feed(" n\n") == " n"
    assert out.feed("\nLIMIT") == ""  # top-level after a definition: decided at its end
    assert out.feed(" = 3\ndef g") == ""  # a constant: lands once code follows it
    assert out.feed("():\n") == "\n\nLIMIT = 3\ndef g():"
    assert out.feed("    pass\nprint(g())\n") == "\n    pass"
    assert out.finish() == ""


PREAMBLES = {
    "a sentence with a colon before the fence": (
        f"The code to fix is:\n\n```python\n{FIB}\n```\n\nThe task is done.\n",
        FIB,
    ),
    "a preamble, then code without a fence": (f"The corrected version is below:\n{FIB}\n", FIB),
    "a traceback block, then the code": (
        f"The error is:\n```\nTraceback (most recent call last):\n  File 'x.py'\nZeroDivisionError: "
        f"division by zero\n```\nFixed:\n```python\n{FIB}\n```\n",
        FIB,
    ),
    "only a traceback": ("The error is:\n```\nTraceback:\n    File 'stats.py', line 1\n```\n", ""),
    "a constant in capitals streams": ("PRIMES = [2, 3, 5]\n", "PRIMES = [2, 3, 5]"),
    "prose after unfenced code ends it": (
        f"{FIB}\n\nHere's the corrected code:\n```python\n{FIB}\n```\nThis works.\n",
        FIB,
    ),
}


@pytest.mark.parametrize(("reply", "expected"), PREAMBLES.values(), ids=PREAMBLES.keys())
def test_prose_and_program_output_around_the_code(reply: str, expected: str) -> None:
    assert same_for_every_split(reply) == expected


def test_a_summary_ends_at_its_example() -> None:
    out = OutputFilter(LineShaper(indent="", mode=Mode.COMMENT, line_comment="#"))
    reply = "Clamps a value.\n\nExample usage:\nclamp(10, 0, 5)  # 5\n"
    text = "".join(out.feed(reply[i : i + 3]) for i in range(0, len(reply), 3)) + out.finish()
    assert text == "# Clamps a value."


def test_a_definition_the_file_already_has_does_not_land_again() -> None:
    """A reply that rewrites the whole file: only what the run was for lands."""
    reply = (
        "def parse(text):\n    return text\n\n\ndef average(numbers):\n    if not numbers:\n"
        "        return 0.0\n    return sum(numbers) / len(numbers)\n\n\ndef words(text):\n"
        "    return text.split()\n"
    )
    expected = "def average(numbers):\n    if not numbers:\n        return 0.0\n    return sum(numbers) / len(numbers)"
    for size in (0, 1, 3, 7):
        out = OutputFilter(LineShaper(indent="", existing=frozenset({"parse", "words"})))
        chunks = [reply[i : i + size] for i in range(0, len(reply), size)] if size else [reply]
        assert "".join(out.feed(c) for c in chunks) + out.finish() == expected


def test_an_echoed_instruction_with_colons_is_prose() -> None:
    """SmolLM2 repeated the system message ("...reply with code only: no markdown fences...")
    before its fenced code; the colon made it look like code."""
    echo = (
        "You're a code generator inside a text editor. Your reply is inserted into the file "
        "verbatim, so reply with code only: no markdown fences, no explanations. Write python."
    )
    assert same_for_every_split(f"{echo}\n\n```python\n{FIB}\n```\n") == FIB


def test_a_reply_of_only_sentences_lands_nothing_in_code() -> None:
    reply = "The code is too long and hard to read. It's not very clear.\n\nIt's not concise."
    out = OutputFilter(LineShaper(indent=""))
    assert out.feed(reply) + out.finish() == ""
    assert out.dropped_prose
    text = OutputFilter(LineShaper(indent="", prose_answers=True))
    assert text.feed(reply) + text.finish() == reply
    assert not text.dropped_prose
    # Lines held while they might be prose keep their line breaks when they land.
    assert same_for_every_split("Sure, x = 1\ny = 2\n") == "Sure, x = 1\ny = 2"


def test_a_reply_that_loops_lands_its_definition_once() -> None:
    """SmolLM2 at the token bound: the same function again and again, the last copy cut off."""
    fixed = 'def add(a, b):\n    """Sum of a and b."""\n    return a + b'
    reply = f"{fixed}\n\n{fixed}\n\n{fixed}\n\n" + 'def add(a, b):\n    """Sum of'
    assert same_for_every_split(reply) == fixed
    assert same_for_every_split(f"```python\n{reply}") == fixed


def test_a_fix_lands_its_target_and_the_helpers_it_calls_only() -> None:
    """SmolLM2's `fix:` of all_prefixes went on with fix_all_prefixes, then
    fix_all_prefixes_without_reversed_list, ... until the token bound cut one in half."""
    fixed = "def all_prefixes(s):\n    return [prefix(s, i) for i in range(len(s))]"
    helper = "def prefix(s, i):\n    return s[: i + 1]"
    loop = "def fix_all_prefixes(s):\n    return []\n\n\ndef fix_all_prefixes_without(s:"
    again = "def all_prefixes(s: str) -> list:\n    return []"
    reply = f"{fixed}\n\n\n{helper}\n\n\n{again}\n\n\n{loop}"
    for size in (0, 1, 3, 7):
        out = OutputFilter(LineShaper(indent="", expected=frozenset({"all_prefixes"})))
        chunks = [reply[i : i + size] for i in range(0, len(reply), size)] if size else [reply]
        assert "".join(out.feed(c) for c in chunks) + out.finish() == f"{fixed}\n\n\n{helper}"
    # Without a fix target (gen:), every new definition lands.
    assert shaped(f"{fixed}\n\n\n{loop}").endswith("def fix_all_prefixes_without(s:")


def test_overloads_and_setters_are_not_copies() -> None:
    prop = (
        "@property\ndef name(self):\n    return self._name\n\n"
        "@name.setter\ndef name(self, value):\n    self._name = value"
    )
    assert same_for_every_split(prop, indent="    ") == "\n".join(
        f"    {line}" if line else "" for line in prop.splitlines()
    )


def test_a_new_name_streams_at_once_beside_existing_ones() -> None:
    out = OutputFilter(LineShaper(indent="", existing=frozenset({"parse"})))
    assert out.feed("def fib") == "def fib"  # no existing name starts with "fib"
    out = OutputFilter(LineShaper(indent="", existing=frozenset({"parse"})))
    assert out.feed("def par") == ""  # could still be `parse`
    assert out.feed("tition(x):\n") == "def partition(x):"


@pytest.mark.parametrize(
    "reply",
    [
        # SmolLM2's fix: replies on HumanEval that quote code in their sentences.
        'The code you provided is not correct. The output is not "abc" but "abc".\n\n'
        'The function is not "def" but "def concatenate".\n',
        "The code is not correct. The function is not returning the correct result for "
        "x = 1.\n\nThe function is returning the correct result for x = 2, which is False.\n",
        # ...cut at the token bound in the middle of a sentence.
        "The task is to find the bug and fix it.\n\nThe task is to find the bug and fix it.\n\nThe",
    ],
)
def test_sentences_that_quote_code_are_still_only_sentences(reply: str) -> None:
    for size in (0, 1, 4):
        out = OutputFilter(LineShaper(indent=""))
        chunks = [reply[i : i + size] for i in range(0, len(reply), size)] if size else [reply]
        assert "".join(out.feed(c) for c in chunks) + out.finish() == ""
        assert out.dropped_prose


def test_a_closing_fence_without_an_opening_one_ends_the_code() -> None:
    """SmolLM2: code, usage, then a bare fence and a paragraph about the code."""
    reply = (
        f"{FIB}\n\nprint(fib(10))\n```\n\nThis Python function uses a recursive approach to "
        "compute the `n`-th number with `fib()`.\n"
    )
    assert same_for_every_split(reply) == FIB
    assert same_for_every_split(reply, keep_usage=True) == f"{FIB}\n\nprint(fib(10))"


def test_a_fix_reply_without_the_definition_does_not_replace_it() -> None:
    """SmolLM2's fix: of fib: sentences about the Fibonacci sequence and one formula."""
    reply = (
        "The Fibonacci sequence is a sequence where each term is the sum of the two before.\n\n"
        "fib(n) = fib(n-1) + fib(n-2)\n\nThis recursive definition allows for the sequence.\n"
    )
    out = OutputFilter(LineShaper(indent="", expected=frozenset({"fib"})))
    assert out.feed(reply) + out.finish() == ""
    assert out.dropped_prose
    # In a gen: the same reply is not only sentences: it lands as it is.
    assert same_for_every_split(reply) != ""


def test_a_preamble_that_quotes_code_does_not_land() -> None:
    preamble = (
        "You can use the `re` module to remove the `\\` from the `join` function. "
        "Here's how you can do it:"
    )
    reply = f"{preamble}\n\n```python\n{FIB}\n```\n\nThis will return the number.\n"
    assert same_for_every_split(reply) == FIB
