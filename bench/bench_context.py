"""Context from other files, measured: multi-file tasks through `typilot-lsp apply` and a real
model, with and without `context.otherFiles`.

    .venv/bin/python -m bench.bench_context [--limit N] [--only p01_slug,...] [--max-tokens 160]
        [--threads 1] [--json FILE]

Each folder of bench/context_tasks/ is a small workspace (Python, JavaScript, TypeScript, Go)
whose target file has one `gen:` or `fix:` line that needs definitions from other files of the
workspace (a function's signature, a class's attributes, an interface's fields, a Go method in
another file of the package). Its `task.json` names the target, the `needed` snippets of those
definitions, and the judge:

* `python`: `check.py` runs the target's code (asserts), 10 s timeout;
* `node`: `check.mjs` / `check.cjs` run with Node (if `node` is on PATH);
* `parse`: no compiler on this machine (TypeScript's `tsc` and Go are not installed): the target
  must parse without an error node (tree-sitter) and its code must use the needed names the way
  their definitions say (`uses`: regular expressions, e.g. `\\.displayName\\b`, `src\\.Fetch\\(`).

llama.cpp's `llama-server` runs SmolLM2-135M-Instruct (temperature 0, one thread) behind a
loopback relay that records every request, so "in the prompt" means in the request the model
got. Each task runs twice, with and without other files, one after the other on the same
server, without llama-server's prompt cache (`cache_prompt: false`: the first-token time is that
of reading the whole prompt, the cost of a larger one; in an editor the prewarm of the latency
work reads the stable part of a prompt before the run). Per language and setting it prints: runs, needed definitions in the prompt, target
parses, judge passed, median first-token time (from the run's history entry) and median prompt
tokens. Figures: docs/quality.md ("Context from other files").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.llama.llama_server import LlamaServer, find_llama

from bench.bench_latency import Relay
from bench.bench_quality import history_entries
from typilot_lsp.comments import language_from_path
from typilot_lsp.context import syntax

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "bench" / "context_tasks"
CHECK_TIMEOUT_S = 10.0
APPLY_TIMEOUT_S = 300.0
GRAMMARS = {"python": "python", "javascript": "javascript", "typescript": "typescript", "go": "go"}


@dataclass(frozen=True)
class Task:
    name: str
    folder: Path
    target: str
    needed: tuple[str, ...]
    judge: str
    uses: tuple[str, ...]

    @property
    def language(self) -> str:
        return language_from_path(self.target)


def load_tasks(only: set[str] | None = None, limit: int | None = None) -> list[Task]:
    tasks = []
    for folder in sorted(p for p in TASKS.iterdir() if (p / "task.json").is_file()):
        if only and folder.name not in only:
            continue
        meta = json.loads((folder / "task.json").read_text())
        tasks.append(
            Task(
                folder.name,
                folder,
                meta["target"],
                tuple(meta["needed"]),
                meta["judge"],
                tuple(meta.get("uses", ())),
            )
        )
    return tasks[:limit] if limit else tasks


@dataclass
class RunRecord:
    task: str
    language: str
    other_files: bool
    exit_status: int = -1
    in_prompt: bool = False
    parses: bool = False
    passed: bool | None = None
    """None: no judge on this machine (Node missing)."""
    first_token_ms: float | None = None
    prompt_tokens: int | None = None
    message: str = ""
    landed: str = field(default="", repr=False)


# -- judging ------------------------------------------------------------------------------------


def request_text(body: dict[str, Any]) -> str:
    """Every string the model got in one request (chat messages, FIM prefix/suffix/extra)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk({k: v for k, v in body.items() if k not in ("model", "stop")})
    return "\n".join(found)


def parses(language: str, text: str) -> bool:
    root = syntax.parse(GRAMMARS[language], text.encode("utf-8"))
    return root is not None and not root.has_error


def judge(task: Task, copy: Path, landed: str) -> bool | None:
    if task.judge == "python":
        command = [sys.executable, "check.py"]
    elif task.judge == "node":
        node = shutil.which("node")
        if node is None:
            return None
        script = next(n for n in ("check.mjs", "check.cjs") if (copy / n).is_file())
        command = [node, script]
    else:
        return all(re.search(pattern, landed) for pattern in task.uses)
    try:
        done = subprocess.run(
            command, cwd=copy, capture_output=True, timeout=CHECK_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


# -- running ------------------------------------------------------------------------------------


def settings_for(relay_port: int, other_files: bool, max_tokens: int) -> dict[str, Any]:
    return {
        "typilot": {
            "backend": "openai",
            "openai": {
                "baseUrl": f"http://127.0.0.1:{relay_port}/v1",
                # No prompt cache: each run reads its whole prompt, so the first-token times
                # compare what more context costs (a task's two runs share most of a prompt).
                "options": {"temperature": 0, "seed": 0, "cache_prompt": False},
            },
            "context": {"otherFiles": other_files},
            "gen": {"maxTokens": max_tokens},
            "fix": {"maxTokens": max_tokens * 2},
        }
    }


async def apply(
    workspace: Path, target: str, settings: Path, env: dict[str, str]
) -> tuple[int, str]:
    """`typilot-lsp apply` on the task's target, run from its workspace folder as a user
    would (`--workspace` says so explicitly: the copy is in no git repository)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "typilot_lsp",
        "apply",
        target,
        "--settings",
        str(settings),
        "--workspace",
        str(workspace),
        cwd=workspace,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _out, err = await asyncio.wait_for(process.communicate(), APPLY_TIMEOUT_S)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        return -1, "timed out"
    lines = err.decode(errors="replace").strip().splitlines()
    return process.returncode or 0, lines[-1] if lines else ""


async def run_one(
    task: Task, other_files: bool, relay: Relay, workdir: Path, env: dict[str, str], tokens: int
) -> RunRecord:
    label = "with" if other_files else "without"
    copy = workdir / label / task.name
    shutil.copytree(task.folder, copy)
    settings = copy.parent / f"{task.name}.settings.json"
    settings.write_text(json.dumps(settings_for(relay.port, other_files, tokens)))
    record = RunRecord(task.name, task.language, other_files)
    first = len(relay.exchanges)
    record.exit_status, record.message = await apply(copy, task.target, settings, env)
    bodies = [x.body for x in relay.exchanges[first:] if x.generates]
    timings = [x.timings for x in relay.exchanges[first:] if x.generates and x.timings]
    sent = "\n".join(request_text(body) for body in bodies)
    record.in_prompt = bool(bodies) and all(snippet in sent for snippet in task.needed)
    if timings:
        record.prompt_tokens = int(timings[0].get("prompt_n", 0) + timings[0].get("cache_n", 0))
    record.landed = (copy / task.target).read_text(encoding="utf-8")
    record.parses = parses(task.language, record.landed)
    record.passed = judge(task, copy, record.landed)
    return record


async def run_all(args: argparse.Namespace, tasks: list[Task], workdir: Path) -> list[RunRecord]:
    install = find_llama()
    if install.missing:
        raise SystemExit(install.missing)
    env = dict(os.environ)
    env.pop("OLLAMA_HOST", None)
    env["TYPILOT_HISTORY_PATH"] = str(workdir / "history.sqlite3")
    env["TYPILOT_SETTINGS"] = str(workdir / "no-user-settings.json")
    records: list[RunRecord] = []
    with LlamaServer(install, workdir / "llama.log", threads=args.threads) as llama:
        relay = Relay(llama.port)
        await relay.start()
        try:
            for number, task in enumerate(tasks, 1):
                for other_files in (True, False):
                    record = await run_one(task, other_files, relay, workdir, env, args.max_tokens)
                    records.append(record)
                    print(
                        f"[{number}/{len(tasks)}] {task.name} other_files={other_files}: "
                        f"prompt={'yes' if record.in_prompt else 'no'} "
                        f"parses={record.parses} passed={record.passed} {record.message}",
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            await relay.stop()
    entries = history_entries(env)
    for record in records:
        label = "with" if record.other_files else "without"
        task = next(t for t in tasks if t.name == record.task)
        uri = (workdir / label / task.name / task.target).resolve().as_uri()
        value = entries.get(uri, {}).get("first_token_ms")
        record.first_token_ms = float(value) if isinstance(value, (int, float)) else None
    return records


# -- the table ----------------------------------------------------------------------------------


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.0f}" if values else "-"


def table(records: list[RunRecord]) -> str:
    rows = [
        "| language | other files | runs | needed definitions in the prompt | parses | "
        "judge passed | first token ms (median) | prompt tokens (median) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    languages = [*sorted({r.language for r in records}), "all"]
    for language in languages:
        for other_files in (True, False):
            group = [
                r
                for r in records
                if r.other_files == other_files and language in ("all", r.language)
            ]
            if not group:
                continue
            judged = [r for r in group if r.passed is not None]
            rows.append(
                f"| {language} | {'on' if other_files else 'off'} | {len(group)} | "
                f"{sum(r.in_prompt for r in group)}/{len(group)} | "
                f"{sum(r.parses for r in group)}/{len(group)} | "
                f"{sum(bool(r.passed) for r in judged)}/{len(judged)} | "
                f"{_median([r.first_token_ms for r in group if r.first_token_ms is not None])} | "
                f"{_median([float(r.prompt_tokens) for r in group if r.prompt_tokens])} |"
            )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="the first N tasks only")
    parser.add_argument("--only", default="", help="comma-separated task names")
    parser.add_argument("--max-tokens", type=int, default=160, help="gen.maxTokens (fix: twice)")
    parser.add_argument("--threads", type=int, default=1, help="llama-server threads")
    parser.add_argument("--json", default=None, help="write every run here")
    args = parser.parse_args(argv)
    only = {name for name in args.only.split(",") if name} or None
    tasks = load_tasks(only, args.limit)
    with tempfile.TemporaryDirectory(prefix="bench-context-") as tmp:
        records = asyncio.run(run_all(args, tasks, Path(tmp)))
    print(table(records))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in records], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
