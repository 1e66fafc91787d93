#!/usr/bin/env python3
"""Streaming with a real model at its own pace: typilot-lsp and llama.cpp's llama-server.

    .venv/bin/python bench/bench_real_model.py [--rounds N]

llama-server runs SmolLM2-135M-Instruct (Q4_1) on 127.0.0.1 with 2 threads and one slot
(`bash scripts/install-llama.sh` installs both). typilot-lsp (a real process over stdio, driven
by the e2e harness's editor, as in bench_core.py) talks to it through the OpenAI-compatible
backend (`gen.fim: off`, temperature 0) via a loopback relay in this process that timestamps
every server-sent event carrying a token as it passes. For each run:

* first token -> first edit: from the first token reaching the relay to the first
  `workspace/applyEdit` applied by the editor;
* last token -> last edit: from the reply's last token to the run's last applied edit (for
  `fix:`, the removal of the old code);
* tokens, the decode rate the server kept up (tokens / stream seconds), edits and edits/s.

The replay figures (bench_core.py) are the same measures with a scripted Ollama.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests" / "llama")]

from llama_server import LlamaServer, find_llama  # noqa: E402

from bench_core import TYPILOT_CMD, isolated_env, machine, start, stop  # noqa: E402

CONTENT = b'"delta":{"content":"'

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


class Relay:
    """A loopback TCP relay to llama-server that timestamps each token event it forwards."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.token_times: list[float] = []
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, record: bool) -> None:
            try:
                while data := await src.read(65536):
                    if record:
                        now = time.time()
                        self.token_times.extend(now for _ in range(data.count(CONTENT)))
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer, False), pipe(up_reader, writer, True))


async def one_run(relay: Relay, home: Path, command: str, name: str, text: str) -> dict[str, Any]:
    settings = {
        "backend": "openai",
        "openai": {"baseUrl": f"http://127.0.0.1:{relay.port}/v1", "options": {"temperature": 0}},
        "gen": {"fim": "off"},
    }
    session = await start(TYPILOT_CMD, isolated_env(home / name), settings)
    try:
        await asyncio.sleep(2)  # a run starts in a settled server, not during its warm-up
        relay.token_times.clear()
        doc = session.editor.open(name, text)
        await session.editor.run_line(doc, 0 if text.startswith("#") else 2)
        await session.editor.wait_runs_done(timeout=300)
        tokens, edits = list(relay.token_times), list(session.edit_times)
        end = session.editor.progress_ends()[-1].message
    finally:
        await stop(session)
    if not tokens or not edits:
        raise RuntimeError(f"{name}: no tokens ({len(tokens)}) or no edits ({len(edits)}): {end}")
    stream = max(tokens[-1] - tokens[0], 1e-9)
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
        "first_ms": (edits[0] - tokens[0]) * 1000,
        "lag_ms": (edits[-1] - tokens[-1]) * 1000,
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="times each run is repeated")
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
        with LlamaServer(install, home / "llama.log") as llama:
            print(
                f"llama-server: SmolLM2-135M-Instruct Q4_1, -t 2, healthy {llama.load_seconds:.1f} s after start"
            )
            relay = Relay(llama.port)
            await relay.start()
            try:
                print()
                print(
                    f"{'run':18}{'outcome':>10}{'tokens':>8}{'tok/s':>7}{'stream s':>9}{'edits':>7}"
                    f"{'edits/s':>9}{'1st token->1st edit ms':>24}{'last token->last edit ms':>26}"
                )
                for _ in range(args.rounds):
                    for command, name, text in RUNS:
                        row = await one_run(relay, home, command, name, text)
                        rows.append(row)
                        print(
                            f"{command + ' ' + name:18}{row['outcome']:>10}{row['tokens']:8d}"
                            f"{row['tok_s']:7.0f}{row['stream_s']:9.2f}{row['edits']:7d}"
                            f"{row['edits_per_s']:9.1f}{row['first_ms']:24.1f}{row['lag_ms']:26.1f}"
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
