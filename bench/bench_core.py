#!/usr/bin/env python3
"""Core figures of Typilot LSP, side by side with a bare pygls server, in one run.

    .venv/bin/python -m bench.bench_core [--quick] [--repeats N] [--requests N]

Both servers run as real processes over stdio, driven by the same LSP client (pytest-lsp's,
with the e2e harness's editor behaviour: it applies `workspace/applyEdit` to its copy of the
document and echoes each edit back as `didChange`). Printed:

* start-up: spawn to the `initialize` reply (median of --repeats starts, interleaved);
* codeAction latency p50/p99 on a 20,000-line Python file (client round trip);
* idle RSS of the server process with that file open;
* streaming, Typilot only, against the Ollama replay server (tests/replay/ollama) at 10, 100
  and 1,000 tok/s: edits per run and per second, time from the first token to the first
  applied edit, and the lag from Ollama's last line (`done`) to the last applied edit.

Targets (issue 3): codeAction p99 < 2 ms and within 1.5x of bare; initialize within 1.2x of
bare; RSS within 1.3x; lag < 50 ms; at most 40 edits per second.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from tests.e2e.harness import SERVER_CMD, Doc, Editor, start_editor
from tests.replay.ollama import tokenize
from tests.replay.ollama.process import ReplayOllamaProcess

from bench.stats import percentile

TYPILOT_CMD = SERVER_CMD
BARE_CMD = [sys.executable, "-m", "bench.bare_server"]
FILE_LINES = 20_000
PREFIX_EVERY = 500


@dataclass
class Session:
    editor: Editor
    pid: int
    init_seconds: float
    edit_times: list[float]


def isolated_env(home: Path, ollama_url: str | None = None) -> dict[str, str]:
    # Servers run as installed: bytecode cached (an editable install has no .pyc until then).
    env = {
        k: v for k, v in os.environ.items() if k not in ("OLLAMA_HOST", "PYTHONDONTWRITEBYTECODE")
    }
    env["HOME"] = str(home)
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        path = home / var.lower()
        path.mkdir(parents=True, exist_ok=True)
        env[var] = str(path)
    if ollama_url is not None:
        env["OLLAMA_HOST"] = ollama_url
    return env


async def start(
    cmd: list[str], env: dict[str, str], settings: dict[str, Any] | None = None
) -> Session:
    """A server started by `cmd`, initialized by the test editor; the time that took."""
    started = time.perf_counter()
    editor = await start_editor(env, settings, cmd=cmd)
    init_seconds = time.perf_counter() - started
    server = editor.client._server
    assert server is not None
    return Session(editor, server.pid, init_seconds, editor.applied_at)


async def stop(session: Session) -> None:
    await session.editor.client.shutdown_session()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def big_file() -> str:
    lines = []
    for number in range(FILE_LINES):
        if number % PREFIX_EVERY == PREFIX_EVERY // 2:
            lines.append(f"    # gen: helper number {number}")
        elif number % 10 == 0:
            lines.append(f"def function_{number}(value):")
        else:
            lines.append(f"    value = value * {number % 7} + {number}  # step {number}")
    return "\n".join(lines) + "\n"


def code_action_params(doc: Doc, rng: random.Random, index: int) -> types.CodeActionParams:
    """Mostly plain lines (cursor moves), every 10th a prefixed line, every 7th a selection."""
    prefixed = [n for n in range(FILE_LINES) if n % PREFIX_EVERY == PREFIX_EVERY // 2]
    line = rng.choice(prefixed) if index % 10 == 0 else rng.randrange(FILE_LINES)
    end = line + (rng.randrange(1, 40) if index % 7 == 0 else 0)
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=doc.uri),
        range=types.Range(
            start=types.Position(line=line, character=0),
            end=types.Position(line=min(end, FILE_LINES - 1), character=0),
        ),
        context=types.CodeActionContext(diagnostics=[]),
    )


async def static_figures(home: Path, requests: int) -> dict[str, dict[str, float]]:
    """Both servers at once, requests alternating, so machine noise hits both alike."""
    sessions = {
        "typilot": await start(TYPILOT_CMD, isolated_env(home / "typilot")),
        "bare": await start(BARE_CMD, isolated_env(home / "bare")),
    }
    try:
        docs = {name: s.editor.open(f"big-{name}.py", big_file()) for name, s in sessions.items()}
        times: dict[str, list[float]] = {name: [] for name in sessions}
        rng = random.Random(3)
        for index in range(requests + 50):
            params = code_action_params(docs["typilot"], rng, index)
            order = list(sessions.items())
            if index % 2:
                order.reverse()
            for name, session in order:
                params.text_document.uri = docs[name].uri
                began = time.perf_counter()
                await session.editor.client.text_document_code_action_async(params)
                if index >= 50:  # the first 50 warm up both sides
                    times[name].append((time.perf_counter() - began) * 1000)
        await asyncio.sleep(3)  # idle: let background warm-ups finish
        figures = {}
        for name, session in sessions.items():
            figures[name] = {
                "p50": statistics.median(times[name]),
                "p99": percentile(times[name], 99),
                "max": max(times[name]),
                "rss": rss_mib(session.pid),
            }
        return figures
    finally:
        for session in sessions.values():
            await stop(session)


async def handler_figures(requests: int) -> dict[str, float]:
    """Typilot's own share: the codeAction handler called in-process, no JSON-RPC around it."""
    from bench.in_process import server_with_open_document

    uri = "file:///bench/big.py"
    protocol = await server_with_open_document(uri, big_file())
    features = protocol.fm.features
    handler = features[types.TEXT_DOCUMENT_CODE_ACTION]
    doc = Doc(uri, "python", "")
    rng = random.Random(3)
    times = []
    for index in range(requests * 5):
        params = code_action_params(doc, rng, index)
        began = time.perf_counter()
        handler(params)
        times.append((time.perf_counter() - began) * 1e6)
    return {"p50": statistics.median(times), "p99": percentile(times, 99)}


async def startup_times(cmd: list[str], home: Path) -> float:
    session = await start(cmd, isolated_env(home))
    await stop(session)
    return session.init_seconds


def reply_of(tokens: int) -> str:
    lines = ["def generated(values):", "    total = 0"]
    number = 0
    while len(tokenize("\n".join(lines) + "\n")) < tokens - 6:
        lines.append(f"    total += values[{number}] * {number % 9}  # term {number}")
        number += 1
    lines.append("    return total")
    return "\n".join(lines) + "\n"


async def add_paced_rule(
    replay: ReplayOllamaProcess, match: str, reply: str, tps: float, first_delay: float
) -> None:
    """Answer prompts containing `match` with `reply`, paced at `tps` tokens per second."""
    rule = {
        "match": match,
        "reply": reply,
        "tokens_per_second": tps,
        "first_token_delay": first_delay,
    }
    await replay.call_async("POST", "/_replay/rules", rule)


async def stream_figures(
    replay: ReplayOllamaProcess, home: Path, tps: float, tokens: int
) -> dict[str, Any]:
    # gen.maxTokens 0: the 2,000-token reply streams whole (the default bound is 1,024 tokens)
    session = await start(
        TYPILOT_CMD, isolated_env(home / "stream", replay.url), {"gen": {"maxTokens": 0}}
    )
    try:
        await asyncio.sleep(3)  # a run starts in a settled server, not during its warm-up
        instruction = f"stream benchmark at {tps:g} tokens per second"
        # No trailing line break: the reply's last token is text that must reach the buffer.
        reply = reply_of(tokens).rstrip("\n")
        first_delay = 0.2
        # the only prefixed line: its instruction is in the chat prompt and in the
        # fill-in-the-middle prefix alike
        await add_paced_rule(replay, instruction, reply, tps, first_delay)
        doc = session.editor.open(f"stream-{tps:g}.py", f"import os\n\n# gen: {instruction}\n")
        since = len((await replay.call_async("GET", "/_replay/events"))["events"])
        await session.editor.run_line(doc, 2)
        await session.editor.wait_runs_done(timeout=tokens / tps * 3 + 30)
        events = (await replay.call_async("GET", f"/_replay/events?since={since}"))["events"]
        request = next(
            e
            for e in events
            if e["kind"] == "request" and e.get("path") in ("/api/chat", "/api/generate")
        )
        complete = next(e for e in events if e["kind"] == "complete")
        # The replay server sends the first token `first_delay` after the request and the
        # `done` line one token interval after the last token.
        first_token = request["time"] + first_delay
        last_token = complete["time"] - 1 / tps
        edits = session.edit_times
        assert doc.text == "import os\n\n" + reply + "\n", "the buffer differs from the reply"
        streaming = max(edits[-1] - edits[0], 1e-9)
        return {
            "tps": tps,
            "tokens": len(tokenize(reply)),
            "edits": len(edits),
            "edits_per_s": (len(edits) - 1) / streaming if len(edits) > 1 else 0.0,
            "first_ms": (edits[0] - first_token) * 1000,
            "lag_ms": (edits[-1] - last_token) * 1000,
            "stream_s": last_token - first_token,
        }
    finally:
        await stop(session)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{cpu}, {os.cpu_count()} CPUs, load {load:.1f}; {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}"
    )


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, shorter streams")
    parser.add_argument("--repeats", type=int, default=None, help="start-ups per server")
    parser.add_argument("--requests", type=int, default=None, help="code actions per server")
    parser.add_argument("--streams-only", action="store_true", help="only the streaming figures")
    args = parser.parse_args()
    logging.getLogger("pygls").setLevel(logging.ERROR)  # the client's own shutdown chatter
    repeats = args.repeats or (3 if args.quick else 15)
    requests = args.requests or (300 if args.quick else 2000)
    streams = [(10.0, 100 if args.quick else 300), (100.0, 1000), (1000.0, 2000)]

    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="typilot-bench-") as tmp:
        home = Path(tmp)
        if not args.streams_only:
            init: dict[str, list[float]] = {"typilot": [], "bare": []}
            for _ in range(repeats):  # interleaved, so load on the machine hits both alike
                init["typilot"].append(await startup_times(TYPILOT_CMD, home))
                init["bare"].append(await startup_times(BARE_CMD, home))
            static = await static_figures(home, requests)
            t_init = statistics.median(init["typilot"])
            b_init = statistics.median(init["bare"])
            ts, bs = static["typilot"], static["bare"]
            print()
            print(f"{'':34}{'typilot-lsp':>12}{'bare pygls':>12}{'ratio':>8}  target")
            print(
                f"{'initialize reply (median, ms)':34}{t_init * 1000:12.0f}{b_init * 1000:12.0f}"
                f"{ratio(t_init, b_init):>8}  <= 1.2x"
            )
            t_min, b_min = min(init["typilot"]), min(init["bare"])
            print(
                f"{'initialize reply (min, ms)':34}{t_min * 1000:12.0f}{b_min * 1000:12.0f}"
                f"{ratio(t_min, b_min):>8}  (least disturbed by load)"
            )
            print(
                f"{'codeAction p50 (ms)':34}{ts['p50']:12.3f}{bs['p50']:12.3f}"
                f"{ratio(ts['p50'], bs['p50']):>8}"
            )
            print(
                f"{'codeAction p99 (ms)':34}{ts['p99']:12.3f}{bs['p99']:12.3f}"
                f"{ratio(ts['p99'], bs['p99']):>8}  < 2 ms, <= 1.5x"
            )
            print(f"{'codeAction max (ms)':34}{ts['max']:12.3f}{bs['max']:12.3f}")
            inner = await handler_figures(requests)
            print(
                f"{'  of which in the handler (us)':34}"
                f"{inner['p50']:6.1f} p50 {inner['p99']:6.1f} p99   (in-process, no JSON-RPC)"
            )
            print(
                f"{'idle RSS, 20k-line file open (MiB)':34}{ts['rss']:12.1f}{bs['rss']:12.1f}"
                f"{ratio(ts['rss'], bs['rss']):>8}  <= 1.3x"
            )
            print(f"  ({FILE_LINES} lines, {requests} code actions each, {repeats} start-ups each)")

        print()
        print("streaming (typilot-lsp + Ollama replay server, editInterval 50 ms):")
        print(
            f"{'tok/s':>7}{'tokens':>8}{'stream s':>10}{'edits':>7}{'edits/s':>9}"
            f"{'1st token->1st edit ms':>24}{'last token->last edit ms':>26}"
        )
        replay = ReplayOllamaProcess()
        replay.start()
        try:
            for tps, tokens in streams:
                row = await stream_figures(replay, home, tps, tokens)
                print(
                    f"{row['tps']:7g}{row['tokens']:8d}{row['stream_s']:10.1f}{row['edits']:7d}"
                    f"{row['edits_per_s']:9.1f}{row['first_ms']:24.1f}{row['lag_ms']:26.1f}"
                )
        finally:
            replay.stop()
        print("  targets: lag < 50 ms, at most 40 edits/s")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
