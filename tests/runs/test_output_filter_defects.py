"""The defects of issue 26, each on the reply that showed it (SmolLM2-135M-Instruct through
llama-server, in headless checks and in a Neovim session).

The replies of gen-py-method (a class re-declared around a `gen:` line), gen-py-mean-price (a
variant after the function asked for) and gen-py-repeat (a reply that only repeats `total`) were
captured again for tests/runs/replies/ (`python tests/runs/replies/cases.py NAME`); the three
below are written as SmolLM2 gave them in those sessions: at temperature 0 on the documents of
tests/runs/replies/ it did not give them again.
"""

from __future__ import annotations

from tests.runs.replies.cases import CASES, reply_path
from tests.runs.test_output_filter_replies import replay
from typilot_lsp.prefixes import Mode
from typilot_lsp.runs.output import OutputFilter
from typilot_lsp.runs.output.imports import import_insertion, import_names
from typilot_lsp.runs.output.reasons import NothingLanded
from typilot_lsp.runs.output.spec import OutputSpec

CASE = {case.name: case for case in CASES}

SHOP = (
    "import json\n\n\ndef load(path):\n    with open(path) as f:\n        return json.load(f)\n\n\n"
    "# gen: cheapest(items) returning the item with the lowest price\n\n\n"
    "def total(items):\n    return sum(item['price'] for item in items)\n"
)
CHEAPEST_REPLY = """```python
def cheapest(items):
    return min(items, key=lambda item: item['price'])


def cheapest_with_markdown(items):
    item = cheapest(items)
    return f"**{item['name']}**: {item['price']}"
```

This function returns the cheapest item. The `cheapest_with_markdown` function formats it."""

PANDAS_REPLY = """```python
import pandas as pd

def cheapest(items):
    return min(items, key=lambda item: item['price'])
```"""

BASKET = (
    "def total(items):\n    # fix: add the prices of the items\n    result = 0\n"
    "    for item in items:\n        result = item['price']\n    return result\n"
)
MOST_FAV_REPLY = """Here is the corrected code:

```python
def most_fav(items):
    return max(items, key=lambda item: item['likes'])
```

This function returns the most favourite item."""


def run(text: str, line: int, reply: str, mode: Mode = Mode.INSERT) -> tuple[str, OutputFilter]:
    """What lands from `reply` to the prefix line `line` of `text`, the same in any chunking."""
    lines = text.splitlines(keepends=True)
    instruction = lines[line].split(":", 1)[1].strip()
    target = (0, len(lines) - 1) if mode is Mode.REPLACE else None
    spec = OutputSpec(mode, "python", lines, line, instruction=instruction, target=target)
    results = []
    for size in (0, 1, 4, 9):
        out = OutputFilter.for_run(spec)
        chunks = [reply[i : i + size] for i in range(0, len(reply), size)] if size else [reply]
        results.append(("".join(out.feed(chunk) for chunk in chunks) + out.finish(), out))
    assert all(text == results[0][0] for text, _ in results), "depends on the chunking"
    return results[0]


def test_a_gen_lands_the_function_named_not_a_variant_after_it() -> None:
    text, _ = run(SHOP, 8, CHEAPEST_REPLY)
    assert text == "def cheapest(items):\n    return min(items, key=lambda item: item['price'])"


def test_a_variant_after_the_function_does_not_land_from_a_real_reply() -> None:
    case = CASE["gen-py-mean-price"]
    text, _ = replay(case, reply_path(case).read_text())
    assert "def mean_price(" in text and text.count("def ") == 1, text


def test_an_unused_import_does_not_land() -> None:
    text, out = run(SHOP, 8, PANDAS_REPLY)
    assert "import" not in text and text.startswith("def cheapest(items):")
    assert out.imports == []


def test_a_used_import_goes_with_the_file_imports() -> None:
    reply = PANDAS_REPLY.replace("return min(", "return pd.DataFrame(items).min(")
    text, out = run(SHOP, 8, reply)
    assert "import" not in text
    assert out.imports == ["import pandas as pd"]
    lines = SHOP.splitlines(keepends=True)
    assert import_insertion(lines, out.imports, "\n") == (1, "import pandas as pd\n")


def test_an_import_the_file_has_is_not_added_again() -> None:
    reply = "```python\nimport json\n\ndef dump(items):\n    return json.dumps(items)\n```"
    text, out = run(SHOP, 8, reply)
    assert text.startswith("def dump(items):") and out.imports == []


def test_import_names() -> None:
    assert import_names("import pandas as pd") == {"pd"}
    assert import_names("import os.path") == {"os"}
    assert import_names("from a.b import c, d as e") == {"c", "e"}
    assert import_names("from a import *") is None
    assert import_names("import { a, b as c } from 'm';") == {"a", "c"}
    assert import_names("const fs = require('fs');") == {"fs"}
    assert import_names('import "net/http"') == {"http"}
    assert import_names("use std::collections::{HashMap, HashSet};") == {"HashMap", "HashSet"}
    assert import_names("#include <stdio.h>") is None


def test_import_insertion_without_imports_goes_after_the_docstring() -> None:
    lines = ['"""Prices."""\n', "\n", "def f():\n", "    pass\n"]
    assert import_insertion(lines, ["import re"], "\n") == (1, "\nimport re\n")
    assert import_insertion(["x = 1\n"], ["import re"], "\n") == (0, "import re\n\n")


def test_a_fix_whose_reply_drops_the_target_keeps_the_code_and_says_so() -> None:
    text, out = run(BASKET, 1, MOST_FAV_REPLY, Mode.REPLACE)
    assert text == ""
    assert out.nothing_landed is NothingLanded.TARGET_MISSING
    assert out.nothing_landed_message("SmolLM2") == (
        "SmolLM2's reply did not give back `total`; the code was kept."
    )


def test_a_fix_lands_a_helper_written_before_its_target() -> None:
    reply = "def add(a, b):\n    return a + b\n\ndef total(items):\n    return sum(items)\n"
    text, out = run(BASKET, 1, reply, Mode.REPLACE)
    assert text == reply.rstrip("\n") and out.nothing_landed is None


def test_a_class_re_declared_around_a_gen_line_lands_only_the_new_methods() -> None:
    case = CASE["gen-py-method"]
    text, _ = replay(case, reply_path(case).read_text())
    assert "class Stack" not in text and "__init__" not in text
    assert "    def push(self, item):" in text and "    def pop(self):" in text


def test_a_reply_that_only_repeats_a_function_says_so() -> None:
    case = CASE["gen-py-repeat"]
    text, out = replay(case, reply_path(case).read_text())
    assert text == ""
    assert out.nothing_landed is NothingLanded.ONLY_REPEATED
    message = out.nothing_landed_message("SmolLM2")
    assert message == "SmolLM2's reply only repeated `total`, which the file already has."
    assert "returned no code" not in message
