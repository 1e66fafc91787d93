"""Command line: the language server and its companion commands.

Each subcommand imports its implementation lazily so that `typilot-lsp` (the
server editors start) pays only for what serving needs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from typilot_lsp import __version__

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="typilot-lsp",
        description="Language server that streams code from a local Ollama model into your editor.",
    )
    parser.add_argument("--version", action="version", version=f"typilot-lsp {__version__}")
    parser.add_argument(
        "--stdio", action="store_true", help="serve LSP over stdio (the default; for clients)"
    )
    parser.add_argument("--log-level", default="WARNING", help="server log level (stderr)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="serve LSP (stdio by default)")
    serve.add_argument("--stdio", action="store_true", help="serve over stdio (default)")
    serve.add_argument("--tcp", action="store_true", help="serve over TCP on 127.0.0.1")
    serve.add_argument("--port", type=int, default=2087, help="TCP port (default 2087)")
    serve.add_argument("--log-level", default="WARNING", help="server log level (stderr)")

    voice = sub.add_parser(
        "voice", help="run the voice sidecar (started by the server; JSON lines)"
    )
    voice.add_argument(
        "--download-model",
        metavar="NAME",
        default=None,
        help="download a faster-whisper model (e.g. tiny.en) once, then exit; "
        "Typilot never downloads by itself",
    )

    transcribe = sub.add_parser("transcribe", help="transcribe a WAV file into a command")
    transcribe.add_argument("file", help="16-bit PCM WAV file")
    transcribe.add_argument("--model", default=None, help="faster-whisper model name or path")

    _add_apply(sub)
    _add_context(sub)

    history = sub.add_parser("history", help="the local history of runs")
    hsub = history.add_subparsers(dest="history_command", metavar="ACTION", required=True)
    hlist = hsub.add_parser("list", help="recent runs, newest first")
    hlist.add_argument("--limit", type=int, default=20)
    hlist.add_argument("--json", action="store_true", help="one JSON object per line")
    hshow = hsub.add_parser("show", help="one run in full")
    hshow.add_argument("id", type=int)
    hpurge = hsub.add_parser("purge", help="delete runs")
    group = hpurge.add_mutually_exclusive_group(required=True)
    group.add_argument("--all", action="store_true", help="delete everything")
    group.add_argument("--older-than", type=float, metavar="DAYS", help="delete older entries")
    hsub.add_parser("export", help="every run as JSON lines on stdout")

    doctor = sub.add_parser("doctor", help="check that runs can work on this machine")
    doctor.add_argument(
        "--backend", default=None, choices=("ollama", "openai"), help="backend (default: settings)"
    )
    doctor.add_argument(
        "--host", default=None, help="Ollama host, or the OpenAI-compatible base URL, to check"
    )
    doctor.add_argument("--model", default=None, help="model to check")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.add_argument(
        "--settings", default=None, help="JSON file with a `typilot` settings object"
    )
    return parser


def _add_apply(sub: Subcommands) -> None:
    apply = sub.add_parser("apply", help="run every prefixed line of a file without an editor")
    apply.add_argument("file", help="file to process")
    apply.add_argument("--dry-run", action="store_true", help="print the result instead")
    apply.add_argument(
        "--backend", default=None, choices=("ollama", "openai"), help="backend (default: settings)"
    )
    apply.add_argument(
        "--host",
        default=None,
        help="Ollama host, or the OpenAI-compatible base URL (default: settings/$OLLAMA_HOST)",
    )
    apply.add_argument("--model", default=None, help="model (default: settings)")
    apply.add_argument("--language", default=None, help="languageId (default: from extension)")
    apply.add_argument(
        "--settings", default=None, help="JSON file with a `typilot` settings object"
    )
    apply.add_argument(
        "--workspace",
        action="append",
        metavar="DIR",
        help="where definitions from other files may come from (repeatable; default: the git "
        "repository of FILE, else the current folder if FILE is in it, else FILE's folder)",
    )


def _add_context(sub: Subcommands) -> None:
    context = sub.add_parser(
        "context", help="what a run at FILE:LINE would get from other files (no model needed)"
    )
    context.add_argument("location", metavar="FILE:LINE", help="a file and a line (from 1)")
    context.add_argument(
        "--workspace",
        action="append",
        metavar="DIR",
        help="a workspace folder (repeatable; default: the git repository of FILE, else the "
        "current folder if FILE is in it, else FILE's folder)",
    )
    context.add_argument("--language", default=None, help="languageId (default: from extension)")
    context.add_argument(
        "--settings", default=None, help="JSON file with a `typilot` settings object"
    )
    context.add_argument("--json", action="store_true", help="machine-readable output")


_DISPATCH = {
    "voice": "typilot_lsp.voice_agent.sidecar",
    "transcribe": "typilot_lsp.voice_agent.transcribe",
    "apply": "typilot_lsp.apply",
    "context": "typilot_lsp.context.cli",
    "history": "typilot_lsp.history.cli",
    "doctor": "typilot_lsp.doctor",
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "serve"
    if command == "serve":
        from typilot_lsp.setup import serve

        return serve(
            tcp=getattr(args, "tcp", False),
            port=getattr(args, "port", 2087),
            log_level=args.log_level,
        )
    module = importlib.import_module(_DISPATCH[command])
    try:
        return int(module.main(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
