"""What a person waits for with a real local model: the prefix line typed, the action picked.

    .venv/bin/python -m bench.bench_latency [--pause 1.0] [--cps 10] [--rounds 1]
        [--server-path DIR] [--threads 2] [--json FILE] [--settings JSON]

llama.cpp's `llama-server` runs SmolLM2-135M-Instruct (Q4_1, `-c 4096`, the server's default
slots, `--threads` threads) behind a loopback relay in this process that records every request
(route, body) and what the server says it did (`timings`: prompt tokens evaluated and taken from
its cache, tokens generated). typilot-lsp runs as a real process over stdio, driven by the e2e
harness's editor with default settings (`backend: openai`, temperature 0), on three realistic
Python files of 2-8 kB (bench/latency_files/). In each file two runs, as a person makes them: a
new line opened where the code should go, the prefix line typed at `--cps` characters a second
(one `didChange` per keystroke), a pause of `--pause` seconds, then the code action asked for and
picked at once (`textDocument/codeAction`, `workspace/executeCommand`). Per run it prints

* pick -> first text: from the pick to the first `workspace/applyEdit` of the run, and to the
  model server's first text of the run ("model 1st": what reading the prompt costs, whatever
  the output filter then holds back);
* last text -> end: from the run's last edit to the end of its model request (the model server
  stops generating: the relay sees the connection close) and to the `$/progress` end;
* prompt tokens: how many the run's own request evaluated, of how many (`prompt_n` of
  `prompt_n + cache_n`), and how many requests sent before the pick evaluated (the prewarm);
* tokens generated (`predicted_n`) vs landed (the text the run left in the file, counted by the
  server's own tokenizer, `POST /tokenize`).

`--pause 0` picks the action the moment the last key is typed. `--server-path DIR` runs the
server from another checkout's `server/` folder (the same hour's "before", e.g. a `git worktree`
of the previous commit). A fresh llama-server per round and pause, so no round reuses another's
cache. Figures: docs/performance.md ("What a person waits for with a real model").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import json
import logging
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from tests.e2e.harness import Doc, Editor, start_editor, stop_editor
from tests.llama.llama_server import LlamaServer, find_llama

from bench.relay import Relay

ROOT = Path(__file__).resolve().parents[1]
FILES = ROOT / "bench" / "latency_files"


@dataclass(frozen=True)
class RunSpec:
    """One run: where its prefix line goes and what it says."""

    file: str
    anchor: str
    """The prefix line is opened above the first line that starts with this text ..."""
    line: str
    """... and this is typed on it (its indentation included)."""
    blank_after: bool = True
    """A blank line between the prefix line and the anchor (gen:); none for fix:/sum:, whose
    target is the code right below."""

    @property
    def command(self) -> str:
        return re.search(r"(gen|fix|sum):", self.line).group(1)  # type: ignore[union-attr]


RUNS = [
    RunSpec(
        "shop.py",
        "def orders_between(",
        "# gen: a function cheapest(items) that returns the in-stock item with the lowest price",
    ),
    RunSpec(
        "shop.py",
        "    def items(self)",
        "    # gen: a method total_value(self) returning the sum of price_cents * quantity",
    ),
    RunSpec(
        "textstats.py",
        "def summary(",
        "# gen: a function top_words(text, n) returning the n most frequent words",
    ),
    RunSpec(
        "textstats.py",
        "def average_word_length(",
        "# fix: it crashes on a text without words",
        blank_after=False,
    ),
    RunSpec(
        "tasks.py",
        "    def by_tag(",
        "    # gen: a method overdue(self, today) returning the open tasks that are overdue",
    ),
    RunSpec("tasks.py", "def save(", "# sum:", blank_after=False),
]


# -- the relay: what the model server was asked and what it did ---------------------------------


@dataclass
class Exchange:
    """One HTTP request through the relay (llama-server closes each connection after one)."""

    opened: float
    method: str = ""
    path: str = ""
    body: dict[str, Any] = field(default_factory=dict)
    closed: float | None = None
    first_token: float | None = None
    """When the model server sent the reply's first text (its prompt read)."""
    timings: dict[str, Any] = field(default_factory=dict)
    request: bytearray = field(default_factory=bytearray)

    def read_request(self, data: bytes) -> None:
        """Route and body as soon as the request is whole: a run's request is known while it
        streams, before the connection closes (llama-server may still be stopping)."""
        if self.method:
            return
        self.request += data
        head, sep, body = bytes(self.request).partition(b"\r\n\r\n")
        if not sep:
            return
        lines = head.split(b"\r\n")
        length = next(
            (
                int(v)
                for k, _, v in (x.partition(b":") for x in lines[1:])
                if k.strip().lower() == b"content-length"
            ),
            0,
        )
        first = lines[0].split()
        if len(body) < length or len(first) < 2:
            return
        with contextlib.suppress(ValueError):
            self.body = json.loads(body[:length]) if length else {}
        self.method, self.path = first[0].decode(), first[1].decode()

    @property
    def generates(self) -> bool:
        """A run's request (it streams), not a warm-up (at most one token, not streamed)."""
        return bool(self.body.get("stream")) and self.path.endswith(("/completions", "/infill"))


_TIMINGS = re.compile(rb'"timings":(\{[^{}]*\})')
_TEXT = re.compile(rb'"content":"[^"]')  # a chat delta or an /infill event with text


class ExchangeRelay(Relay):
    """Records each exchange with llama-server: what was asked, when its first text came back,
    and the server's own timings."""

    def __init__(self, target_port: int, dump: Path | None = None) -> None:
        super().__init__(target_port)
        self.dump = dump
        """Where each exchange's bytes are written (`--dump`), if anywhere."""
        self.exchanges: list[Exchange] = []

    def opened(self) -> Exchange:
        exchange = Exchange(opened=time.monotonic())
        self.exchanges.append(exchange)
        return exchange

    def asked(self, state: Exchange, data: bytes) -> None:
        state.read_request(data)

    def answered(self, state: Exchange, data: bytes) -> None:
        if state.first_token is None and _TEXT.search(data):
            state.first_token = time.monotonic()

    def closed(self, state: Exchange, request: bytes, response: bytes) -> None:
        state.closed = time.monotonic()
        if self.dump is not None:
            stem = self.dump / f"{self.exchanges.index(state) + 1:03d}"
            stem.with_suffix(".request").write_bytes(request)
            stem.with_suffix(".response").write_bytes(response)
        found = _TIMINGS.findall(response)
        if found:
            with contextlib.suppress(ValueError):
                state.timings = json.loads(found[-1])


# -- the editor side ----------------------------------------------------------------------------


class TimedList(list[Any]):
    """A progress report list that notes when each report arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, value: Any) -> None:
        self.times.append(time.monotonic())
        super().append(value)


class TimedReports(dict[Any, Any]):
    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = TimedList()
        return self[key]


@dataclass
class Row:
    file: str
    command: str
    run: int
    outcome: str
    pick_to_first_ms: float | None
    pick_to_model_text_ms: float | None
    """From the pick to the model server's first text of the run (what the prompt costs)."""
    last_to_model_end_ms: float | None
    last_to_progress_end_ms: float | None
    prompt_evaluated: int | None
    prompt_total: int | None
    warm_evaluated: int
    warm_requests: int
    generated: int | None
    landed: int
    requests: list[dict[str, Any]] = field(default_factory=list)
    """Each model request since the typing began: route, streamed, what the server did."""


def model_texts(requests: list[Exchange]) -> list[float]:
    return sorted(x.first_token for x in requests if x.first_token is not None)


def tokens_of(llama: LlamaServer, text: str) -> int:
    if not text:
        return 0
    status, body = llama.post("/tokenize", {"content": text})
    assert status == 200, body
    return len(body["tokens"])


def landed_text(before: str, after: str) -> str:
    """The lines the run put into the file (inserted or replacing others)."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    out = []
    for tag, _i1, _i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new).get_opcodes():
        if tag in ("insert", "replace"):
            out.extend(new[j1:j2])
    return "".join(out)


async def type_line(editor: Editor, doc: Doc, spec: RunSpec, cps: float) -> int:
    """Open a line above the anchor and type the prefix line on it; its line number."""
    start = doc.text.index("\n" + spec.anchor) + 1
    indent = spec.line[: len(spec.line) - len(spec.line.lstrip())]
    editor.type_at(doc, start, indent + ("\n\n" if spec.blank_after else "\n"))
    offset = start + len(indent)
    for char in spec.line[len(indent) :]:
        await asyncio.sleep(1 / cps)
        editor.type_at(doc, offset, char)
        offset += 1
    return doc.text[:start].count("\n")


async def one_run(
    editor: Editor,
    relay: ExchangeRelay,
    llama: LlamaServer,
    doc: Doc,
    spec: RunSpec,
    number: int,
    args: argparse.Namespace,
) -> Row:
    typing_from = len(relay.exchanges)
    line = await type_line(editor, doc, spec, args.cps)
    await asyncio.sleep(args.pause)
    before = doc.text
    edits: list[float] = []
    editor.before_apply = lambda _doc, _change: edits.append(time.monotonic())
    reports = editor.client.progress_reports
    known = set(reports)
    picked = time.monotonic()
    actions = await editor.code_actions(doc, line)
    action = next(a for a in actions if f": {spec.command}" in a.title)
    assert action.command is not None
    await editor.execute(action.command)
    token = await wait_for(lambda: next((t for t in reports if t not in known), None), 30)
    timed = reports[token]
    await wait_for(lambda: any(isinstance(r, types.WorkDoneProgressEnd) for r in timed), 600)
    progress_end = timed.times[-1]
    end = timed[-1]
    since_typing = relay.exchanges[typing_from:]
    run_requests = [x for x in since_typing if x.generates]
    if run_requests:
        # the model server may still be stopping after the run closed its stream
        await wait_for(lambda: all(x.closed for x in run_requests), 60)
    # a prewarm: the run's request asking for one token, not streamed (typing or the menu)
    warm = [x for x in since_typing if x.method == "POST" and x.body.get("stream") is False]
    last = run_requests[-1] if run_requests else None
    timings = last.timings if last else {}
    landed = landed_text(before, doc.text)
    last_edit = edits[-1] if edits else None
    return Row(
        file=spec.file,
        command=spec.command,
        run=number,
        outcome=(end.message or "done") if isinstance(end, types.WorkDoneProgressEnd) else "?",
        pick_to_first_ms=(edits[0] - picked) * 1000 if edits else None,
        pick_to_model_text_ms=(
            (first_texts[0] - picked) * 1000 if (first_texts := model_texts(run_requests)) else None
        ),
        last_to_model_end_ms=(
            (last.closed - last_edit) * 1000 if last and last.closed and last_edit else None
        ),
        last_to_progress_end_ms=(progress_end - last_edit) * 1000 if last_edit else None,
        prompt_evaluated=timings.get("prompt_n"),
        prompt_total=(
            timings["prompt_n"] + timings.get("cache_n", 0) if "prompt_n" in timings else None
        ),
        warm_evaluated=sum(int(x.timings.get("prompt_n", 0)) for x in warm),
        warm_requests=len(warm),
        generated=timings.get("predicted_n"),
        landed=tokens_of(llama, landed),
        requests=[
            {
                "path": x.path,
                "stream": x.body.get("stream"),
                "opened_ms": (x.opened - picked) * 1000,
                "closed_ms": (x.closed - picked) * 1000 if x.closed else None,
                **{k: x.timings.get(k) for k in ("prompt_n", "cache_n", "predicted_n")},
            }
            for x in since_typing
            if x.method == "POST"
        ],
    )


async def wait_for(probe: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached within {timeout:g} s")
        await asyncio.sleep(0.005)


def server_env(home: Path, server_path: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OLLAMA_HOST",)}
    env["HOME"] = str(home)
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        path = home / var.lower()
        path.mkdir(parents=True, exist_ok=True)
        env[var] = str(path)
    if server_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(server_path), env.get("PYTHONPATH", "")])
    return env


async def one_round(args: argparse.Namespace, home: Path, llama: LlamaServer) -> list[Row]:
    relay = ExchangeRelay(llama.port, args.dump)
    await relay.start()
    settings = {
        "backend": "openai",
        "openai": {"baseUrl": f"http://127.0.0.1:{relay.port}/v1", "options": {"temperature": 0}},
        **json.loads(args.settings),
    }
    editor = await start_editor(server_env(home, args.server_path), settings)
    editor.client.progress_reports = TimedReports()
    rows = []
    try:
        await asyncio.sleep(1)  # a person opens a file a moment after the editor started
        by_file: dict[str, list[RunSpec]] = {}
        for spec in RUNS:
            if not args.files or spec.file in args.files.split(","):
                by_file.setdefault(spec.file, []).append(spec)
        for name, specs in by_file.items():
            text = (FILES / name).read_text()
            doc = editor.open(f"{home.name}-{name}", text)
            await asyncio.sleep(1)  # reads the file before typing
            for number, spec in enumerate(specs, 1):
                row = await one_run(editor, relay, llama, doc, spec, number, args)
                rows.append(row)
                print_row(row)
            editor.close(doc)
    finally:
        await stop_editor(editor)
        await relay.stop()
    return rows


HEADER = (
    f"{'file':14}{'cmd':>4}{'run':>4}{'pick->1st ms':>13}{'model 1st':>10}{'last->model end':>16}"
    f"{'last->progress end':>19}{'prompt eval/total':>18}{'warm eval (req)':>16}"
    f"{'generated':>10}{'landed':>7}  outcome"
)


def fmt(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def print_row(row: Row) -> None:
    prompt = f"{fmt(row.prompt_evaluated, 'd')}/{fmt(row.prompt_total, 'd')}"
    warm = f"{row.warm_evaluated} ({row.warm_requests})"
    print(
        f"{row.file:14}{row.command:>4}{row.run:>4}{fmt(row.pick_to_first_ms):>13}"
        f"{fmt(row.pick_to_model_text_ms):>10}"
        f"{fmt(row.last_to_model_end_ms):>16}{fmt(row.last_to_progress_end_ms):>19}"
        f"{prompt:>18}{warm:>16}{fmt(row.generated, 'd'):>10}{row.landed:>7}  {row.outcome}",
        flush=True,
    )


def median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summary(rows: list[Row]) -> dict[str, Any]:
    later = [r for r in rows if r.run > 1]
    shares = [
        r.prompt_evaluated / r.prompt_total
        for r in later
        if r.prompt_evaluated is not None and r.prompt_total
    ]
    excess = [r.generated - (1.5 * r.landed + 32) for r in rows if r.generated is not None]
    return {
        "runs": len(rows),
        "pick_to_first_ms": median([r.pick_to_first_ms for r in rows]),
        "pick_to_first_ms_first_runs": median([r.pick_to_first_ms for r in rows if r.run == 1]),
        "pick_to_first_ms_later_runs": median([r.pick_to_first_ms for r in later]),
        "pick_to_model_text_ms": median([r.pick_to_model_text_ms for r in rows]),
        "last_to_model_end_ms": median([r.last_to_model_end_ms for r in rows]),
        "last_to_progress_end_ms": median([r.last_to_progress_end_ms for r in rows]),
        "later_runs_prompt_share": median(list(shares)),
        "generated": median([r.generated for r in rows]),
        "landed": median([r.landed for r in rows]),
        "generated_minus_1_5_landed_plus_32": median(list(excess)),
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pause", type=float, default=1.0, help="seconds before the pick")
    parser.add_argument("--cps", type=float, default=10.0, help="typing: characters a second")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2, help="llama-server threads (-t)")
    parser.add_argument("--server-path", type=Path, help="run the server from DIR (its server/)")
    parser.add_argument("--settings", default="{}", help="typilot settings (JSON) to add")
    parser.add_argument("--json", type=Path, help="write the rows and the summary here")
    parser.add_argument("--dump", type=Path, help="write each model request and answer here")
    parser.add_argument("--files", help="only these files (comma-separated), e.g. shop.py")
    args = parser.parse_args()
    logging.getLogger("pygls").setLevel(logging.ERROR)
    install = find_llama()
    if install.missing:
        print(install.missing, file=sys.stderr)
        return 1
    print(f"pause {args.pause:g} s, typing {args.cps:g} chars/s, llama-server -t {args.threads}")
    print(f"server: {args.server_path or 'this checkout'}; settings {args.settings}")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="typilot-latency-") as tmp:
        for round_ in range(args.rounds):
            home = Path(tmp) / f"round{round_}"
            home.mkdir()
            server = LlamaServer(install, home / "llama.log", threads=args.threads, parallel=None)
            with server as llama:
                print(HEADER)
                rows += await one_round(args, home, llama)
    result = summary(rows)
    print()
    for key, value in result.items():
        print(f"{key:40} {fmt(value, '.2f') if isinstance(value, float) else value}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "args": vars(args)
                    | {k: str(v) for k, v in vars(args).items() if isinstance(v, Path)},
                    "rows": [asdict(r) for r in rows],
                    "summary": result,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
