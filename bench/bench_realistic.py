"""What a reviewer would flag in realistic files: `gen:` and `sum:` with code all around.

HumanEval's files hold one function. Real files hold many, and a small model echoes its
context: asked for one function it writes again the ones around it, asked for a summary it
writes one long line. Each file here (Python, JavaScript, Go) has a `sum:` line above a
function and a `gen:` line between existing definitions; `typilot-lsp apply` runs them as a
user would (bottom-up, the real engine). Per run it counts

- repeats: top-level definitions a `gen:` run landed whose name the file already had, in the
  model's raw reply (what a plugin with no filter would insert) and in what landed;
- wide lines: `sum:` comment lines wider than the file's usual width (the 95th percentile of
  its line lengths, 72..120: `usual_width`), for the raw reply as one comment line per reply
  line and for what landed;

and the prompt tokens the model server evaluated (`timings.prompt_n` / `prompt_eval_count`:
with llama.cpp's prompt cache, the second run in a file reads only what differs from the
first) and the time to the first token.

    .venv/bin/python -m bench.bench_realistic [--base-url URL | --host URL] [--model NAME] [--out DIR]

Default backend: llama-server with SmolLM2-135M (`scripts/install-llama.sh`). Figures:
docs/quality.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bench.bench_quality import Backend, as_int, as_number, model_server, typilot_command
from typilot_lsp.comments import comment_syntax, language_from_path
from typilot_lsp.runs.output.comments import usual_width

ROOT = pathlib.Path(__file__).resolve().parents[1]

FILES: dict[str, str] = {
    "inventory.py": '''"""Stock levels for a small shop."""

from dataclasses import dataclass


@dataclass
class Item:
    sku: str
    name: str
    quantity: int
    price_cents: int


# sum:
def restock(items: list[Item], sku: str, amount: int) -> Item:
    for item in items:
        if item.sku == sku:
            item.quantity += amount
            return item
    raise KeyError(f"unknown SKU {sku!r}")


# gen: total_value(items) returning the value of all stock in cents
def low_stock(items: list[Item], threshold: int = 5) -> list[Item]:
    return [item for item in items if item.quantity < threshold]


def format_item(item: Item) -> str:
    return f"{item.sku:<8} {item.name:<20} {item.quantity:>4} {item.price_cents / 100:>8.2f}"
''',
    "textstats.py": """import re
from collections import Counter

WORD = re.compile(r"[A-Za-z']+")


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


# gen: function top_words(text, n) returning the n most common words with their counts
def sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\\s+", text.strip())
    return [p for p in parts if p]


# sum:
def average_sentence_length(text: str) -> float:
    found = sentences(text)
    if not found:
        return 0.0
    return sum(len(words(s)) for s in found) / len(found)


def vocabulary(text: str) -> set[str]:
    return set(words(text))


def counts(text: str) -> Counter[str]:
    return Counter(words(text))
""",
    "retry.py": """import random
import time


class RetryError(Exception):
    pass


def backoff_delays(attempts: int, base: float = 0.5, cap: float = 8.0) -> list[float]:
    return [min(cap, base * 2**n) for n in range(attempts)]


# gen: function call_with_retry(fn, attempts) calling fn until it succeeds, sleeping backoff_delays between tries
def jitter(delay: float) -> float:
    return delay * random.uniform(0.5, 1.5)


# sum:
def wait_for(predicate, timeout: float = 10.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
""",
    "cart.js": """'use strict';

const TAX_RATE = 0.2;

function subtotal(lines) {
  return lines.reduce((sum, line) => sum + line.price * line.quantity, 0);
}

// gen: function applyDiscount(lines, code) taking 10% off every line when code is "SAVE10"
function tax(amount) {
  return Math.round(amount * TAX_RATE * 100) / 100;
}

// sum:
function total(lines) {
  const net = subtotal(lines);
  return Math.round((net + tax(net)) * 100) / 100;
}

module.exports = { subtotal, tax, total };
""",
    "debounce.js": """// Small timing helpers for the search box.

export function debounce(fn, wait) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
}

// gen: function throttle(fn, interval) calling fn at most once per interval
export function once(fn) {
  let done = false;
  let value;
  return (...args) => {
    if (!done) {
      done = true;
      value = fn(...args);
    }
    return value;
  };
}

// sum:
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new Error('aborted'));
    });
  });
}
""",
    "wordcount.go": """package wordcount

import (
\t"sort"
\t"strings"
)

// Count returns how often each word occurs in text, case-insensitively.
func Count(text string) map[string]int {
\tcounts := make(map[string]int)
\tfor _, word := range strings.Fields(strings.ToLower(text)) {
\t\tcounts[word]++
\t}
\treturn counts
}

// gen: func Top(counts map[string]int, n int) []string returning the n most frequent words
func Unique(text string) []string {
\tcounts := Count(text)
\tout := make([]string, 0, len(counts))
\tfor word := range counts {
\t\tout = append(out, word)
\t}
\tsort.Strings(out)
\treturn out
}

// sum:
func Longest(text string) string {
\tbest := ""
\tfor _, word := range strings.Fields(text) {
\t\tif len(word) > len(best) {
\t\t\tbest = word
\t\t}
\t}
\treturn best
}
""",
}

# Two gen: runs in one file, for llama.cpp's prompt cache: apply runs bottom-up, so the second
# run's prompt repeats the first's up to the upper gen: line (system message, file header, the
# code above it) and the server evaluates only the rest.
CACHE_FILE = (
    FILES["inventory.py"]
    .replace("# sum:\n", "")
    .replace("# gen: total_value(items) returning the value of all stock in cents\n", "")
    + """

def by_name(items: list[Item]) -> dict[str, Item]:
    return {item.name: item for item in items}


# gen: cheapest(items) returning the item with the lowest price
def restock_all(items: list[Item], amount: int) -> None:
    for item in items:
        item.quantity += amount


# gen: most_valuable(items) returning the item whose stock is worth the most
def names(items: list[Item]) -> list[str]:
    return sorted(item.name for item in items)
"""
)

_NAMES = (
    re.compile(r"^(?:async\s+)?(?:def|class)\s+(\w+)"),
    re.compile(r"^(?:export\s+)?(?:default\s+)?(?:async\s+)?function\*?\s+(\w+)"),
    re.compile(r"^(?:export\s+)?(?:const|let|var)\s+(\w+)\s*=\s*(?:async\s*)?(?:function\b|\()"),
    re.compile(r"^func\s+(?:\([^)]*\)\s*)?(\w+)"),
)


def top_level_names(text: str) -> list[str]:
    """Names of the top-level definitions in a Python, JavaScript or Go file, in order."""
    names = []
    for line in text.splitlines():
        for pattern in _NAMES:
            found = pattern.match(line)
            if found:
                names.append(found.group(1))
                break
    return names


def repeats(original: str, prefix_line: str, inserted: str) -> int:
    """Definitions in `inserted` whose name the file has outside the prefix line."""
    have = set(top_level_names(original.replace(prefix_line, "")))
    return sum(1 for name in top_level_names(inserted) if name in have)


def added(before: str, after: str) -> list[str]:
    """The lines of `after` that `before` lacks (the runs' insertions), as a multiset diff."""
    pool: dict[str, int] = {}
    for line in before.splitlines():
        pool[line] = pool.get(line, 0) + 1
    out = []
    for line in after.splitlines():
        if pool.get(line, 0):
            pool[line] -= 1
        else:
            out.append(line)
    return out


def summary_lines(original: str, result: str, prefix: str, leader: str) -> list[str]:
    """The comment lines a `sum:` run left: the run of comment lines right above the code the
    prefix line stood over (other runs' code may hold comments of its own)."""
    lines = original.splitlines()
    at = lines.index(prefix) if prefix in lines else -1
    below = next((line for line in lines[at + 1 :] if line.strip()), None)
    after = result.splitlines()
    if at < 0 or below is None or below not in after:
        return []
    end = after.index(below)
    start = end
    while start > 0 and after[start - 1].lstrip().startswith(leader):
        start -= 1
    return after[start:end]


@dataclass
class Run:
    file: str
    command: str
    prompt_tokens: int | None
    first_token_ms: float | None
    total_ms: float | None
    repeats_raw: int | None  # gen
    repeats_landed: int | None
    wide_raw: int | None  # sum
    wide_landed: int | None
    width: int


def judge_file(
    name: str, original: str, result: str, entries: list[dict[str, object]]
) -> list[Run]:
    language = language_from_path(name)
    syntax = comment_syntax(language)
    leader = syntax.line if syntax and syntax.line else "#"
    width = usual_width(original.splitlines(keepends=True))
    lines_added = added(original, result)
    runs = []
    for entry in entries:
        command = str(entry.get("command"))
        reply = str(entry.get("response") or "")
        prefix = next(
            (
                line
                for line in original.splitlines()
                if line.lstrip().startswith(f"{leader} {command}:")
            ),
            "",
        )
        run = Run(
            file=name,
            command=command,
            prompt_tokens=as_int(entry.get("prompt_tokens")),
            first_token_ms=as_number(entry.get("first_token_ms")),
            total_ms=as_number(entry.get("total_ms")),
            repeats_raw=None,
            repeats_landed=None,
            wide_raw=None,
            wide_landed=None,
            width=width,
        )
        if command == "gen":
            run.repeats_raw = repeats(original, prefix, reply)
            code_added = [line for line in lines_added if not line.lstrip().startswith(leader)]
            run.repeats_landed = repeats(original, prefix, "\n".join(code_added))
        elif command == "sum":
            indent = prefix[: len(prefix) - len(prefix.lstrip())]
            raw_lines = [
                f"{indent}{leader} {line.strip()}" for line in reply.splitlines() if line.strip()
            ]
            run.wide_raw = sum(1 for line in raw_lines if len(line) > width)
            run.wide_landed = sum(
                1 for line in summary_lines(original, result, prefix, leader) if len(line) > width
            )
        runs.append(run)
    return runs


def history(env: dict[str, str]) -> list[dict[str, object]]:
    done = subprocess.run(
        [*typilot_command(), "history", "export"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def run_files(
    files: dict[str, str],
    backend: Backend,
    workdir: pathlib.Path,
    progress: bool = True,
    base_env: dict[str, str] | None = None,
) -> list[Run]:
    env = dict(os.environ if base_env is None else base_env)
    env["TYPILOT_HISTORY_PATH"] = str(workdir / "history.sqlite3")
    env.pop("OLLAMA_HOST", None)
    settings = workdir / "settings.json"
    settings.write_text(json.dumps({"typilot": backend.settings(None)}))
    results: dict[str, str] = {}
    for name, text in files.items():
        path = workdir / name
        path.write_text(text, encoding="utf-8")
        started = time.monotonic()
        done = subprocess.run(
            [*typilot_command(), "apply", str(path), "--settings", str(settings)],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=900,
        )
        results[name] = path.read_text(encoding="utf-8")
        if progress:
            tail = done.stderr.strip().splitlines()[-1:] or ["done"]
            print(f"{name}: {tail[0]} ({time.monotonic() - started:.1f} s)", file=sys.stderr)
    entries = history(env)
    runs = []
    for name, text in files.items():
        uri = (workdir / name).resolve().as_uri()
        mine = sorted(
            (e for e in entries if e.get("uri") == uri), key=lambda e: int(str(e.get("id", 0)))
        )
        runs.extend(judge_file(name, text, results[name], mine))
    return runs


def cache_runs(
    backend: Backend, workdir: pathlib.Path, base_env: dict[str, str] | None = None
) -> list[dict[str, object]]:
    """CACHE_FILE's two runs with llama.cpp's prompt cache off, then on (on only elsewhere)."""
    env = dict(os.environ if base_env is None else base_env)
    env["TYPILOT_HISTORY_PATH"] = str(workdir / "cache-history.sqlite3")
    env.pop("OLLAMA_HOST", None)
    rows: list[dict[str, object]] = []
    # On first: llama-server keeps earlier prompts in RAM, so a run after the "off" pass would
    # find its whole prompt there.
    for cache in (True, False) if backend.kind == "openai" else (True,):
        settings: dict[str, Any] = backend.settings(None)
        settings["gen"] = {"maxTokens": 128}  # the same bounded insertion both times
        if backend.kind == "openai":
            settings["openai"]["options"]["cache_prompt"] = cache
        folder = workdir / f"cache-{'on' if cache else 'off'}"
        uri = apply_file(folder / "inventory.py", CACHE_FILE, settings, env, check=True)
        mine = sorted(
            (e for e in history(env) if e.get("uri") == uri), key=lambda e: int(str(e.get("id", 0)))
        )
        for order, entry in enumerate(mine, 1):
            rows.append(
                {
                    "cache_prompt": cache,
                    "run": order,
                    "prompt_tokens": as_int(entry.get("prompt_tokens")),
                    "first_token_ms": as_number(entry.get("first_token_ms")),
                }
            )
    return rows


def apply_file(
    path: pathlib.Path,
    text: str,
    settings: dict[str, Any],
    env: dict[str, str],
    *,
    check: bool = False,
) -> str:
    """Write `text` to `path` and `settings` beside it, run `typilot-lsp apply` on it; its URI."""
    path.parent.mkdir(parents=True, exist_ok=True)
    settings_file = path.parent / "settings.json"
    settings_file.write_text(json.dumps({"typilot": settings}))
    path.write_text(text, encoding="utf-8")
    subprocess.run(
        [*typilot_command(), "apply", str(path), "--settings", str(settings_file)],
        capture_output=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=900,
        check=check,
    )
    return path.resolve().as_uri()


BUDGETS = (500, 1500, 3000, 6000, 8000)
BUDGET_SOURCE = ROOT / "server" / "typilot_lsp" / "runs" / "manager.py"


def budget_file() -> str:
    """A large real file (the run manager, ~19,000 characters) with a gen: line before the
    top-level definition nearest its middle."""
    lines = BUDGET_SOURCE.read_text(encoding="utf-8").splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith(("def ", "class "))]
    middle = min(starts, key=lambda i: abs(i - len(lines) // 2))
    gen = "# gen: function that returns how many runs in a list are still streaming\n"
    return "".join([*lines[:middle], gen, *lines[middle:]])


def budget_runs(
    backend: Backend, workdir: pathlib.Path, base_env: dict[str, str] | None = None
) -> list[dict[str, object]]:
    """Prompt tokens and first token per `context.maxChars`, each a cold read (cache off)."""
    env = dict(os.environ if base_env is None else base_env)
    env["TYPILOT_HISTORY_PATH"] = str(workdir / "budget-history.sqlite3")
    env.pop("OLLAMA_HOST", None)
    text = budget_file()
    rows: list[dict[str, object]] = []
    for budget in BUDGETS:
        settings: dict[str, Any] = backend.settings(budget)
        settings["gen"] = {"maxTokens": 48}  # the reply's length is not what is measured
        if backend.kind == "openai":
            settings["openai"]["options"]["cache_prompt"] = False
        uri = apply_file(workdir / f"budget-{budget}" / "manager.py", text, settings, env)
        entry = next((e for e in history(env) if e.get("uri") == uri), {})
        rows.append(
            {
                "budget": budget,
                "prompt_tokens": as_int(entry.get("prompt_tokens")),
                "first_token_ms": as_number(entry.get("first_token_ms")),
            }
        )
    return rows


def budget_markdown(rows: Sequence[dict[str, object]]) -> str:
    out = [
        f"One gen: run in {BUDGET_SOURCE.relative_to(ROOT)} ({len(budget_file())} characters), "
        "prompt cache off:",
        "",
        "| context.maxChars | prompt tokens | first token ms |",
        "|---|---|---|",
    ]
    for row in rows:
        out.append(f"| {row['budget']} | {row['prompt_tokens']} | {row['first_token_ms']} |")
    return "\n".join(out) + "\n"


def cache_markdown(rows: Sequence[dict[str, object]]) -> str:
    out = [
        f"Two gen: runs in one file ({len(CACHE_FILE)} characters), bottom-up:",
        "",
        "| cache_prompt | run | prompt tokens evaluated | first token ms |",
        "|---|---|---|---|",
    ]
    for row in rows:
        out.append(
            f"| {'on' if row['cache_prompt'] else 'off'} | {row['run']} | "
            f"{row['prompt_tokens']} | {row['first_token_ms']} |"
        )
    return "\n".join(out) + "\n"


def markdown(runs: Sequence[Run]) -> str:
    rows = [
        "| file | run | prompt tokens evaluated | first token ms | total ms | repeated definitions (raw → landed) | comment lines past the width (raw → landed) |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        rep = "" if run.repeats_raw is None else f"{run.repeats_raw} → {run.repeats_landed}"
        wide = (
            ""
            if run.wide_raw is None
            else f"{run.wide_raw} → {run.wide_landed} (width {run.width})"
        )
        rows.append(
            f"| {run.file} | {run.command} | {run.prompt_tokens} | {run.first_token_ms} | "
            f"{run.total_ms} | {rep} | {wide} |"
        )
    gen = [r for r in runs if r.repeats_raw is not None]
    summ = [r for r in runs if r.wide_raw is not None]
    rows.append("")
    rows.append(
        f"Totals: repeated definitions {sum(r.repeats_raw or 0 for r in gen)} raw → "
        f"{sum(r.repeats_landed or 0 for r in gen)} landed in {len(gen)} gen runs; comment lines "
        f"past the width {sum(r.wide_raw or 0 for r in summ)} raw → "
        f"{sum(r.wide_landed or 0 for r in summ)} landed in {len(summ)} sum runs."
    )
    return "\n".join(rows) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=None, help="an Ollama server (with --model)")
    parser.add_argument("--base-url", default=None, help="an OpenAI-compatible server's /v1 URL")
    parser.add_argument("--model", default=None, help="the model name on that server")
    parser.add_argument("--out", default=str(ROOT / "test-output" / "realistic"))
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    with contextlib.ExitStack() as stack:
        backend = model_server(args, stack, out)
        if backend is None:
            return 2
        workdir = pathlib.Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="typilot-real-"))
        )
        runs = run_files(FILES, backend, workdir)
        cache = cache_runs(backend, workdir)
        budgets = budget_runs(backend, workdir)
    wall = time.monotonic() - started
    header = (
        f"model: {backend.model} ({backend.kind}); files: {len(FILES)}; runs: {len(runs)}; "
        f"wall time {wall:.0f} s; load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after ({os.cpu_count()} CPUs)\n\n"
    )
    table = markdown(runs) + "\n" + cache_markdown(cache) + "\n" + budget_markdown(budgets)
    (out / "realistic.md").write_text(header + table, encoding="utf-8")
    (out / "realistic.json").write_text(
        json.dumps(
            {
                "model": backend.model,
                "wall_s": round(wall, 1),
                "runs": [asdict(r) for r in runs],
                "cache": cache,
                "budgets": budgets,
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    print(header + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
