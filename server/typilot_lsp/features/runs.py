"""Code actions on prefixed lines and the commands that start and stop runs."""

from __future__ import annotations

from typing import Any

import cattrs
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from typilot_lsp.errors import RequestFailed, TypilotError
from typilot_lsp.runs.manager import RunArguments
from typilot_lsp.server import TypilotServer

RUN_COMMAND = "typilot.run"
CANCEL_COMMAND = "typilot.cancel"
ACTION_KIND = types.CodeActionKind.QuickFix
TITLE_INSTRUCTION_CHARS = 80
"""A code action's title shows at most this much of the instruction (menus are one line)."""


def action_title(command: str, instruction: str) -> str:
    """`Typilot: gen — <instruction>`, the instruction flattened to one line and capped."""
    name = command.rstrip(":")
    flat = " ".join(instruction.split())
    if not flat:
        return f"Typilot: {name}"
    if len(flat) > TITLE_INSTRUCTION_CHARS:
        flat = flat[: TITLE_INSTRUCTION_CHARS - 1].rstrip() + "…"
    return f"Typilot: {name} — {flat}"


def _arguments(ls: TypilotServer, args: tuple[Any, ...]) -> RunArguments:
    raw = args[0] if len(args) == 1 else None
    if not isinstance(raw, dict):
        raise JsonRpcInvalidParams(
            "typilot.run expects one argument {uri, line, range?}, got " + repr(list(args))[:200]
        )
    try:
        parsed = ls.protocol._converter.structure(raw, RunArguments)
    except (cattrs.BaseValidationError, KeyError, TypeError, ValueError) as exc:
        raise JsonRpcInvalidParams(
            f"typilot.run: invalid arguments {repr(raw)[:200]}: {exc}"
        ) from exc
    if isinstance(raw.get("line"), bool) or not isinstance(raw.get("line"), int) or parsed.line < 0:
        raise JsonRpcInvalidParams(
            f"typilot.run: `line` must be a line number >= 0 (0-based), got {raw.get('line')!r}"
        )
    if not isinstance(raw.get("uri"), str) or not parsed.uri:
        raise JsonRpcInvalidParams(
            f"typilot.run: `uri` must be the document's URI, got {repr(raw.get('uri'))[:200]}"
        )
    return parsed


def setup(server: TypilotServer) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[ACTION_KIND], resolve_provider=False),
    )
    def code_actions(
        ls: TypilotServer, params: types.CodeActionParams
    ) -> list[types.CodeAction] | None:
        doc = ls.documents.get(params.text_document.uri)
        if doc is None or not doc.prefixed:
            return None
        rng = params.range
        spans_text = rng.start != rng.end
        actions = []
        for line, match in doc.prefixed_in(rng.start.line, rng.end.line):
            argument: dict[str, Any] = {"uri": doc.uri, "line": line}
            if spans_text and rng.start.line != rng.end.line:
                argument["range"] = ls.protocol._converter.unstructure(rng)
            title = action_title(match.command, match.instruction)
            actions.append(
                types.CodeAction(
                    title=title,
                    kind=ACTION_KIND,
                    command=types.Command(title=title, command=RUN_COMMAND, arguments=[argument]),
                )
            )
        return actions or None

    @server.command(RUN_COMMAND)
    async def run(ls: TypilotServer, *args: Any) -> dict[str, str]:
        parsed = _arguments(ls, args)
        try:
            run_id = await ls.runs.start(parsed.uri, parsed.line, parsed.range)
        except TypilotError as exc:
            # Clients show a failed executeCommand themselves; a popup too would say it twice.
            raise RequestFailed(str(exc)) from exc
        return {"runId": run_id}

    @server.command(CANCEL_COMMAND)
    async def cancel(ls: TypilotServer, *args: Any) -> dict[str, int]:
        uri = None
        if args and isinstance(args[0], dict):
            uri = args[0].get("uri")
        elif args and isinstance(args[0], str):
            uri = args[0]
        return {"cancelled": ls.runs.cancel(uri)}

    @server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    def progress_cancel(ls: TypilotServer, params: types.WorkDoneProgressCancelParams) -> None:
        ls.runs.cancel_token(params.token)
