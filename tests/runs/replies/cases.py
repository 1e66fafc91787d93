"""Real model replies for the output filter's tests: the requests, and how they were captured.

Each case is a document with one prefixed line, as a user would write it. `capture()` builds the
prompt exactly as a run does (`typilot_lsp.runs.prompt.build_prompt`), sends it to a real
llama.cpp server's `/v1/chat/completions` at temperature 0 (SmolLM2-135M-Instruct Q4_1) and saves
the raw reply as `<name>.txt` beside this file. To capture them again (the replies are whatever
the model says; tests/runs/test_output_filter_replies.py checks only properties of the result):

    .venv/bin/python -m tests.runs.replies.cases [NAME ...]   # all, or only the cases named
"""

from __future__ import annotations

import json
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
MAX_TOKENS = 400  # a bound, so that a looping reply is still a small fixture


@dataclass(frozen=True)
class Case:
    name: str
    language_id: str
    file_name: str
    text: str

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines(keepends=True)

    @property
    def prefix_line(self) -> int:
        for number, line in enumerate(self.lines):
            if any(f"{prefix}:" in line for prefix in ("gen", "fix", "sum")) and line.lstrip()[
                :2
            ] in ("# ", "//", "--"):
                return number
        raise ValueError(f"{self.name}: no prefix line")

    @property
    def command(self) -> str:
        line = self.lines[self.prefix_line]
        return next(c for c in ("gen", "fix", "sum") if f"{c}:" in line)

    @property
    def instruction(self) -> str:
        line = self.lines[self.prefix_line]
        return line.split(f"{self.command}:", 1)[1].strip()

    @property
    def indent(self) -> str:
        line = self.lines[self.prefix_line]
        return line[: len(line) - len(line.lstrip(" \t"))]


CASES = [
    Case(
        "gen-py-fibonacci",
        "python",
        "mathutil.py",
        "import math\n\n# gen: a function fibonacci(n) that returns the n-th Fibonacci number\n",
    ),
    Case(
        "gen-py-is-prime",
        "python",
        "primes.py",
        '"""Prime numbers."""\n\n# gen: is_prime(n) that says whether n is a prime number\n\n'
        "PRIMES = [2, 3, 5, 7]\n",
    ),
    Case(
        "gen-py-read-lines",
        "python",
        "files.py",
        "from pathlib import Path\n\n\n# gen: read_lines(path) returning the non-empty lines "
        "of a text file, stripped\n",
    ),
    Case(
        "gen-py-method",
        "python",
        "stack.py",
        "class Stack:\n    def __init__(self):\n        self.items = []\n\n"
        "    # gen: a push(item) method and a pop() method that raises IndexError when empty\n",
    ),
    Case(
        "gen-py-reverse-words",
        "python",
        "text.py",
        "# gen: reverse_words(sentence) that reverses the order of the words\n",
    ),
    Case(
        "fix-py-average",
        "python",
        "stats.py",
        "# fix: it crashes on an empty list\ndef average(numbers):\n"
        "    return sum(numbers) / len(numbers)\n\n\nprint('ok')\n",
    ),
    Case(
        "fix-py-factorial",
        "python",
        "fact.py",
        "# fix: factorial(0) must be 1\ndef factorial(n):\n    if n == 1:\n        return 1\n"
        "    return n * factorial(n - 1)\n",
    ),
    Case(
        "fix-py-max",
        "python",
        "maxes.py",
        "def largest(values):\n    # fix: it returns the smallest value\n    best = values[0]\n"
        "    for v in values:\n        if v < best:\n            best = v\n    return best\n",
    ),
    Case(
        "sum-py-word-counts",
        "python",
        "words.py",
        "# sum:\ndef word_counts(text):\n    counts = {}\n    for word in text.lower().split():\n"
        "        counts[word] = counts.get(word, 0) + 1\n    return counts\n",
    ),
    Case(
        "sum-py-clamp",
        "python",
        "clamp.py",
        "# sum:\ndef clamp(value, low, high):\n    return max(low, min(value, high))\n",
    ),
    Case(
        "gen-js-sum-array",
        "javascript",
        "sum.js",
        "// gen: a function sumArray(numbers) that adds up an array of numbers\n\n"
        "module.exports = { sumArray };\n",
    ),
    Case(
        "gen-js-capitalize",
        "javascript",
        "strings.js",
        "'use strict';\n\n// gen: capitalize(word) that upper-cases the first letter\n",
    ),
    Case(
        "fix-js-is-even",
        "javascript",
        "even.js",
        "// fix: it returns true for odd numbers\nfunction isEven(n) {\n  return n % 2 === 1;\n}\n",
    ),
    Case(
        "sum-js-debounce",
        "javascript",
        "debounce.js",
        "// sum:\nfunction debounce(fn, ms) {\n  let timer;\n  return (...args) => {\n"
        "    clearTimeout(timer);\n    timer = setTimeout(() => fn(...args), ms);\n  };\n}\n",
    ),
    Case(
        "gen-rust-square",
        "rust",
        "square.rs",
        "// gen: a function square(x: i32) -> i32\n\nfn main() {}\n",
    ),
    Case(
        "gen-go-max",
        "go",
        "max.go",
        "package main\n\n// gen: a function Max(a, b int) int\n",
    ),
    # The defects of issue 26, each on the document that showed it.
    Case(
        "gen-py-cheapest",
        "python",
        "shop.py",
        "import json\n\n\ndef load(path):\n    with open(path) as f:\n        return json.load(f)\n\n\n"
        "# gen: cheapest(items) returning the item with the lowest price\n\n\n"
        "def total(items):\n    return sum(item['price'] for item in items)\n",
    ),
    Case(
        "gen-py-mean-price",
        "python",
        "prices.py",
        "import json\n\n\ndef load(path):\n    with open(path) as f:\n        return json.load(f)\n\n\n"
        "# gen: mean_price(rows) the average of the price field of a list of dicts\n\n\n"
        "def total(items):\n    return sum(item['price'] for item in items)\n",
    ),
    Case(
        "fix-py-total",
        "python",
        "basket.py",
        "def total(items):\n    # fix: it should add the prices of the items\n    result = 0\n"
        "    for item in items:\n        result = item['price']\n    return result\n",
    ),
    Case(
        "gen-py-repeat",
        "python",
        "shop.py",
        "def total(items):\n    return sum(item['price'] for item in items)\n\n\n"
        "# gen: total(items) returning the sum of the prices\n",
    ),
    Case(
        "gen-py-csv",
        "python",
        "table.py",
        "import csv\n\n\ndef count(rows):\n    return len(rows)\n\n\n"
        "# gen: read_table(path) reading a CSV file into a list of rows\n",
    ),
    Case(
        "fix-py-total-fav",
        "python",
        "basket.py",
        "def most_fav(items):\n    return max(items, key=lambda item: item['likes'])\n\n\n"
        "def total(items):\n    # fix: it should add the prices of the items\n    result = 0\n"
        "    for item in items:\n        result = item['price']\n    return result\n",
    ),
]


def request_body(case: Case, model: str = "SmolLM2-135M-Instruct") -> dict[str, object]:
    """The chat request a run sends for this case, at temperature 0."""
    from typilot_lsp.runs.prompt import PromptInput, build_prompt
    from typilot_lsp.runs.targets import find_target

    target = None
    target_text = ""
    if case.command in ("fix", "sum"):
        found = find_target(case.lines, case.prefix_line, None)
        if found is not None:
            target = (found.first_line, found.last_line)
            target_text = "".join(case.lines[found.first_line : found.last_line + 1]).rstrip("\n")
    prompt = PromptInput(
        command=case.command,
        mode={"gen": "insert", "fix": "replace", "sum": "comment"}[case.command],
        instruction=case.instruction,
        language_id=case.language_id,
        file_name=case.file_name,
        lines=case.lines,
        prefix_line=case.prefix_line,
        target=target,
        target_text=target_text,
    )
    system, user = build_prompt(prompt, 6000)
    return {
        "model": model,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        "temperature": 0,
        "max_tokens": MAX_TOKENS,
        "stream": False,
    }


def reply_path(case: Case) -> Path:
    return HERE / f"{case.name}.txt"


def capture(base_url: str, names: frozenset[str] = frozenset()) -> None:
    for case in CASES:
        if names and case.name not in names:
            continue
        body = json.dumps(request_body(case)).encode()
        request = urllib.request.Request(
            base_url + "/chat/completions",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=300) as reply:
            answer = json.load(reply)
        choice = answer["choices"][0]
        reply_path(case).write_text(choice["message"]["content"])
        print(f"{case.name}: {len(choice['message']['content'])} chars, {choice['finish_reason']}")


def main() -> int:
    from tests.llama.llama_server import LlamaServer, find_llama

    install = find_llama()
    if install.missing:
        print(install.missing, file=sys.stderr)
        return 1
    with (
        tempfile.TemporaryDirectory() as tmp,
        LlamaServer(install, Path(tmp) / "llama.log") as server,
    ):
        capture(server.base_url, frozenset(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
