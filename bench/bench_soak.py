#!/usr/bin/env python3
"""Soak: many short runs in one Typilot server over stdio; RSS, asyncio tasks and fds stay flat.

    .venv/bin/python -m bench.bench_soak [--runs 1000] [--sample-every 50] [--trace]

One server process (`typilot_lsp`, as editors start it, plus one bench-only request that reports
its RSS, asyncio task count and open file descriptors) is driven by the e2e harness's editor
(pytest-lsp client) against the Ollama replay server (tests/replay/ollama, its own process).
Each run is what a user does: open a file with a `gen:` line, ask for the code action, run it,
wait for the stream to end, close the file. Every run is recorded in a history file in a temp
dir. Printed: a sample every --sample-every runs, then the least-squares slope of RSS (KiB per
100 runs, after a warm-up of --warmup runs) and the first and last task and fd counts.

--trace starts tracemalloc in the server and prints the 15 biggest growths between the end of
the warm-up and the end (what to look at when the slope is not flat).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

STATS_REQUEST = "typilot/_soakStats"
REPLY = "def added(a, b):\n    return a + b\n"


# -- the server side (run with --serve) ----------------------------------------------------------


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def serve(trace: bool) -> int:
    import logging

    from typilot_lsp.features.runs import RunsFeature
    from typilot_lsp.setup import create_server

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    if trace:
        tracemalloc.start(12)
    server = create_server()
    snapshots: dict[str, Any] = {}

    @server.feature(STATS_REQUEST)
    def stats(ls: Any, params: Any = None) -> dict[str, Any]:
        gc.collect()
        mark = getattr(params, "mark", None) if params is not None else None
        report: list[str] = []
        if trace and mark:
            snap = tracemalloc.take_snapshot()
            if mark == "end" and "warm" in snapshots:
                diff = snap.compare_to(snapshots["warm"], "traceback")
                for stat in diff[:15]:
                    lines = "\n    ".join(stat.traceback.format()[-6:])
                    report.append(
                        f"{stat.size_diff / 1024:+.1f} KiB {stat.count_diff:+d}\n    {lines}"
                    )
            snapshots[mark] = snap
        return {
            "rssKib": _rss_kib(),
            "tasks": len(asyncio.all_tasks()),
            "fds": len(os.listdir("/proc/self/fd")),
            "documents": len(ls.workspace.text_documents),
            "editors": len(ls.get_feature(RunsFeature).editors),
            "activeRuns": len(ls.get_feature(RunsFeature).manager.active),
            "pendingFutures": len(ls.protocol._request_futures),
            "report": report,
        }

    server.start_io()
    return 0


# -- the client side ----------------------------------------------------------------------------


async def soak(args: argparse.Namespace) -> int:
    from tests.e2e.harness import start_editor
    from tests.replay.ollama.process import ReplayOllamaProcess

    from bench.bench_core import isolated_env

    replay = ReplayOllamaProcess()
    replay.start()
    replay.add_rule(match="add two", reply=REPLY, tokens_per_second=2000)
    with tempfile.TemporaryDirectory(prefix="typilot-soak-") as tmp:
        cmd = [sys.executable, "-m", "bench.bench_soak", "--serve"]
        if args.trace:
            cmd.append("--trace")
        editor = await start_editor(isolated_env(Path(tmp), replay.url), cmd=cmd)
        client = editor.client

        async def sample(mark: str | None = None) -> dict[str, Any]:
            result = await client.protocol.send_request_async(
                STATS_REQUEST, {"mark": mark} if mark else {}
            )
            return result._asdict() if hasattr(result, "_asdict") else dict(result)

        samples: list[tuple[int, dict[str, Any]]] = []
        failures = 0
        started = time.monotonic()
        for i in range(1, args.runs + 1):
            doc = editor.open(f"soak{i}.py", "import math\n# gen: add two numbers\nprint(1)\n")
            ends = len(editor.progress_ends())
            await editor.run_line(doc, 1)
            await editor.wait_runs_done(ends + 1, timeout=60)
            if "return a + b" not in doc.text or "gen:" in doc.text:
                failures += 1
            editor.close(doc)
            del editor.docs[doc.uri]
            # progress reports are the client's own memory, not the server's
            client.progress_reports.clear()
            if i % args.sample_every == 0 or i == args.warmup:
                mark = "warm" if i == args.warmup else ("end" if i == args.runs else None)
                s = await sample(mark)
                samples.append((i, s))
                print(
                    f"run {i:5d}: rss {s['rssKib'] / 1024:7.1f} MiB  tasks {s['tasks']:3d}  "
                    f"fds {s['fds']:3d}  docs {s['documents']} editors {s['editors']} "
                    f"active {s['activeRuns']} futures {s['pendingFutures']}",
                    flush=True,
                )
                for line in s["report"]:
                    print(line)
        elapsed = time.monotonic() - started
        await client.shutdown_session()
    replay.stop()

    after = [(i, s) for i, s in samples if i >= args.warmup]
    xs = [float(i) for i, _ in after]
    ys = [float(s["rssKib"]) for _, s in after]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / max(
        1e-9, sum((x - mean_x) ** 2 for x in xs)
    )
    first, last = after[0][1], after[-1][1]
    print()
    print(
        f"runs: {args.runs} in {elapsed:.1f} s ({args.runs / elapsed:.1f} runs/s), failures: {failures}"
    )
    print(
        f"RSS slope after run {args.warmup}: {slope * 100:+.1f} KiB per 100 runs "
        f"({first['rssKib'] / 1024:.1f} -> {last['rssKib'] / 1024:.1f} MiB)"
    )
    print(
        f"asyncio tasks: {first['tasks']} -> {last['tasks']}; fds: {first['fds']} -> {last['fds']}"
    )
    return 0 if failures == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--sample-every", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.trace)
    return asyncio.run(soak(args))


if __name__ == "__main__":
    raise SystemExit(main())
