#!/usr/bin/env python3
"""What Typilot LSP costs the machine while it streams: server CPU per 1,000 tokens.

    .venv/bin/python -m bench.bench_cpu [--rates 10,100,1000] [--tokens 1000] [--rounds 3]
                                        [--profile DIR] [--settings JSON]

On a laptop the model runs on the same CPU as the editor, so every millisecond the server spends
per token is taken from the model. Typilot runs as a real process over stdio, driven by the
pytest-lsp client of bench.bench_core (it applies each `workspace/applyEdit` and echoes it as
`didChange`, like an editor), against the Ollama replay server in its own process. Per rate, one
server:

* a first run (the one that opens the history store: SQLAlchemy loads once per process), then
  --rounds runs of a --tokens-token `gen:` reply at that rate;
* CPU of the server process (every thread: the sum of /proc/PID/task/*/schedstat, nanoseconds)
  from the code action to the progress end ("streaming"), and from then until the server is idle
  again ("after": recording the run in history);
* edits per run, first token -> first edit, last token -> last edit (as bench_core prints them).

Printed per rate: medians over the rounds, CPU scaled to 1,000 tokens. With --profile DIR the
server runs under cProfile and DIR/typilot-<rate>.prof holds where its main thread spent the
time (read it with `python -m pstats`).

Target (issue 16): <= 150 ms server CPU per 1,000 tokens at 10, 100 and 1,000 tok/s, with the
first text within 16 ms of the first token and the last within 16 ms of the last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.replay.ollama import tokenize
from tests.replay.ollama.process import ReplayOllamaProcess

from bench.bench_core import (
    BARE_CMD,
    FILE_LINES,
    PREFIX_EVERY,
    TYPILOT_CMD,
    Session,
    add_paced_rule,
    big_file,
    isolated_env,
    machine,
    reply_of,
    start,
    stop,
)

IDLE_QUIET_NS = 500_000
"""The server counts as idle once it used less than this much CPU in IDLE_WINDOW_S."""
IDLE_WINDOW_S = 0.2
FIRST_TOKEN_DELAY_S = 0.2


def wakeups(pid: int) -> int:
    """Voluntary context switches of every live thread of `pid`: how often it slept and woke."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def cpu_ns(pid: int) -> int:
    """CPU time of every live thread of `pid`, in nanoseconds (schedstat's first field)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue  # the thread ended between listing and reading
    return total


async def wait_idle(pid: int, deadline_s: float = 10.0) -> int:
    """Wait until the server stops using CPU; returns its CPU time then."""
    give_up = time.monotonic() + deadline_s
    before = cpu_ns(pid)
    while True:
        await asyncio.sleep(IDLE_WINDOW_S)
        now = cpu_ns(pid)
        if now - before < IDLE_QUIET_NS or time.monotonic() > give_up:
            return now
        before = now


async def one_run(
    session: Session, replay: ReplayOllamaProcess, tps: float, tokens: int, index: int
) -> dict[str, Any]:
    instruction = f"cpu benchmark run {index} at {tps:g} tokens per second"
    reply = reply_of(tokens).rstrip("\n")
    await add_paced_rule(replay, instruction, reply, tps, FIRST_TOKEN_DELAY_S)
    doc = session.editor.open(f"cpu-{tps:g}-{index}.py", f"import os\n\n# gen: {instruction}\n")
    # As a user: the code action shows (the light bulb) and is chosen a moment later.
    await session.editor.code_actions(doc, 2)
    await wait_idle(session.pid)
    since = len((await replay.call_async("GET", "/_replay/events"))["events"])
    edits_before = len(session.edit_times)
    began = cpu_ns(session.pid)
    woke = wakeups(session.pid)
    await session.editor.run_line(doc, 2)
    await session.editor.wait_runs_done(count=index + 1, timeout=tokens / tps * 3 + 30)
    streamed = cpu_ns(session.pid)
    woke = wakeups(session.pid) - woke
    settled = await wait_idle(session.pid)
    events = (await replay.call_async("GET", f"/_replay/events?since={since}"))["events"]
    request = next(
        e
        for e in events
        if e["kind"] == "request" and e.get("path") in ("/api/chat", "/api/generate")
    )
    complete = next(e for e in events if e["kind"] == "complete")
    edits = session.edit_times[edits_before:]
    if doc.text != "import os\n\n" + reply + "\n":
        raise SystemExit("the buffer differs from the reply: the figures would mean nothing")
    session.editor.close(doc)
    count = len(tokenize(reply))
    return {
        "tokens": count,
        "stream_ms_per_1k": (streamed - began) / 1e6 * 1000 / count,
        "after_ms": (settled - streamed) / 1e6,
        "wakeups_per_token": woke / count,
        "edits": len(edits),
        "first_ms": (edits[0] - (request["time"] + FIRST_TOKEN_DELAY_S)) * 1000,
        "lag_ms": (edits[-1] - (complete["time"] - 1 / tps)) * 1000,
    }


async def rate_figures(
    replay: ReplayOllamaProcess,
    home: Path,
    tps: float,
    tokens: int,
    rounds: int,
    profile: Path | None,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    cmd = list(TYPILOT_CMD)
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        out = profile / f"typilot-{tps:g}.prof"
        cmd = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "typilot_lsp"]
    session = await start(cmd, isolated_env(home / f"cpu-{tps:g}", replay.url), settings)
    try:
        await wait_idle(session.pid)  # a run starts in a settled server, after its warm-up
        first = await one_run(session, replay, tps, tokens, 0)
        runs = [await one_run(session, replay, tps, tokens, i + 1) for i in range(rounds)]
    finally:
        await stop(session)

    def median(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    return {
        "tps": tps,
        "tokens": runs[0]["tokens"],
        "first_run_stream": first["stream_ms_per_1k"],
        "first_run_after": first["after_ms"],
        "stream": median("stream_ms_per_1k"),
        "stream_min": min(r["stream_ms_per_1k"] for r in runs),
        "stream_max": max(r["stream_ms_per_1k"] for r in runs),
        "after": median("after_ms"),
        "wakeups": median("wakeups_per_token"),
        "edits": median("edits"),
        "first_ms": median("first_ms"),
        "lag_ms": median("lag_ms"),
    }


async def startup_code_actions(cmd: list[str], home: Path, requests: int) -> list[float]:
    """Round trips (ms) of the first `requests` code actions on a 20,000-line file opened
    right after `initialized`, while the server's start-up work (imports on a worker thread)
    may still be running."""
    session = await start(cmd, isolated_env(home))
    try:
        doc = session.editor.open("startup.py", big_file())
        prefixed = PREFIX_EVERY // 2
        times = []
        for index in range(requests):
            line = (prefixed + index * PREFIX_EVERY) % FILE_LINES
            began = time.perf_counter()
            await session.editor.code_actions(doc, line)
            times.append((time.perf_counter() - began) * 1000)
        return times
    finally:
        await stop(session)


async def startup_figures(home: Path, starts: int, requests: int) -> None:
    print()
    print(f"code actions right after start-up ({starts} starts each, interleaved):")
    print(
        f"{'':12}{'first ms (median)':>20}{'first ms (max)':>16}{f'max of first {requests} ms':>22}"
    )
    rows: dict[str, list[list[float]]] = {"typilot-lsp": [], "bare pygls": []}
    for index in range(starts):
        rows["typilot-lsp"].append(
            await startup_code_actions(TYPILOT_CMD, home / f"s{index}", requests)
        )
        rows["bare pygls"].append(
            await startup_code_actions(BARE_CMD, home / f"b{index}", requests)
        )
    for name, runs in rows.items():
        firsts = [r[0] for r in runs]
        worst = statistics.median(max(r) for r in runs)
        print(f"{name:12}{statistics.median(firsts):20.1f}{max(firsts):16.1f}{worst:22.1f}")
    print("  target: the first code action after didOpen of a 20k-line file <= 10 ms")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="10,100,1000", help="tokens per second, comma-separated")
    parser.add_argument("--tokens", type=int, default=1000, help="tokens per reply")
    parser.add_argument("--rounds", type=int, default=3, help="measured runs per rate")
    parser.add_argument("--profile", type=Path, help="run the server under cProfile into DIR")
    parser.add_argument("--starts", type=int, default=5, help="start-ups for the code actions")
    parser.add_argument("--startup-only", action="store_true", help="only the start-up figures")
    parser.add_argument(
        "--settings",
        type=json.loads,
        default=None,
        help='the `typilot` settings, JSON: \'{"streaming": {"maxEditIntervalMs": 1000}}\'',
    )
    args = parser.parse_args()
    logging.getLogger("pygls").setLevel(logging.ERROR)
    rates = [float(r) for r in args.rates.split(",")]
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="typilot-bench-cpu-") as tmp:
        if args.starts:
            await startup_figures(Path(tmp), args.starts, 20)
        if args.startup_only:
            return 0
        print(
            f"{'tok/s':>7}{'tokens':>7}{'CPU ms/1k tok':>15}{'(min-max)':>13}{'wakes/tok':>10}"
            f"{'after ms':>10}{'edits':>7}{'1st tok->1st edit':>19}{'last tok->last edit':>21}"
            f"{'1st run ms/1k + after':>23}"
        )
        replay = ReplayOllamaProcess()
        replay.start()
        try:
            for tps in rates:
                row = await rate_figures(
                    replay, Path(tmp), tps, args.tokens, args.rounds, args.profile, args.settings
                )
                spread = f"{row['stream_min']:.0f}-{row['stream_max']:.0f}"
                print(
                    f"{row['tps']:7g}{row['tokens']:7d}{row['stream']:15.0f}{spread:>13}"
                    f"{row['wakeups']:10.2f}{row['after']:10.1f}{row['edits']:7.0f}{row['first_ms']:17.1f} ms"
                    f"{row['lag_ms']:19.1f} ms"
                    f"{row['first_run_stream']:14.0f} + {row['first_run_after']:.0f}",
                    flush=True,
                )
        finally:
            replay.stop()
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print("  target: <= 150 ms CPU per 1,000 tokens; first and last text within 16 ms")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
