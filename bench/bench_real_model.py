#!/usr/bin/env python3
"""Streaming with a real model at its own pace: typilot-lsp and llama.cpp's llama-server.

    .venv/bin/python -m bench.bench_real_model [--rounds N]

llama-server runs SmolLM2-135M-Instruct (Q4_1) on 127.0.0.1 with 2 threads and one slot
(`bash scripts/install-llama.sh` installs both). typilot-lsp (a real process over stdio, driven
by the e2e harness's editor, as in bench.bench_core) talks to it through the OpenAI-compatible
backend (`gen.fim: off`, temperature 0) via a loopback relay in this process that timestamps
every server-sent event carrying a token as it passes. For each run:

* first token -> first edit: from the first token whose text lands (the product's output filter,
  replayed over the recorded tokens, says which: a preamble such as "The code to fix is:" does
  not land) reaching the relay to the first `workspace/applyEdit` applied by the editor;
* last token -> last edit: from the last token whose text lands (the end of the stream when the
  filter released held lines only there) to the run's last applied edit (for `fix:`, the
  removal of the old code); what follows the code (usage, prose) still streams after it;
* tokens, the decode rate the server kept up (tokens / stream seconds), edits and edits/s.

The replay figures (bench.bench_core) are the same measures with a scripted Ollama.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.llama.llama_server import LlamaServer, find_llama

from bench.bench_core import TYPILOT_CMD, isolated_env, machine, start, stop
from bench.relay import Relay
from typilot_lsp.prefixes import Mode
from typilot_lsp.runs.output import OutputFilter
from typilot_lsp.runs.output.classify import wants_usage
from typilot_lsp.runs.output.shaper import LineShaper

RUNS = [
    (
        "gen",
        "fib.py",
        "import math\n\n# gen: a function fibonacci(n) returning the n-th Fibonacci number\n",
    ),
    (
        "gen",
        "primes.py",
        "# gen: is_prime(n) that says whether n is a prime number\n\nPRIMES = [2, 3]\n",
    ),
    ("gen", "words.py", "# gen: reverse_words(sentence) that reverses the order of the words\n"),
    (
        "fix",
        "avg.py",
        "# fix: it crashes on an empty list\ndef average(xs):\n    return sum(xs) / len(xs)\n",
    ),
    (
        "sum",
        "clamp.py",
        "# sum:\ndef clamp(value, low, high):\n    return max(low, min(value, high))\n",
    ),
]


class TokenRelay(Relay):
    """Timestamps each token event llama-server streams back."""

    def __init__(self, target_port: int) -> None:
        super().__init__(target_port)
        self.tokens: list[tuple[float, str]] = []  # (arrival, text) of each token event
        self._pending = b""

    def answered(self, state: Any, data: bytes) -> None:
        self._record(time.time(), data)

    def _record(self, now: float, data: bytes) -> None:
        lines = (self._pending + data).split(b"\n")
        self._pending = lines.pop()
        for line in lines:
            if not line.startswith(b"data: {"):
                continue
            with contextlib.suppress(ValueError, KeyError, IndexError, TypeError):
                content = json.loads(line[6:])["choices"][0]["delta"].get("content")
                if content:
                    self.tokens.append((now, content))


def landing(tokens: list[tuple[float, str]], command: str, instruction: str) -> tuple[float, float]:
    """When the first and the last token whose text lands arrived: the run's own output filter
    fed the recorded tokens one by one."""
    out = OutputFilter(
        LineShaper(
            indent="",
            mode=Mode.COMMENT if command == "sum" else Mode.INSERT,
            line_comment="#",
            keep_usage=wants_usage(instruction),
        )
    )
    first = last = None
    for arrival, text in tokens:
        if out.feed(text):
            first = arrival if first is None else first
            last = arrival
    if out.finish():
        last = tokens[-1][0]
        first = last if first is None else first
    if first is None or last is None:
        raise RuntimeError("nothing of the reply lands")
    return first, last


async def one_run(
    relay: TokenRelay, home: Path, command: str, name: str, text: str
) -> dict[str, Any]:
    settings = {
        "backend": "openai",
        "openai": {"baseUrl": f"http://127.0.0.1:{relay.port}/v1", "options": {"temperature": 0}},
        "gen": {"fim": "off"},
    }
    session = await start(TYPILOT_CMD, isolated_env(home / name), settings)
    try:
        await asyncio.sleep(2)  # a run starts in a settled server, not during its warm-up
        relay.tokens.clear()
        doc = session.editor.open(name, text)
        await session.editor.run_line(doc, 0 if text.startswith("#") else 2)
        await session.editor.wait_runs_done(timeout=300)
        tokens, edits = list(relay.tokens), list(session.edit_times)
        end = session.editor.progress_ends()[-1].message
    finally:
        await stop(session)
    if not tokens or not edits:
        raise RuntimeError(f"{name}: no tokens ({len(tokens)}) or no edits ({len(edits)}): {end}")
    instruction = text.split(f"{command}:", 1)[1].split("\n", 1)[0]
    first_landing, last_landing = landing(tokens, command, instruction)
    stream = max(tokens[-1][0] - tokens[0][0], 1e-9)
    streaming = max(edits[-1] - edits[0], 1e-9)
    return {
        "command": command,
        "name": name,
        "outcome": end,
        "tokens": len(tokens),
        "tok_s": (len(tokens) - 1) / stream if len(tokens) > 1 else 0.0,
        "stream_s": stream,
        "edits": len(edits),
        "edits_per_s": (len(edits) - 1) / streaming if len(edits) > 1 else 0.0,
        "first_ms": (edits[0] - first_landing) * 1000,
        "lag_ms": (edits[-1] - last_landing) * 1000,
        "tail_s": tokens[-1][0] - last_landing,
        "end_ms": (edits[-1] - tokens[-1][0]) * 1000,
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="times each run is repeated")
    parser.add_argument("--threads", type=int, default=1, help="llama-server threads (-t)")
    args = parser.parse_args()
    logging.getLogger("pygls").setLevel(logging.ERROR)
    install = find_llama()
    if install.missing:
        print(install.missing, file=sys.stderr)
        return 1
    print(f"machine: {machine()}")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="typilot-bench-") as tmp:
        home = Path(tmp)
        with LlamaServer(install, home / "llama.log", threads=args.threads) as llama:
            print(
                f"llama-server: SmolLM2-135M-Instruct Q4_1, -t {llama.threads}, "
                f"healthy {llama.load_seconds:.1f} s after start"
            )
            relay = TokenRelay(llama.port)
            await relay.start()
            try:
                print()
                print(
                    f"{'run':18}{'outcome':>10}{'tokens':>8}{'tok/s':>7}{'stream s':>9}{'edits':>7}"
                    f"{'edits/s':>9}{'1st token->1st edit ms':>24}{'last token->last edit ms':>26}"
                    f"{'dropped tail s':>16}{'stream end->last edit ms':>26}"
                )
                for _ in range(args.rounds):
                    for command, name, text in RUNS:
                        row = await one_run(relay, home, command, name, text)
                        rows.append(row)
                        print(
                            f"{command + ' ' + name:18}{row['outcome']:>10}{row['tokens']:8d}"
                            f"{row['tok_s']:7.0f}{row['stream_s']:9.2f}{row['edits']:7d}"
                            f"{row['edits_per_s']:9.1f}{row['first_ms']:24.1f}{row['lag_ms']:26.1f}"
                            f"{row['tail_s']:16.2f}{row['end_ms']:26.1f}"
                        )
            finally:
                await relay.stop()
    firsts = [r["first_ms"] for r in rows]
    lags = [r["lag_ms"] for r in rows]
    print()
    print(
        f"median over {len(rows)} runs: first token -> first edit {statistics.median(firsts):.1f} ms "
        f"(max {max(firsts):.1f}); last token -> last edit {statistics.median(lags):.1f} ms "
        f"(max {max(lags):.1f}); decode {statistics.median(r['tok_s'] for r in rows):.0f} tok/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
