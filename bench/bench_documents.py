#!/usr/bin/env python3
"""What one `didChange` costs the server on a 100,000-line file, in process.

    .venv/bin/python -m bench.bench_documents [--lines N] [--changes N]

The server is the real one (`create_server()`), fed JSON-RPC messages through pygls's own
dispatch (`protocol.handle_message`), with its output thrown away: `initialize`, one `didOpen`
of a Python file with --lines lines (a prefixed comment every 500 lines), then --changes
incremental `didChange` notifications, each typing one character at a random line, and as many
that insert a new prefixed line (a line break: the line array and the prefix index shift). Each
notification's handling time is measured around `handle_message` (pygls's workspace update and
every handler that runs for it). Printed: p50, p99 and mean per kind, in microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import statistics
import sys
import time
from typing import Any

from bench.in_process import server_with_open_document
from bench.stats import percentile

URI = "file:///bench/big.py"


def big_file(lines: int) -> str:
    out = []
    for number in range(lines):
        if number % 500 == 0:
            out.append(f"# gen: helper number {number}")
        else:
            out.append(f"    value_{number} = compute({number}) + {number % 7}")
    return "\n".join(out) + "\n"


async def run(lines: int, changes: int) -> dict[str, list[float]]:
    protocol = await server_with_open_document(URI, big_file(lines))

    def send(message: dict[str, Any]) -> float:
        structured = protocol.structure_message({"jsonrpc": "2.0", **message})
        began = time.perf_counter()
        protocol.handle_message(structured)
        return (time.perf_counter() - began) * 1e6

    rng = random.Random(7)
    version = 1
    times: dict[str, list[float]] = {"type one character": [], "insert a prefixed line": []}
    count = lines
    for _ in range(changes):
        for kind in times:
            version += 1
            line = rng.randrange(count - 1)
            if kind == "type one character":
                change = {
                    "range": {
                        "start": {"line": line, "character": 4},
                        "end": {"line": line, "character": 4},
                    },
                    "text": "x",
                }
            else:
                change = {
                    "range": {
                        "start": {"line": line, "character": 0},
                        "end": {"line": line, "character": 0},
                    },
                    "text": "# fix: tighten this\n",
                }
                count += 1
            times[kind].append(
                send(
                    {
                        "method": "textDocument/didChange",
                        "params": {
                            "textDocument": {"uri": URI, "version": version},
                            "contentChanges": [change],
                        },
                    }
                )
            )
            await asyncio.sleep(0)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=300)
    args = parser.parse_args()
    times = asyncio.run(run(args.lines, args.changes))
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    print(f"didChange on a {args.lines:,}-line file ({args.changes} of each kind), microseconds")
    print(f"{'change':28}{'p50':>10}{'p99':>10}{'mean':>10}")
    for kind, values in times.items():
        print(
            f"{kind:28}{percentile(values, 50):10.0f}{percentile(values, 99):10.0f}"
            f"{statistics.fmean(values):10.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
