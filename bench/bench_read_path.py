#!/usr/bin/env python3
"""What reading a model's stream costs, per 1,000 chunks, for each way of reading it.

    .venv/bin/python -m bench.bench_read_path [--rates 10,100] [--chunks 500] [--rounds 3]

A local model sends one token per HTTP chunk, so the read path runs once per token. A sender
process answers one request with an Ollama-shaped chunked NDJSON stream at the given rate; a
reader process reads it one of three ways and reports its own CPU (every thread, from
/proc/self/task/*/schedstat) from the first chunk to the last:

* `socket`: a bare asyncio Protocol counting bytes, no HTTP at all (the floor: what waking up
  for each chunk costs this machine);
* `lean`: httpx with Typilot's transport for local plain-HTTP servers (backends/transport.py:
  h11 fed in the socket's protocol), read as the Ollama backend reads it (`aiter_bytes`);
* `httpx`: httpx with its own transport (httpcore, anyio), read the same way.

Each round runs every way once, in turn, each in a fresh reader process; the table has the
medians. The figures go in docs/performance.md ("Server CPU").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

WAYS = ("socket", "lean", "httpx")
CHUNK = (
    json.dumps(
        {
            "model": "qwen2.5-coder:1.5b",
            "created_at": "2026-12-06T12:00:00.000000Z",
            "message": {"role": "assistant", "content": " token"},
            "done": False,
        }
    ).encode()
    + b"\n"
)


def cpu_ms() -> float:
    total = 0
    for task in Path("/proc/self/task").iterdir():
        total += int((task / "schedstat").read_text().split()[0])
    return total / 1e6


def send(port_file: str, chunks: int, gap: float) -> None:
    """Answer one request with `chunks` chunks, `gap` seconds apart, then end the stream."""
    listener = socket.create_server(("127.0.0.1", 0))
    Path(port_file).write_text(str(listener.getsockname()[1]))
    conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    request = b""
    while b"\r\n\r\n" not in request:
        request += conn.recv(65536)
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    for _ in range(chunks):
        conn.sendall(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
        time.sleep(gap)
    conn.sendall(b"0\r\n\r\n")
    conn.close()


async def read_socket(port: int) -> tuple[int, float]:
    loop = asyncio.get_running_loop()
    ended = loop.create_future()
    counted = {"bytes": 0, "first": 0.0}

    class Counter(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            if not counted["bytes"]:
                counted["first"] = cpu_ms()
            counted["bytes"] += len(data)
            if data.endswith(b"0\r\n\r\n"):
                ended.set_result(None)

    transport, _ = await loop.create_connection(Counter, "127.0.0.1", port)
    transport.write(b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    await ended
    transport.close()
    return counted["bytes"] // len(CHUNK), counted["first"]


async def read_httpx(port: int, lean: bool) -> tuple[int, float]:
    import httpx

    from typilot_lsp.backends.transport import loop_transport

    url = f"http://127.0.0.1:{port}"
    limits = httpx.Limits(max_keepalive_connections=0)
    transport = loop_transport(url, limits, trust_env=False) if lean else None
    lines, first = 0, 0.0
    async with (
        httpx.AsyncClient(transport=transport, limits=limits, trust_env=False) as client,
        client.stream("POST", url + "/api/chat", json={"model": "m"}) as response,
    ):
        async for data in response.aiter_bytes():
            if not lines:
                first = cpu_ms()
            lines += data.count(b"\n")
    return lines, first


def read(way: str, port: int) -> None:
    if way == "socket":
        chunks, first = asyncio.run(read_socket(port))
    else:
        chunks, first = asyncio.run(read_httpx(port, lean=way == "lean"))
    print(json.dumps({"chunks": chunks, "cpu_ms": cpu_ms() - first}))


def one(way: str, chunks: int, rate: float, tmp: Path) -> float:
    port_file = tmp / f"port-{way}"
    port_file.unlink(missing_ok=True)
    me = [sys.executable, "-m", "bench.bench_read_path"]  # the sender and the reader
    sender = subprocess.Popen([*me, "--send", str(port_file), str(chunks), str(1 / rate)])
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline:
                raise SystemExit("the sender did not start")
            time.sleep(0.01)
        out = subprocess.run(
            [*me, "--read", way, port_file.read_text()], capture_output=True, text=True, check=True
        )
    finally:
        sender.wait(timeout=chunks / rate + 30)
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    if figures["chunks"] < chunks - 1:
        raise SystemExit(f"{way}: read {figures['chunks']} of {chunks} chunks")
    # The first chunk's CPU is before the clock starts: per 1,000 of the rest.
    return figures["cpu_ms"] * 1000 / max(1, figures["chunks"] - 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="10,100", help="chunks per second, comma-separated")
    parser.add_argument("--chunks", type=int, default=500, help="chunks per stream")
    parser.add_argument("--rounds", type=int, default=3, help="streams per way and rate")
    parser.add_argument("--send", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--read", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.send:
        send(args.send[0], int(args.send[1]), float(args.send[2]))
        return 0
    if args.read:
        read(args.read[0], int(args.read[1]))
        return 0
    import tempfile

    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average {load:.1f}")
    print(f"{'chunks/s':>9}{'way':>8}{'CPU ms per 1,000 chunks':>25}{'(min-max)':>13}")
    with tempfile.TemporaryDirectory(prefix="typilot-read-path-") as tmp:
        for rate in (float(r) for r in args.rates.split(",")):
            results: dict[str, list[float]] = {way: [] for way in WAYS}
            for _ in range(args.rounds):
                for way in WAYS:
                    results[way].append(one(way, args.chunks, rate, Path(tmp)))
            for way, figures in results.items():
                spread = f"{min(figures):.0f}-{max(figures):.0f}"
                median = statistics.median(figures)
                print(f"{rate:9g}{way:>8}{median:25.0f}{spread:>13}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
