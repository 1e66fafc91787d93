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
import itertools
import logging
import time
from typing import TYPE_CHECKING

import attrs
from lsprotocol import types

from typilot_lsp.backends.base import FimPrompt, GenerationRequest, ModelInfo
from typilot_lsp.documents import TypilotDocument, content_length, units_to_col
from typilot_lsp.errors import TypilotError
from typilot_lsp.prefixes import Mode, PrefixMatch
from typilot_lsp.runs.engine import StreamWriter, TrackedRegion
from typilot_lsp.runs.model import (
    QUIET_REASONS,
    CancelReason,
    Outcome,
    Run,
    RunRefused,
    RunResult,
)
from typilot_lsp.runs.output import OutputFilter, output_spec_for
from typilot_lsp.runs.output.imports import import_insertion
from typilot_lsp.runs.output.reasons import Finished
from typilot_lsp.runs.prompt import CURSOR
from typilot_lsp.runs.request import (
    Composed,
    compose_at,
    file_name,
    mode_for,
    target_of,
)
from typilot_lsp.runs.targets import Target

if TYPE_CHECKING:
    from typilot_lsp.backends.base import Backend
    from typilot_lsp.runs.engine import DocumentEditor
    from typilot_lsp.runs.host import Progress, RunHost

log = logging.getLogger(__name__)
_ids = itertools.count(1)
PROGRESS_REPORT_INTERVAL = 1.0
"""Seconds between the "N tokens" progress reports: each is a message the editor renders."""
REPLACE_WAIT_S = 5.0
"""How long a new run on a line waits for the run it replaces to write what it has."""


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


@attrs.frozen
class Prepared:
    """What `prepare` hands to `stream`: the model, the request and the filter for its reply."""

    backend: Backend
    info: ModelInfo
    composed: Composed
    output: OutputFilter

    @property
    def request(self) -> GenerationRequest:
        return self.composed.request

    @property
    def fim(self) -> FimPrompt | None:
        return self.request.fim

    def result(self, host: str) -> RunResult:
        """A result that says what was asked of which model (the stream fills in the rest)."""
        return RunResult(model=self.info.shown_name, host=host, prompt=self.request.prompt)


@attrs.frozen
class RunContext:
    """One run and what it works on; every phase takes it."""

    run: Run
    doc: TypilotDocument
    match: PrefixMatch
    plan: RunPlan
    progress: Progress


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
        ctx = RunContext(run, doc, match, self.plan(run, doc, range), self.host.progress_for(run))
        run.task = self.host.run_task(self._execute(ctx), f"run {run_id}")
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
        target, target_text = target_of(doc, run.line, run.mode, selection)
        editor = self.host.editor_for(doc)
        plan = RunPlan(
            lines=list(doc.lines),
            target=target,
            target_text=target_text,
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

    async def _execute(self, ctx: RunContext) -> RunResult:
        backend = self.host.backend
        result = RunResult(model=self.host.config.model, host=backend.host)
        try:
            await ctx.progress.begin(ctx.run)
            prepared = await self.prepare(ctx)
            result = prepared.result(backend.host)
            result = await self.stream(ctx, prepared)
        except asyncio.CancelledError:
            result = result.cancelled()
            if ctx.run.cancel_reason is None:
                ctx.run.cancel_reason = CancelReason.SHUTDOWN
        except TypilotError as exc:
            result = result.failed(str(exc))
        except Exception as exc:
            log.exception("run %s failed", ctx.run.id)
            result = result.failed(f"Typilot: internal error: {type(exc).__name__}: {exc}")
        finally:
            await self.finish(ctx, result)
        return result

    async def prepare(self, ctx: RunContext) -> Prepared:
        """Phase 1: check the model (once), compose the request, set up the reply's filter."""
        run, doc, plan = ctx.run, ctx.doc, ctx.plan
        backend = self.host.backend

        def notify(message: str) -> None:  # e.g. "model loading" while the server loads it
            ctx.progress.report(run, message)

        info = await backend.prepare(self.host.config.model, notify)
        await self.host.before_request(run)
        if run.cancel_reason:
            raise asyncio.CancelledError
        composed = await compose_at(
            self.host.config,
            info,
            doc,
            lines=plan.lines,
            line=run.line,
            match=ctx.match,
            target=plan.target,
            target_text=plan.target_text,
            other_files=self.host.other_files,
        )
        if run.cancel_reason:  # the user may cancel while other files are read
            raise asyncio.CancelledError
        return Prepared(
            backend=backend,
            info=info,
            composed=composed,
            output=OutputFilter.for_run(output_spec_for(run, doc, ctx.match, plan)),
        )

    async def stream(self, ctx: RunContext, prepared: Prepared) -> RunResult:
        """Phase 2: stream the reply into the buffer; how it went."""
        run, plan = ctx.run, ctx.plan
        streaming = self.host.config.streaming
        editor = self.host.editor_for(ctx.doc)

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
        parts: list[str] = []
        run.reader = asyncio.get_running_loop().create_task(
            self._read(ctx, prepared, writer, parts)
        )
        outcome, error = await self._await_reader(run)
        if run.cancel_reason is CancelReason.CLOSED:
            writer.abandon()
        else:
            if writer.error is None and outcome is not Outcome.ERROR:
                writer.feed(prepared.output.finish())
            await writer.close()
            if outcome is Outcome.DONE and plan.target_region is not None and writer.written:
                await self._remove_old_target(editor, plan.target_region, plan.region, run)
            if outcome is Outcome.DONE and prepared.output.imports:
                await self._add_imports(editor, prepared.output.imports, run)
        result = attrs.evolve(
            prepared.result(prepared.backend.host),
            outcome=outcome,
            error=error,
            response="".join(parts),
        )
        if run.stats.endpoint == "fim" and prepared.fim is not None:
            # The history shows what was sent: the code around the gap.
            result = attrs.evolve(
                result, prompt=f"{prepared.fim.prefix}{CURSOR}{prepared.fim.suffix}"
            )
        return self._judge(run, prepared, writer, result)

    async def _await_reader(self, run: Run) -> tuple[Outcome, str | None]:
        assert run.reader is not None
        try:
            await run.reader
        except asyncio.CancelledError:
            if run.cancel_reason is None:
                raise
            return Outcome.CANCELLED, None
        except TypilotError as exc:
            return Outcome.ERROR, str(exc)
        return Outcome.DONE, None

    def _judge(
        self, run: Run, prepared: Prepared, writer: StreamWriter, result: RunResult
    ) -> RunResult:
        """What the user is told about a reply: nothing landed, or its end was cut."""
        model = prepared.info.shown_name
        if writer.error is not None:
            result = result.failed(str(writer.error))
            if run.cancel_reason is CancelReason.EDITED:
                result = attrs.evolve(result, outcome=Outcome.CANCELLED)
        elif result.outcome is Outcome.DONE and not writer.written:
            why = prepared.output.nothing_landed_message(model)
            if why is not None:
                result = result.failed(why)
        if result.outcome is Outcome.DONE and run.finished_early is Finished.LOOPING:
            self.host.show_message(
                f"Typilot: {model} repeated itself, so it was stopped; check the end of the code.",
                types.MessageType.Warning,
            )
        if result.outcome is Outcome.DONE and run.stats.done_reason == "length":
            # Never half a function without a word: what streamed stays, and the user learns
            # that it was cut and which setting lets it run longer.
            self.host.show_message(
                f"Typilot: {model} hit the length limit ({prepared.composed.max_tokens} tokens); the end "
                f"may be missing (raise `{prepared.composed.max_tokens_setting}`).",
                types.MessageType.Warning,
            )
        return result

    async def finish(self, ctx: RunContext, result: RunResult) -> None:
        """Phase 3: release the regions, tell the user, end the progress, record the run."""
        run = ctx.run
        editor = self.host.editor_for(ctx.doc)
        for region in ctx.plan.regions:
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
        await ctx.progress.end(run, result.outcome, result.error)
        await self._record(run, ctx.doc, result)

    async def _read(
        self, ctx: RunContext, prepared: Prepared, writer: StreamWriter, parts: list[str]
    ) -> None:
        run = ctx.run
        last_report = 0.0

        def notify(message: str) -> None:
            ctx.progress.report(run, message)

        pieces = prepared.backend.stream(prepared.request, run.stats, notify)
        try:
            async for piece in pieces:
                parts.append(piece)
                writer.feed(prepared.output.feed(piece))
                if self._finished_early(run, prepared):
                    break
                now = time.monotonic()
                if now - last_report >= PROGRESS_REPORT_INTERVAL:
                    last_report = now
                    count = run.stats.token_count
                    ctx.progress.report(run, f"{count} token{'' if count == 1 else 's'}")
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

    def _finished_early(self, run: Run, prepared: Prepared) -> bool:
        """Nothing more the model writes can land: stop it now (closing the stream stops it)."""
        at_fence = run.stats.endpoint == "chat" and bool(prepared.request.stop)
        run.finished_early = prepared.output.finished(stops_at_fence=at_fence)
        if run.finished_early is not None:
            log.debug("run %s: the model stopped early (%s)", run.id, run.finished_early.value)
        return run.finished_early is not None

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
