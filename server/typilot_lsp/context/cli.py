"""`typilot-lsp context FILE:LINE`: what a run at that line would get from other files.

The same gather and the same budget as a run (`for_run`), on the files as saved: which
definitions, from which files, how many characters of the budget, what was left out and which
files were not read, then the text itself. Nothing is sent anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
from typing import Any, TextIO

from typilot_lsp.apply import load_config, read_source
from typilot_lsp.comments import language_from_path
from typilot_lsp.config import Config
from typilot_lsp.context.for_run import (
    OtherFiles,
    block_chars,
    choose,
    default_workspace,
    snapshot,
)
from typilot_lsp.context.gather import LANGUAGES, ContextGatherer
from typilot_lsp.context.model import ContextRequest
from typilot_lsp.documents import split_lines
from typilot_lsp.errors import TypilotError
from typilot_lsp.prefixes import Mode, PrefixMatcher
from typilot_lsp.runs.manager import mode_for
from typilot_lsp.runs.prompt import context_budget
from typilot_lsp.runs.targets import find_target


class ContextError(TypilotError):
    """The location cannot be used: no line number, past the end, unreadable file."""


def parse_location(location: str) -> tuple[pathlib.Path, int]:
    """`src/a.py:12` -> (path, 11): the line is 1-based as editors show it."""
    name, sep, number = location.rpartition(":")
    if not sep or not name or not number.isdigit() or int(number) < 1:
        raise ContextError(
            f"expected FILE:LINE with a line number from 1, e.g. app.py:12; got {location!r}"
        )
    return pathlib.Path(name), int(number) - 1


def request_at(path: pathlib.Path, line: int, language_id: str, config: Config) -> ContextRequest:
    """The request a run at `line` would make: with its target when the line is a `fix:` or
    `sum:` (or a user command of theirs)."""
    lines = split_lines(read_source(path).text)
    if line >= len(lines):
        raise ContextError(f"{path} has {len(lines)} lines; line {line + 1} is past its end")
    matcher = PrefixMatcher.build(language_id, config.prefixes, config.commands.keys())
    match = matcher.match(lines[line])
    target = None
    if match is not None and mode_for(match, config.commands) in (Mode.REPLACE, Mode.COMMENT):
        found = find_target(lines, line, None)
        target = (found.first_line, found.last_line) if found is not None else None
    return ContextRequest(
        path=str(path.resolve()),
        language_id=language_id,
        version=0,
        lines=lines,
        prefix_line=line,
        target=target,
    )


def _report(other: OtherFiles, budget: int) -> dict[str, Any]:
    def entry(d: Any) -> dict[str, Any]:
        return {
            "name": d.name,
            "kind": d.kind.value,
            "file": d.path,
            "chars": block_chars(d),
            "rank": d.rank.name.lower(),
        }

    return {
        "budget": budget,
        "share": other.share,
        "used": len(other.text),
        "definitions": [entry(d) for d in other.chosen],
        "left_out": [entry(d) for d in other.left_out],
        "not_read": dict(other.refusals),
        "text": other.text,
    }


def _print(report: dict[str, Any], header: str, out: TextIO) -> None:
    used, share, budget = report["used"], report["share"], report["budget"]
    print(header, file=out)
    print(
        f"budget: {budget} characters (context.maxChars; a model with a smaller context "
        f"window lowers it); other files: {used} of at most {share}; the code around the "
        f"line keeps {budget - used}",
        file=out,
    )
    for title, key in (("definitions in the prompt", "definitions"), ("left out", "left_out")):
        if report[key]:
            print(f"\n{title} (most directly used first):", file=out)
        for d in report[key]:
            print(
                f"  {d['name']} ({d['kind']}) from {d['file']}: {d['chars']} chars, {d['rank']}",
                file=out,
            )
    if not report["definitions"] and not report["left_out"]:
        print("\nno definitions from other files", file=out)
    if report["not_read"]:
        print("\nnot read:", file=out)
        for path, reason in sorted(report["not_read"].items()):
            print(f"  {path}: {reason}", file=out)
    if report["text"]:
        print("\n--- other files, as the prompt gets them ---", file=out)
        out.write(report["text"])


def main(args: argparse.Namespace) -> int:
    err = sys.stderr
    try:
        path, line = parse_location(args.location)
        config = load_config(args, err)
        language_id = args.language or language_from_path(str(path))
        request = request_at(path, line, language_id, config)
    except TypilotError as exc:
        print(f"typilot-lsp context: {exc}", file=err)
        return 1
    folders = [str(pathlib.Path(f).resolve()) for f in args.workspace or [default_workspace(path)]]
    budget = context_budget(
        config.context.max_chars, None, config.generation_options.get("num_ctx")
    )
    result = ContextGatherer().gather_now(request, snapshot(folders, []), config.context.exclude)
    report = _report(choose(result, budget), budget)
    report.update(file=str(path), line=line + 1, workspace=folders)
    report["other_files_setting"] = config.context.other_files
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    header = f"{path}:{line + 1} ({language_id}), workspace {os.pathsep.join(folders)}"
    if language_id not in LANGUAGES:
        header += f"\n{language_id}: no definitions from other files for this language"
    if not config.context.other_files:
        header += "\ncontext.otherFiles is false in your settings: a run sends none of this"
    _print(report, header, sys.stdout)
    return 0
