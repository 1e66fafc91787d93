"""Runs: one prefixed line -> a prompt -> a stream written into the buffer.

`RunManager.start` answers at once with a run id; the run goes on as a
background task that reports `$/progress`, can be cancelled from the progress
UI, `typilot.cancel`, closing the document or a new run on the same line, and
always ends with the buffer intact: what streamed stays, nothing else changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import posixpath
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlparse

import attrs
from lsprotocol import types

from typilot_lsp.backends.base import GenerationRequest, StreamStats
from typilot_lsp.comments import comment_syntax
from typilot_lsp.documents import DocumentState, content_length
from typilot_lsp.errors import TypilotError
from typilot_lsp.prefixes import PrefixMatch
from typilot_lsp.runs.engine import StreamWriter, TrackedRegion
from typilot_lsp.runs.output_filter import LineShaper, OutputFilter
from typilot_lsp.runs.prompt import PromptInput, build_prompt, context_budget
from typilot_lsp.runs.targets import Target, find_target

if TYPE_CHECKING:
    from typilot_lsp.backends.base import Backend
    from typilot_lsp.config import Config
    from typilot_lsp.history import AsyncHistory
    from typilot_lsp.runs.engine import DocumentEditor

log = logging.getLogger(__name__)
_ids = itertools.count(1)
PROGRESS_REPORT_INTERVAL = 0.25


class RunRefused(TypilotError):
    """A run that cannot start (no prefix on the line, document not open, ...)."""


@attrs.define
class RunArguments:
    uri: str
    line: int
    range: types.Range | None = None


@attrs.define(eq=False)
class Run:
    id: str
    uri: str
    line: int
    command: str
    mode: str
    instruction: str
    source: str
    progress_token: str
    started_at: float = attrs.field(factory=time.monotonic)
    task: asyncio.Task[None] | None = None
    reader: asyncio.Task[None] | None = None
    cancel_reason: str | None = None
    stats: StreamStats = attrs.field(factory=StreamStats)
    writer: StreamWriter | None = None

    def cancel(self, reason: str) -> None:
        if self.cancel_reason is None:
            self.cancel_reason = reason
        if self.reader is not None and not self.reader.done():
            self.reader.cancel()
        elif self.reader is None and self.task is not None and not self.task.done():
            self.task.cancel()


@attrs.define
class RunPlan:
    """What a run works on, taken when it starts (before the user can type again)."""

    lines: list[str]
    target: Target | None
    target_text: str
    region: TrackedRegion
    target_region: TrackedRegion | None = None


def _mode_for(command: str, match: PrefixMatch, user_commands: dict[str, Any]) -> str:
    if command == "gen":
        return "insert"
    if command == "fix":
        return "replace"
    if command == "sum":
        return "comment"
    spec = user_commands.get(match.prefix) or user_commands.get(command)
    return spec.mode if spec is not None else "insert"


def file_name(uri: str) -> str:
    parsed = urlparse(uri)
    return posixpath.basename(unquote(parsed.path)) or uri


class RunHost(Protocol):
    """What a run needs from its host: the language server, or `typilot-lsp apply`."""

    config: Config
    documents: dict[str, DocumentState]
    history: AsyncHistory | None

    @property
    def encoding(self) -> str: ...
    @property
    def backend(self) -> Backend: ...
    def editor_for(self, doc: DocumentState) -> DocumentEditor: ...
    def progress_for(self, run: Run) -> Any: ...
    def show_message(self, message: str, kind: types.MessageType = ...) -> None: ...
    def run_task(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]: ...


class RunManager:
    def __init__(self, server: RunHost) -> None:
        self.server = server
        self.active: dict[str, Run] = {}

    # -- public API -----------------------------------------------------------
    async def start(
        self,
        uri: str,
        line: int,
        range: types.Range | None = None,
        source: str = "editor",
    ) -> str:
        doc = self.server.documents.get(uri)
        if doc is None:
            raise RunRefused(f"Typilot: {file_name(uri)} is not open in the editor.")
        if not 0 <= line < len(doc.lines):
            # As an editor counts them: a final line break does not start another line.
            shown = len(doc.lines) - (1 if len(doc.lines) > 1 and not doc.lines[-1] else 0)
            raise RunRefused(
                f"Typilot: line {line + 1} is past the end of {file_name(uri)} "
                f"({shown} lines); the document may have changed: ask for the code "
                "actions again."
            )
        match = doc.prefixed.get(line)
        if match is None:
            prefixes = ", ".join(self.server.config.prefixes.values())
            raise RunRefused(
                f"Typilot: line {line + 1} of {file_name(uri)} has no prefix ({prefixes})."
            )
        for other in list(self.active.values()):
            if other.uri == uri and other.line == line:
                other.cancel("replaced")
                if other.task is not None:
                    with contextlib.suppress(BaseException):
                        await asyncio.wait_for(asyncio.shield(other.task), 5)
        # The old run may have changed the line; look again.
        match = doc.prefixed.get(line)
        if match is None:
            raise RunRefused(f"Typilot: line {line + 1} no longer has a prefix.")
        user_commands = self.server.config.commands
        mode = _mode_for(match.command, match, user_commands)
        run_id = f"{next(_ids)}"
        run = Run(
            id=run_id,
            uri=uri,
            line=line,
            command=match.command,
            mode=mode,
            instruction=match.instruction,
            source=source,
            progress_token=f"typilot-run-{run_id}-{time.time_ns()}",
        )
        self.active[run_id] = run
        selection = None
        if range is not None:
            selection = self._selection(doc, range)
        # Everything that refers to positions is taken now, before the first await: the user
        # may type while the run starts, and the tracked regions follow from here on.
        target: Target | None = None
        if mode in ("replace", "comment"):
            target = find_target(doc.lines, line, selection)
        editor = self.server.editor_for(doc)
        plan = RunPlan(
            lines=list(doc.lines),
            target=target,
            target_text=doc.slice(*target.start, *target.end) if target else "",
            region=editor.track((line, 0), doc.line_text(line)),
        )
        if target is not None and mode == "replace":
            plan.target_region = editor.track(target.start, plan.target_text)
        run.task = self.server.run_task(self._execute(run, doc, match, plan), f"run {run_id}")
        return run_id

    def cancel(self, uri: str | None = None, reason: str = "user") -> int:
        count = 0
        for run in list(self.active.values()):
            if uri is None or run.uri == uri:
                run.cancel(reason)
                count += 1
        return count

    def cancel_token(self, token: str | int) -> bool:
        for run in self.active.values():
            if run.progress_token == token:
                run.cancel("user")
                return True
        return False

    async def wait_idle(self) -> None:
        tasks = [r.task for r in self.active.values() if r.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- the run ------------------------------------------------------------------
    def _selection(
        self, doc: DocumentState, rng: types.Range
    ) -> tuple[tuple[int, int], tuple[int, int]] | None:
        from typilot_lsp.documents import units_to_col

        enc = self.server.encoding

        def pos(p: types.Position) -> tuple[int, int]:
            line = min(p.line, len(doc.lines) - 1)
            return line, units_to_col(doc.lines[line], p.character, enc)

        start, end = pos(rng.start), pos(rng.end)
        return (start, end) if start != end else None

    async def _execute(
        self,
        run: Run,
        doc: DocumentState,
        match: PrefixMatch,
        plan: RunPlan,
    ) -> None:
        server = self.server
        config = server.config
        progress = server.progress_for(run)
        outcome, error = "done", None
        prompt_text = ""
        response_parts: list[str] = []
        model = config.ollama.model
        host = ""
        writer: StreamWriter | None = None
        regions = [plan.region] + ([plan.target_region] if plan.target_region else [])
        editor = server.editor_for(doc)
        try:
            await progress.begin(run)
            backend = server.backend
            host = getattr(backend, "host", "")
            target, target_text = plan.target, plan.target_text
            info = await backend.prepare(model)
            if run.cancel_reason:
                raise asyncio.CancelledError
            spec = (
                config.commands.get(match.prefix)
                if run.command not in ("gen", "fix", "sum")
                else None
            )
            prompt_input = PromptInput(
                command=run.command,
                mode=run.mode,
                instruction=run.instruction,
                language_id=doc.language_id,
                file_name=file_name(doc.uri),
                lines=plan.lines,
                prefix_line=run.line,
                target=(target.first_line, target.last_line) if target else None,
                target_text=target_text,
                user_template=spec.prompt if spec is not None else None,
            )
            budget = context_budget(
                config.context.max_chars, info.context_length, config.ollama.options.get("num_ctx")
            )
            system, prompt_text = build_prompt(prompt_input, budget)
            request = GenerationRequest(
                model=model,
                system=system,
                prompt=prompt_text,
                options=dict(config.ollama.options),
                keep_alive=config.ollama.keep_alive,
                think=False if "thinking" in info.capabilities else None,
            )
            syntax = comment_syntax(doc.language_id)
            output = OutputFilter(
                LineShaper(
                    indent=match.indent,
                    mode="comment" if run.mode == "comment" else "code",
                    eol=doc.eol,
                    line_comment=(syntax.line if syntax else "#"),
                    block_comment=(syntax.block if syntax and not syntax.line else None),
                )
            )
            region, target_region = plan.region, plan.target_region

            def stop_reader(exc: BaseException) -> None:
                run.cancel("edited")

            writer = StreamWriter(
                editor,
                region,
                label=f"typilot:{run.id}",
                interval=config.streaming.edit_interval_ms / 1000,
                max_interval=config.streaming.max_edit_interval_ms / 1000,
                echo_timeout=config.streaming.echo_timeout_ms / 1000,
                on_error=stop_reader,
            )
            run.writer = writer
            run.reader = asyncio.get_running_loop().create_task(
                self._read(run, backend, request, output, writer, response_parts, progress)
            )
            try:
                await run.reader
            except asyncio.CancelledError:
                if run.cancel_reason is None:
                    raise
                outcome = "cancelled"
            except TypilotError as exc:
                outcome, error = "error", str(exc)
            if run.cancel_reason == "closed":
                writer.abandon()
            else:
                if writer.error is None and outcome != "error":
                    writer.feed(output.finish())
                await writer.close()
                if outcome == "done" and target_region is not None and writer.written:
                    await self._remove_old_target(editor, target_region, region, run)
            if writer.error is not None:
                outcome, error = "error", str(writer.error)
                if run.cancel_reason == "edited":
                    outcome = "cancelled"
            elif outcome == "done" and not writer.written:
                outcome, error = "error", f"{model} returned no code; the line was left as it was."
        except asyncio.CancelledError:
            outcome = "cancelled"
            if run.cancel_reason is None:
                run.cancel_reason = "shutdown"
        except TypilotError as exc:
            outcome, error = "error", str(exc)
        except Exception as exc:
            log.exception("run %s failed", run.id)
            outcome, error = "error", f"Typilot: internal error: {type(exc).__name__}: {exc}"
        finally:
            for region in regions:
                editor.untrack(region)
            self.active.pop(run.id, None)
            # The message goes first so that a client sees it by the time the progress ends.
            if error is not None and run.cancel_reason not in ("closed", "shutdown"):
                kind = (
                    types.MessageType.Warning if outcome == "cancelled" else types.MessageType.Error
                )
                server.show_message(error, kind)
            await progress.end(run, outcome, error)
            await self._record(
                run, model, host, prompt_text, "".join(response_parts), outcome, error, doc
            )

    async def _read(
        self,
        run: Run,
        backend: Any,
        request: GenerationRequest,
        output: OutputFilter,
        writer: StreamWriter,
        response_parts: list[str],
        progress: Any,
    ) -> None:
        last_report = 0.0
        async with contextlib.aclosing(backend.stream(request, run.stats)) as stream:
            async for piece in stream:
                response_parts.append(piece)
                writer.feed(output.feed(piece))
                now = time.monotonic()
                if now - last_report >= PROGRESS_REPORT_INTERVAL:
                    last_report = now
                    progress.report(run, f"{run.stats.token_count} tokens")

    async def _remove_old_target(
        self, editor: Any, target: TrackedRegion, written: TrackedRegion, run: Run
    ) -> None:
        """fix: the new code is in; now remove the code it replaces (if untouched)."""
        doc = editor.doc
        found = target.find(target.text)
        if found is None:
            self.server.show_message(
                "Typilot: the original code was edited during the fix, so it was kept.",
                types.MessageType.Warning,
            )
            return
        (tl, tc), _ = found
        target.settle((tl, tc), target.text)
        el, ec = target.end()
        # Take the line break that separates it from its neighbour, so no blank line is left.
        new_code_line = written.start[0]
        if tl < new_code_line and el + 1 <= new_code_line:
            # The old code is above the new (fix: on the last line): take it and the blank
            # lines between them, so the new code takes its place.
            start, end = (tl, tc), (el + 1, 0)
            while end[0] < new_code_line and not doc.lines[end[0]].strip():
                end = (end[0] + 1, 0)
        elif tc == 0 and tl > 0:
            start = (tl - 1, content_length(doc.lines[tl - 1]))
            end = (el, ec)
        elif el + 1 < len(doc.lines):
            start, end = (tl, tc), (el + 1, 0)
        else:
            start, end = (tl, tc), (el, ec)
        span = doc.slice(*start, *end)
        removal = editor.track(start, span)
        try:
            await editor.replace(
                removal,
                "",
                label=f"typilot:{run.id}",
                replace_from=start,
                echo_timeout=self.server.config.streaming.echo_timeout_ms / 1000,
            )
        finally:
            editor.untrack(removal)

    async def _record(
        self,
        run: Run,
        model: str,
        host: str,
        prompt: str,
        response: str,
        outcome: str,
        error: str | None,
        doc: DocumentState,
    ) -> None:
        history = self.server.history
        if history is None:
            return
        from typilot_lsp.history import RunRecord

        first_ms = None
        if run.stats.first_token_at is not None:
            first_ms = (run.stats.first_token_at - run.started_at) * 1000
        record = RunRecord(
            source=run.source,
            command=run.command,
            instruction=run.instruction,
            language_id=doc.language_id,
            uri=run.uri,
            model=model,
            host=str(host),
            prompt=prompt,
            response=response,
            outcome=outcome,
            error=error,
            first_token_ms=first_ms,
            total_ms=(time.monotonic() - run.started_at) * 1000,
            token_count=run.stats.token_count,
            prompt_tokens=run.stats.prompt_eval_count,
        )
        try:
            await history.record(record)
        except Exception:
            log.warning("could not record run %s in history", run.id)
