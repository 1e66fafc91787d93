"""The Ollama replay server as a process, for editor tests and the demo (from the repository
root)::

    python -m tests.replay.ollama --port 0 [--rules rules.json] [--tps 150] [--log-events]
    # stdout: LISTENING http://127.0.0.1:PORT   (then runs until SIGTERM/SIGINT)
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from tests.replay.ollama.rules import Rule
from tests.replay.ollama.server import (
    DEFAULT_FIRST_TOKEN_DELAY,
    DEFAULT_TOKENS_PER_SECOND,
    DEFAULT_VERSION,
    ReplayOllama,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.replay.ollama",
        description="Ollama wire-protocol replay server for Typilot LSP tests",
    )
    add = parser.add_argument
    add("--port", type=int, default=0, help="port to listen on (0: any free port)")
    add("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    add("--rules", help='JSON file: a list of rules (or {"rules": [...], "models": [...]})')
    add("--tps", type=float, default=DEFAULT_TOKENS_PER_SECOND, help="decode rate, tokens/s")
    add(
        "--first-token-delay",
        type=float,
        default=DEFAULT_FIRST_TOKEN_DELAY,
        help="seconds before the first token",
    )
    add("--prefill-rate", type=float, help="prompt tokens/s added to the first-token delay")
    add("--load-delay", type=float, default=0.0, help="seconds a cold local model takes to load")
    add("--num-parallel", type=int, default=0, help="generations served at once (0: no limit)")
    add("--max-queue", type=int, default=-1, help="queued generations before 503 (-1: no limit)")
    add("--cloud", choices=("ok", "unauthorized", "disabled"), default="ok")
    add(
        "--log-events",
        action="store_true",
        help="also write every event to stderr as a JSON line (for debugging editor tests)",
    )
    add(
        "--version",
        dest="ollama_version",
        default=DEFAULT_VERSION,
        help="version /api/version reports",
    )
    return parser


def _read_rules(parser: argparse.ArgumentParser, path: str) -> tuple[list[Any], list[Any] | None]:
    """The rules and models of a ``--rules`` file: a list of rules, or an object with both."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        parser.error(f"cannot read rules file {path}: {exc}")
    if isinstance(data, dict):
        return list(data.get("rules", [])), data.get("models")
    return list(data), None


def _server(parser: argparse.ArgumentParser, args: argparse.Namespace) -> ReplayOllama:
    rules, models = _read_rules(parser, args.rules) if args.rules else ([], None)
    try:
        return ReplayOllama(
            args.host,
            args.port,
            models=models,
            tokens_per_second=args.tps,
            first_token_delay=args.first_token_delay,
            prefill_rate=args.prefill_rate,
            load_delay=args.load_delay,
            num_parallel=args.num_parallel or None,
            max_queue=args.max_queue if args.max_queue >= 0 else None,
            version=args.ollama_version,
            cloud=args.cloud,
            rules=[Rule.from_dict(r) for r in rules],
            event_log=sys.stderr if args.log_events else None,
        )
    except (ValueError, TypeError) as exc:
        parser.error(f"bad settings or rules: {exc}")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    server = _server(parser, parser.parse_args(argv))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server.start()
    except RuntimeError as exc:
        print(f"replay_ollama: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"LISTENING {server.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
