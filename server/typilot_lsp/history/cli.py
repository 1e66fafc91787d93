"""`typilot-lsp history list | show ID | purge | export`.

The settings come from the user settings file (`typilot_lsp.user_settings`), as in the
server: the store opens with its `history.retentionDays` (so what a listing shows is what
retention keeps) at its `history.path`, else `$TYPILOT_HISTORY_PATH`, else the platform's
default (see `docs/history.md`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from typilot_lsp.history.store import HistoryStore, HistoryUnavailable, history_path
from typilot_lsp.user_settings import config_with_user_settings

__all__ = ["main"]

_LIST_COLUMNS = ("id", "when", "source", "command", "outcome", "model", "instruction")


def _when(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


def _one_line(text: str | None, width: int) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _print_table(rows: Iterable[dict[str, Any]], out: TextIO) -> None:
    cells = [
        (
            str(r["id"]),
            _when(r["created_at"]),
            r["source"],
            r["command"],
            r["outcome"],
            r["model"],
            _one_line(r["instruction"], 60),
        )
        for r in rows
    ]
    header = tuple(c.upper() for c in _LIST_COLUMNS)
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header))]
    for row in [header, *cells]:
        line = "  ".join(
            cell.rjust(w) if i == 0 else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        out.write(line.rstrip() + "\n")


def _print_entry(entry: dict[str, Any], out: TextIO) -> None:
    fields = [
        ("id", entry["id"]),
        ("when", _when(entry["created_at"])),
        ("source", entry["source"]),
        ("command", entry["command"]),
        ("instruction", entry["instruction"]),
        ("language", entry["language_id"]),
        ("file", entry["uri"]),
        ("model", entry["model"]),
        ("host", entry["host"]),
        ("outcome", entry["outcome"]),
    ]
    if entry.get("error"):
        fields.append(("error", entry["error"]))
    timings = []
    if entry.get("first_token_ms") is not None:
        timings.append(f"first token {entry['first_token_ms']:.0f} ms")
    if entry.get("total_ms") is not None:
        timings.append(f"total {entry['total_ms']:.0f} ms")
    timings.append(f"{entry['token_count']} tokens")
    if entry.get("prompt_tokens") is not None:
        timings.append(f"prompt {entry['prompt_tokens']} tokens")
    fields.append(("timings", ", ".join(timings)))
    for name, value in fields:
        out.write(f"{name + ':':<13}{value}\n")
    for name in ("prompt", "response"):
        text = entry.get(name) or ""
        out.write(f"\n--- {name} ---\n")
        out.write((text if text else "(not stored: history.storeContent was false)") + "\n")


def _json_line(entry: dict[str, Any], out: TextIO) -> None:
    out.write(json.dumps(entry, ensure_ascii=False) + "\n")


def run(args: argparse.Namespace, out: TextIO) -> int:
    action = args.history_command
    config, problems = config_with_user_settings()
    for problem in problems:
        sys.stderr.write(f"typilot-lsp history: settings: {problem}\n")
    settings = config.history
    path = history_path(settings.path)
    with HistoryStore(path, retention_days=settings.retention_days) as store:
        if action == "list":
            limit = args.limit if args.limit is not None else 20
            if limit < 0:
                sys.stderr.write("typilot-lsp history list: --limit must not be negative\n")
                return 2
            rows = store.list_recent(limit)
            if args.json:
                for row in rows:
                    _json_line(row, out)
            elif rows:
                _print_table(rows, out)
            else:
                out.write(f"No runs recorded yet ({store.path}).\n")
            return 0
        if action == "show":
            entry = store.get(args.id)
            if entry is None:
                sys.stderr.write(
                    f"typilot-lsp history show: no entry with id {args.id} in {store.path} "
                    "(see `typilot-lsp history list`)\n"
                )
                return 1
            _print_entry(entry, out)
            return 0
        if action == "purge":
            if args.all:
                count = store.purge_all()
                out.write(f"Purged all {count} entries from {store.path}.\n")
                return 0
            days = args.older_than
            if days is None or days < 0:
                sys.stderr.write(
                    "typilot-lsp history purge: give --all or --older-than DAYS (DAYS >= 0)\n"
                )
                return 2
            count = store.purge_older_than(days)
            out.write(f"Purged {count} entries older than {days:g} days from {store.path}.\n")
            return 0
        if action == "export":
            for row in store.export():
                _json_line(row, out)
            return 0
    sys.stderr.write(f"typilot-lsp history: unknown action {action!r}\n")
    return 2


def main(args: argparse.Namespace) -> int:
    """Entry point from `typilot_lsp.cli` (``args.history_command`` picks the action)."""
    try:
        return run(args, sys.stdout)
    except HistoryUnavailable as exc:
        sys.stderr.write(f"typilot-lsp history: {exc}\n")
        return 1
