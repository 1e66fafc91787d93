"""Runs: one prefixed line -> a prompt -> a stream written into the buffer.

`RunManager.start` answers at once with the `Run`; the run goes on as a background task
(`Run.task`, whose result is the `RunResult`) in three phases, each a method of its own:

* `prepare`: ask the backend for the model, build the prompt and the request;
* `stream`: read the reply, filter it, write it into the buffer (`StreamWriter`);
* `finish`: release the tracked regions, show a failure, end the progress, record the run.

A run reports its progress through its host's `Progress`, can be cancelled from the progress
UI, `typilot.cancel`, closing the document or a new run on the same line (`CancelReason`), and
always ends with the buffer intact: what streamed stays, nothing else changes.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import posixpath
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

import attrs
from lsprotocol import types

from typilot_lsp.backends.base import FimPrompt, GenerationRequest, StreamStats
from typilot_lsp.documents import TypilotDocument, content_length, units_to_col
from typilot_lsp.errors import TypilotError
from typilot_lsp.prefixes import BUILTIN_COMMANDS, Mode, PrefixMatch
from typilot_lsp.runs.engine import StreamWriter, TrackedRegion
from typilot_lsp.runs.output import OutputFilter, output_spec_for
from typilot_lsp.runs.output.imports import import_insertion
from typilot_lsp.runs.prompt import (
    CURSOR,
    PromptInput,
    build_fim,
    build_prompt,
    context_budget,
)
from typilot_lsp.runs.targets import Target, find_target

if TYPE_CHECKING:
    from typilot_lsp.backends.base import Backend
    from typilot_lsp.config import UserCommand
    from typilot_lsp.runs.engine import DocumentEditor
    from typilot_lsp.runs.host import Progress, RunHost

log = logging.getLogger(__name__)
_ids = itertools.count(1)
PROGRESS_REPORT_INTERVAL = 1.0
"""Seconds between the "N tokens" progress reports: each is a message the editor renders."""
REPLACE_WAIT_S = 5.0
"""How long a new run on a line waits for the run it replaces to write what it has."""


class Outcome(str, enum.Enum):
    """How a run ended (also what the history records)."""

    DONE = "done"
    CANCELLED = "cancelled"
    ERROR = "error"


class CancelReason(str, enum.Enum):
    """Why a run was cancelled."""

    USER = "user"
    """The progress UI's cancel, `typilot.cancel`, or a spoken "cancel"."""
    REPLACED = "replaced"
    """A new run started on the same line."""
    CLOSED = "closed"
    """The document was closed (nothing more is written)."""
    EDITED = "edited"
    """The user edited the text the run was writing."""
    SHUTDOWN = "shutdown"
    """The server is shutting down."""


QUIET_REASONS = (CancelReason.CLOSED, CancelReason.SHUTDOWN)
"""Cancelled for these, a run shows no message: nobody is there to read it."""


class RunRefused(TypilotError):
    """A run that cannot start (no prefix on the line, document not open, ...)."""


@attrs.define
class RunArguments:
    uri: str
    line: int
    range: types.Range | None = None


@attrs.define
class RunResult:
    """How a run ended, and what the history records of it."""

    outcome: Outcome = Outcome.DONE
    error: str | None = None
    """The message shown for a failure (or a cancel that left something to say)."""
    model: str = ""
    host: str = ""
    prompt: str = ""
    response_parts: list[str] = attrs.Factory(list)
    max_tokens: int = 0
    """The reply-length bound sent (0: none) ..."""
    max_tokens_setting: str = ""
    """... and the setting that raises it."""

    @property
    def response(self) -> str:
        return "".join(self.response_parts)

    def fail(self, error: str) -> None:
        self.outcome, self.error = Outcome.ERROR, error


@attrs.define(eq=False)
class Run:
    id: str
    uri: str
    line: int
    command: str
    mode: Mode
    instruction: str
    source: str
    progress_token: str
    started_at: float = attrs.field(factory=time.monotonic)
    task: asyncio.Task[RunResult] | None = None
    reader: asyncio.Task[None] | None = None
    cancel_reason: CancelReason | None = None
    stats: StreamStats = attrs.field(factory=StreamStats)
    writer: StreamWriter | None = None

    def cancel(self, reason: CancelReason) -> None:
        if self.cancel_reason is None:
            self.cancel_reason = reason
        if self.reader is not None and not self.reader.done():
            self.reader.cancel()
        elif self.reader is None and self.task is not None and not self.task.done():
            self.task.cancel()

    async def result(self) -> RunResult:
        """Wait for the run to end; its outcome."""
        assert self.task is not None, "the run was not started"
        return await self.task


@attrs.define
class RunPlan:
    """What a run works on, taken when it starts (before the user can type again)."""

    lines: list[str]
    target: Target | None
    target_text: str
    region: TrackedRegion
    target_region: TrackedRegion | None = None

    @property
    def regions(self) -> list[TrackedRegion]:
        return [self.region] + ([self.target_region] if self.target_region else [])


@attrs.define
class Prepared:
    """What `prepare` hands to `stream`: the request and the filter for its reply."""

    backend: Backend
    request: GenerationRequest
    output: OutputFilter
    fim: FimPrompt | None = None


def mode_for(match: PrefixMatch, user_commands: Mapping[str, UserCommand]) -> Mode:
    """A built-in command's mode from the table; a user command's from its settings."""
    builtin = BUILTIN_COMMANDS.get(match.command)
    if builtin is not None:
        return builtin
    spec = user_commands.get(match.prefix) or user_commands.get(match.command)
    return Mode(spec.mode) if spec is not None else Mode.INSERT


def file_name(uri: str) -> str:
    parsed = urlparse(uri)
    return posixpath.basename(unquote(parsed.path)) or uri


class RunManager:
    def __init__(self, host: RunHost) -> None:
        self.host = host
        self.active: dict[str, Run] = {}

    # -- public API -----------------------------------------------------------
    async def start(
        self,
        uri: str,
        line: int,
        range: types.Range | None = None,
        source: str = "editor",
    ) -> Run:
        """Start a run on `line` and return it at once (`await run.result()` for its outcome)."""
        doc = self.host.document(uri)
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
            prefixes = ", ".join(self.host.config.prefixes.values())
            raise RunRefused(
                f"Typilot: line {line + 1} of {file_name(uri)} has no prefix ({prefixes})."
            )
        await self._replace_runs_on(uri, line)
        # The old run may have changed the line; look again.
        match = doc.prefixed.get(line)
        if match is None:
            raise RunRefused(f"Typilot: line {line + 1} no longer has a prefix.")
        run_id = f"{next(_ids)}"
        run = Run(
            id=run_id,
            uri=uri,
            line=line,
            command=match.command,
            mode=mode_for(match, self.host.config.commands),
            instruction=match.instruction,
            source=source,
            progress_token=f"typilot-run-{run_id}-{time.time_ns()}",
        )
        self.active[run_id] = run
        plan = self.plan(run, doc, range)
        run.task = self.host.run_task(self._execute(run, doc, match, plan), f"run {run_id}")
        return run

    def cancel(self, uri: str | None = None, reason: CancelReason = CancelReason.USER) -> int:
        count = 0
        for run in list(self.active.values()):
            if uri is None or run.uri == uri:
                run.cancel(reason)
                count += 1
        return count

    def cancel_token(self, token: str | int) -> bool:
        for run in self.active.values():
            if run.progress_token == token:
                run.cancel(CancelReason.USER)
                return True
        return False

    async def wait_idle(self) -> None:
        tasks = [r.task for r in self.active.values() if r.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _replace_runs_on(self, uri: str, line: int) -> None:
        for other in list(self.active.values()):
            if other.uri == uri and other.line == line:
                other.cancel(CancelReason.REPLACED)
                if other.task is not None:
                    # Waits without taking the other run's end as ours; our own cancellation
                    # (the caller gave up) goes through.
                    _done, pending = await asyncio.wait({other.task}, timeout=REPLACE_WAIT_S)
                    if pending:
                        log.warning("run %s did not stop within %g s", other.id, REPLACE_WAIT_S)

    # -- the run, phase by phase ------------------------------------------------
    def plan(self, run: Run, doc: TypilotDocument, rng: types.Range | None) -> RunPlan:
        """Everything that refers to positions, taken before the first await.

        The user may type while the run starts; the tracked regions follow from here on.
        """
        selection = self._selection(doc, rng) if rng is not None else None
        target: Target | None = None
        if run.mode in (Mode.REPLACE, Mode.COMMENT):
            target = find_target(doc.lines, run.line, selection)
        editor = self.host.editor_for(doc)
        plan = RunPlan(
            lines=list(doc.lines),
            target=target,
            target_text=doc.slice(*target.start, *target.end) if target else "",
            region=editor.track((run.line, 0), doc.line_text(run.line)),
        )
        if target is not None and run.mode is Mode.REPLACE:
            plan.target_region = editor.track(target.start, plan.target_text)
        return plan

    def _selection(
        self, doc: TypilotDocument, rng: types.Range
    ) -> tuple[tuple[int, int], tuple[int, int]] | None:
        enc = self.host.encoding

        def pos(p: types.Position) -> tuple[int, int]:
            line = min(p.line, len(doc.lines) - 1)
            return line, units_to_col(doc.lines[line], p.character, enc)

        start, end = pos(rng.start), pos(rng.end)
        return (start, end) if start != end else None

    async def _execute(
        self, run: Run, doc: TypilotDocument, match: PrefixMatch, plan: RunPlan
    ) -> RunResult:
        result = RunResult(model=self.host.config.model)
        progress = self.host.progress_for(run)
        try:
            await progress.begin(run)
            prepared = await self.prepare(run, doc, match, plan, result, progress)
            await self.stream(run, doc, plan, prepared, result, progress)
        except asyncio.CancelledError:
            result.outcome = Outcome.CANCELLED
            if run.cancel_reason is None:
                run.cancel_reason = CancelReason.SHUTDOWN
        except TypilotError as exc:
            result.fail(str(exc))
        except Exception as exc:
            log.exception("run %s failed", run.id)
            result.fail(f"Typilot: internal error: {type(exc).__name__}: {exc}")
        finally:
            await self.finish(run, doc, plan, result, progress)
        return result

    async def prepare(
        self,
        run: Run,
        doc: TypilotDocument,
        match: PrefixMatch,
        plan: RunPlan,
        result: RunResult,
        progress: Progress,
    ) -> Prepared:
        """Phase 1: check the model, build the prompt, the request and the reply's filter."""
        config = self.host.config
        backend = self.host.backend
        result.host = str(getattr(backend, "host", ""))

        def notify(message: str) -> None:  # e.g. "model loading" while the server loads it
            progress.report(run, message)

        info = await backend.prepare(result.model, notify)
        result.model = info.name or result.model
        if run.cancel_reason:
            raise asyncio.CancelledError
        spec = config.commands.get(match.prefix) if run.command not in BUILTIN_COMMANDS else None
        target = plan.target
        prompt_input = PromptInput(
            command=run.command,
            mode=run.mode,
            instruction=run.instruction,
            language_id=doc.language_id,
            file_name=file_name(doc.uri),
            lines=plan.lines,
            prefix_line=run.line,
            target=(target.first_line, target.last_line) if target else None,
            target_text=plan.target_text,
            user_template=spec.prompt if spec is not None else None,
        )
        options = config.generation_options
        budget = context_budget(
            config.context.max_chars, info.context_length, options.get("num_ctx")
        )
        system, result.prompt = build_prompt(prompt_input, budget)
        result.max_tokens, result.max_tokens_setting = config.max_tokens_for(run.command, run.mode)
        fim = None
        if run.command == "gen" and config.gen.fim == "auto":
            fim = build_fim(prompt_input, budget)
        request = GenerationRequest(
            model=result.model,
            system=system,
            prompt=result.prompt,
            options=options,
            keep_alive=config.ollama.keep_alive,
            think=False if "thinking" in info.capabilities else None,
            max_tokens=result.max_tokens or None,
            fim=fim,
        )
        output = OutputFilter.for_run(output_spec_for(run, doc, match, plan))
        return Prepared(backend=backend, request=request, output=output, fim=fim)

    async def stream(
        self,
        run: Run,
        doc: TypilotDocument,
        plan: RunPlan,
        prepared: Prepared,
        result: RunResult,
        progress: Progress,
    ) -> None:
        """Phase 2: stream the reply into the buffer; `result` says how it went."""
        streaming = self.host.config.streaming
        editor = self.host.editor_for(doc)

        def stop_reader(exc: BaseException) -> None:
            run.cancel(CancelReason.EDITED)

        writer = StreamWriter(
            editor,
            plan.region,
            label=f"typilot:{run.id}",
            interval=streaming.edit_interval_ms / 1000,
            max_interval=streaming.max_edit_interval_ms / 1000,
            echo_timeout=streaming.echo_timeout_ms / 1000,
            on_error=stop_reader,
        )
        run.writer = writer
        run.reader = asyncio.get_running_loop().create_task(
            self._read(run, prepared, writer, result, progress)
        )
        try:
            await run.reader
        except asyncio.CancelledError:
            if run.cancel_reason is None:
                raise
            result.outcome = Outcome.CANCELLED
        except TypilotError as exc:
            result.fail(str(exc))
        if run.cancel_reason is CancelReason.CLOSED:
            writer.abandon()
        else:
            if writer.error is None and result.outcome is not Outcome.ERROR:
                writer.feed(prepared.output.finish())
            await writer.close()
            if result.outcome is Outcome.DONE and plan.target_region is not None and writer.written:
                await self._remove_old_target(editor, plan.target_region, plan.region, run)
            if result.outcome is Outcome.DONE and prepared.output.imports:
                await self._add_imports(editor, prepared.output.imports, run)
        if writer.error is not None:
            result.fail(str(writer.error))
            if run.cancel_reason is CancelReason.EDITED:
                result.outcome = Outcome.CANCELLED
        elif result.outcome is Outcome.DONE and not writer.written:
            why = prepared.output.nothing_landed_message(result.model)
            if why is not None:
                result.fail(why)
        if result.outcome is Outcome.DONE and run.stats.done_reason == "length":
            # Never half a function without a word: what streamed stays, and the user learns
            # that it was cut and which setting lets it run longer.
            self.host.show_message(
                f"Typilot: the reply from {result.model} stopped at the length limit "
                f"({result.max_tokens} tokens), so its end may be missing: check the code, or "
                f"raise `{result.max_tokens_setting}` and run it again.",
                types.MessageType.Warning,
            )
        if run.stats.endpoint == "fim" and prepared.fim is not None:
            # The history shows what was sent: the code around the gap.
            result.prompt = f"{prepared.fim.prefix}{CURSOR}{prepared.fim.suffix}"

    async def finish(
        self,
        run: Run,
        doc: TypilotDocument,
        plan: RunPlan,
        result: RunResult,
        progress: Progress,
    ) -> None:
        """Phase 3: release the regions, tell the user, end the progress, record the run."""
        editor = self.host.editor_for(doc)
        for region in plan.regions:
            editor.untrack(region)
        self.active.pop(run.id, None)
        # The message goes first so that a client sees it by the time the progress ends.
        if result.error is not None and run.cancel_reason not in QUIET_REASONS:
            kind = (
                types.MessageType.Warning
                if result.outcome is Outcome.CANCELLED
                else types.MessageType.Error
            )
            self.host.show_message(result.error, kind)
        await progress.end(run, result.outcome, result.error)
        await self._record(run, doc, result)

    async def _read(
        self,
        run: Run,
        prepared: Prepared,
        writer: StreamWriter,
        result: RunResult,
        progress: Progress,
    ) -> None:
        last_report = 0.0

        def notify(message: str) -> None:
            progress.report(run, message)

        pieces = prepared.backend.stream(prepared.request, run.stats, notify)
        try:
            async for piece in pieces:
                result.response_parts.append(piece)
                writer.feed(prepared.output.feed(piece))
                now = time.monotonic()
                if now - last_report >= PROGRESS_REPORT_INTERVAL:
                    last_report = now
                    progress.report(run, f"{run.stats.token_count} tokens")
        finally:
            # Closing the stream closes the HTTP response: that is how the model stops.
            aclose = getattr(pieces, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _add_imports(self, editor: DocumentEditor, imports: list[str], run: Run) -> None:
        """The reply's imports its code uses: with the file's own imports, not mid-file."""
        doc = editor.doc
        line, text = import_insertion(doc.lines, imports, doc.eol)
        region = editor.track((line, 0), "")
        try:
            await editor.replace(
                region,
                text,
                label=f"typilot:{run.id}",
                echo_timeout=self.host.config.streaming.echo_timeout_ms / 1000,
            )
        finally:
            editor.untrack(region)

    async def _remove_old_target(
        self, editor: DocumentEditor, target: TrackedRegion, written: TrackedRegion, run: Run
    ) -> None:
        """fix: the new code is in; now remove the code it replaces (if untouched)."""
        doc = editor.doc
        found = target.find(target.text)
        if found is None:
            self.host.show_message(
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
                echo_timeout=self.host.config.streaming.echo_timeout_ms / 1000,
            )
        finally:
            editor.untrack(removal)

    async def _record(self, run: Run, doc: TypilotDocument, result: RunResult) -> None:
        history = self.host.history
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
            model=result.model,
            host=result.host,
            prompt=result.prompt,
            response=result.response,
            outcome=result.outcome.value,
            error=result.error,
            first_token_ms=first_ms,
            total_ms=(time.monotonic() - run.started_at) * 1000,
            token_count=run.stats.token_count,
            prompt_tokens=run.stats.prompt_eval_count,
        )
        try:
            await history.record(record)
        except Exception:
            log.warning("could not record run %s in history", run.id)
