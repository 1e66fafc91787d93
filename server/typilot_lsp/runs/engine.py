"""The streaming edit engine: model text -> `workspace/applyEdit`, safely.

One `StreamWriter` writes one run's text into one document:

* Tokens are coalesced in time windows with at most one applyEdit in flight per
  document; the first text goes out at once, the window starts at
  `streaming.editIntervalMs` and doubles after every edit up to
  `streaming.maxEditIntervalMs`, so short replies stream smoothly and long ones
  are a few dozen edits. A window closes early when no token came for half the
  first window (a slow model), and the end of the reply is written at once.
* Every edit is a versioned `TextDocumentEdit` computed on the newest text the
  editor reported. A rejected edit (the user typed first) is recomputed and
  retried, never forced.
* The region being written is followed through every didChange (the editor's
  echo of our own edits included, whatever shape its diff takes) by content:
  a `TrackedRegion` maps its start through each change and then checks that
  the text it expects is still there. Typing above, below or next to it moves
  it; an edit inside it stops the run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from typilot_lsp.documents import TypilotDocument, col_to_units, split_lines
from typilot_lsp.errors import TypilotError

log = logging.getLogger(__name__)

Position = tuple[int, int]
MAX_CANDIDATES = 8
MAX_REJECTIONS = 20


class RegionEdited(TypilotError):
    """The user edited the text a run was writing."""


class EditorRefused(TypilotError):
    """The editor did not take an edit, or never reported it back."""


def map_position(p: Position, l1: int, c1: int, l2: int, c2: int, text: str) -> list[Position]:
    """Where `p` can be after replacing (l1,c1)-(l2,c2) with `text` (code points)."""
    start, end = (l1, c1), (l2, c2)

    def shifted() -> Position:
        pieces = split_lines(text)
        added = len(pieces) - 1
        if p[0] == l2:
            base = c1 if added == 0 else 0
            return l1 + added, base + len(pieces[-1]) + (p[1] - c2)
        return p[0] + added - (l2 - l1), p[1]

    if end < p or (end == p and start != end):
        return [shifted()]
    if start == end == p:
        # Typed exactly at the start: either before the region or inside it.
        return [p, shifted()]
    if start >= p:
        return [p]
    # The start fell inside a replaced range; the content check decides.
    pieces = split_lines(text)
    after = (l1 + len(pieces) - 1, (c1 if len(pieces) == 1 else 0) + len(pieces[-1]))
    return [start, after]


class TrackedRegion:
    """A span of the document known by its start and the text it should hold."""

    def __init__(self, doc: TypilotDocument, start: Position, text: str) -> None:
        self.doc = doc
        self.candidates: list[Position] = [start]
        self.text = text
        self.lost = False

    def on_change(self, l1: int, c1: int, l2: int, c2: int, text: str) -> None:
        mapped: list[Position] = []
        for p in self.candidates:
            for q in map_position(p, l1, c1, l2, c2, text):
                if q not in mapped:
                    mapped.append(q)
        self.candidates = mapped[:MAX_CANDIDATES]

    def find(self, *expected: str) -> tuple[Position, str] | None:
        """The first candidate start holding one of `expected` (in order of preference)."""
        for want in expected:
            for p in self.candidates:
                if self.doc.starts_with_at(p[0], p[1], want):
                    return p, want
        return None

    def settle(self, start: Position, text: str) -> None:
        self.candidates = [start]
        self.text = text

    @property
    def start(self) -> Position:
        return self.candidates[0]

    def end(self) -> Position:
        return self.doc.end_of(self.start[0], self.start[1], self.text)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class DocumentEditor:
    """Serialises applyEdit per document and wakes writers on every didChange."""

    def __init__(
        self,
        doc: TypilotDocument,
        send: Callable[[types.ApplyWorkspaceEditParams], Awaitable[types.ApplyWorkspaceEditResult]],
        encoding: str,
    ) -> None:
        self.doc = doc
        self.send = send
        self.encoding = encoding
        self.lock = asyncio.Lock()
        self._waiters: list[asyncio.Future[None]] = []
        self.regions: list[TrackedRegion] = []
        doc.listeners.append(self)

    # ChangeListener
    def on_change(self, l1: int, c1: int, l2: int, c2: int, text: str) -> None:
        for region in self.regions:
            region.on_change(l1, c1, l2, c2, text)

    def on_changes_applied(self, version: int) -> None:
        # Wakes whoever waits for a change, at once: no task per didChange.
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_change(self, after_version: int, timeout: float) -> bool:
        """Wait until the document is newer than `after_version`; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.doc.version <= after_version:
            left = deadline - loop.time()
            if left <= 0:
                return False
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            timer = loop.call_later(left, _expire, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        return True

    def track(self, start: Position, text: str) -> TrackedRegion:
        region = TrackedRegion(self.doc, start, text)
        self.regions.append(region)
        return region

    def untrack(self, region: TrackedRegion) -> None:
        if region in self.regions:
            self.regions.remove(region)

    def lsp_range(self, start: Position, end: Position) -> types.Range:
        def pos(p: Position) -> types.Position:
            line = self.doc.lines[p[0]] if p[0] < len(self.doc.lines) else ""
            return types.Position(line=p[0], character=col_to_units(line, p[1], self.encoding))

        return types.Range(start=pos(start), end=pos(end))

    async def replace(
        self,
        region: TrackedRegion,
        new_text: str,
        *,
        label: str,
        replace_from: Position | None = None,
        echo_timeout: float,
    ) -> None:
        """Replace the region's text from `replace_from` (default: its end) with `new_text`.

        On return the region holds its old text up to `replace_from`, then `new_text`,
        and the editor has reported the change back.
        """
        async with self.lock:
            rejections = 0
            while True:
                found = region.find(region.text)
                if found is None:
                    region.lost = True
                    raise RegionEdited(
                        "Typilot stopped: the text it was writing was edited. "
                        "What was already written is kept."
                    )
                start, _ = found
                region.settle(start, region.text)
                end = region.end()
                keep = region.text
                cut_from = end
                if replace_from is not None:
                    offset = self._offset_in(region, replace_from)
                    keep = region.text[:offset]
                    cut_from = self.doc.end_of(start[0], start[1], keep)
                expected = keep + new_text
                version = self.doc.version
                edit = types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(
                        uri=self.doc.uri, version=version
                    ),
                    edits=[types.TextEdit(range=self.lsp_range(cut_from, end), new_text=new_text)],
                )
                try:
                    result = await self.send(
                        types.ApplyWorkspaceEditParams(
                            edit=types.WorkspaceEdit(document_changes=[edit]), label=label
                        )
                    )
                except JsonRpcException as exc:
                    # Some editors (Eglot) answer a stale version with an error, not
                    # {applied: false}: it means the same thing.
                    result = types.ApplyWorkspaceEditResult(
                        applied=False, failure_reason=exc.message
                    )
                if not result.applied:
                    rejections += 1
                    if rejections > MAX_REJECTIONS:
                        raise EditorRefused(
                            "Typilot stopped: the editor kept rejecting its edits"
                            + (f" ({result.failure_reason})" if result.failure_reason else "")
                            + "."
                        )
                    # The user changed the document first: wait for that change, recompute.
                    await self.wait_change(version, min(echo_timeout, 0.5))
                    continue
                if await self._await_echo(region, version, expected, echo_timeout):
                    return
                rejections += 1
                if rejections > MAX_REJECTIONS:
                    raise EditorRefused("Typilot stopped: the editor did not apply its edits.")

    def _offset_in(self, region: TrackedRegion, pos: Position) -> int:
        start = region.start
        if pos[0] == start[0]:
            return pos[1] - start[1]
        pieces = split_lines(region.text)
        line_in = pos[0] - start[0]
        return sum(len(x) for x in pieces[:line_in]) + pos[1]

    async def _await_echo(
        self, region: TrackedRegion, version: int, expected: str, timeout: float
    ) -> bool:
        """True once the editor reported our edit; False if it reported it was not applied."""
        deadline = time.monotonic() + timeout
        while True:
            if self.doc.version > version:
                found = region.find(expected, region.text)
                if found is None:
                    region.lost = True
                    raise RegionEdited(
                        "Typilot stopped: the text it was writing was edited. "
                        "What was already written is kept."
                    )
                start, text = found
                if text == expected:
                    region.settle(start, expected)
                    return True
                region.settle(start, region.text)
                observed = self.doc.version
            else:
                observed = version
            left = deadline - time.monotonic()
            if left <= 0:
                if self.doc.version > version:
                    # The editor moved on without our edit (it skipped it): send it again.
                    return False
                raise EditorRefused(
                    "Typilot stopped: the editor did not report the streamed text back "
                    f"(textDocument/didChange) within {timeout:g} s. Nothing was lost. If your "
                    "editor sends changes only when idle (Emacs Eglot), pause typing during a "
                    "run or raise typilot.streaming.echoTimeoutMs."
                )
            await self.wait_change(observed, left)


class StreamWriter:
    """Coalesces one run's text and writes it into its region."""

    def __init__(
        self,
        editor: DocumentEditor,
        region: TrackedRegion,
        *,
        label: str,
        interval: float,
        max_interval: float | None = None,
        echo_timeout: float,
        on_first_edit: Callable[[], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.editor = editor
        self.region = region
        self.label = label
        self.interval = interval
        self.max_interval = max(interval, max_interval if max_interval is not None else interval)
        self.quiet_interval = interval / 2
        self._loop = asyncio.get_running_loop()
        self._last_feed = self._loop.time()
        self._token_gap = 0.0
        self._fed = False
        self.echo_timeout = echo_timeout
        self.pending = ""
        self.written = ""
        self.edits = 0
        self.first_edit_at: float | None = None
        self.last_edit_at: float | None = None
        self._replaced_original = False
        self._on_first_edit = on_first_edit
        self._on_error = on_error
        self._wake = asyncio.Event()
        self._idle = True  # waiting for text: the next feed wakes the flusher
        self._window_end = -1e9  # the current window closes then (loop time)
        self._due: float | None = None  # the flusher, holding text, wakes then
        self._due_timer: asyncio.TimerHandle | None = None
        self._closing = False
        self._error: BaseException | None = None
        self._task = asyncio.get_running_loop().create_task(self._flusher())

    @property
    def error(self) -> BaseException | None:
        return self._error

    def feed(self, text: str) -> None:
        # Called for every token: no wake-up, timer or task here. A flusher waiting for its
        # window to close reads `_last_feed` when its timer fires.
        if text and self._error is None:
            self.pending += text
            now = self._loop.time()
            # How far apart the model's tokens come (a moving average): a window closes early
            # only after a silence longer than twice that, so a slow model's tokens are
            # gathered into a few edits instead of one edit each.
            if self._fed:
                self._token_gap += (min(now - self._last_feed, 1.0) - self._token_gap) / 8
            self._fed = True
            self._last_feed = now
            if self._idle or now >= self._window_end:
                # Waiting for text, or the window is over: this token's wake-up carries the
                # edit, so a steady stream costs no wake-up of its own for the window's end.
                self._wake.set()
            elif self._due is not None:
                # The flusher holds text until its window closes or the stream goes quiet:
                # this token moves the quiet mark, so move its one timer (no wake-up).
                self._arm(self._quiet_due())

    async def close(self) -> None:
        """Write everything still pending and wait for the editor to confirm it."""
        self._closing = True
        self._wake.set()
        await asyncio.shield(self._task)
        self.editor.untrack(self.region)

    def abandon(self) -> None:
        self._closing = True
        self.pending = ""
        self._task.cancel()
        self.editor.untrack(self.region)

    def _quiet_due(self) -> float:
        """When held text goes out if no token comes: once the stream has gone quiet.

        Held text goes out with the first token after its window ends, or after a silence of
        twice the model's usual token gap, whichever is first: a slow model's tokens still
        gather into few edits, and its last token does not wait out a long window.
        """
        quiet = min(max(self.quiet_interval, 2 * self._token_gap), self.max_interval)
        return self._last_feed + quiet

    def _arm(self, due: float) -> None:
        if due == self._due:
            return
        if self._due_timer is not None:
            self._due_timer.cancel()
        self._due = due
        self._due_timer = self._loop.call_at(due, self._wake.set)

    async def _flusher(self) -> None:
        try:
            while True:
                if not self.pending:
                    if self._closing:
                        return
                    await self._sleep(None)
                    continue
                if not self._closing:
                    now, due = self._loop.time(), self._quiet_due()
                    if now < self._window_end and now < due:
                        # One timer for the silence, moved by `feed` as tokens come; `feed`
                        # itself wakes the flusher once the window is over.
                        await self._sleep(due)
                        continue
                text, self.pending = self.pending, ""
                self._window_end = self._loop.time() + self.interval
                await self._write(text)
                self.interval = min(self.max_interval, self.interval * 2)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._error = exc
            self.pending = ""
            if self._on_error is not None:
                self._on_error(exc)

    async def _sleep(self, until: float | None) -> None:
        """Sleep until `until` (loop time), or, with None, until text comes; close() cuts it short."""
        self._wake.clear()
        self._idle = until is None
        if until is not None:
            self._arm(until)
        try:
            await self._wake.wait()
        finally:
            self._idle = False
            self._due = None
            if self._due_timer is not None:
                self._due_timer.cancel()
                self._due_timer = None

    async def _write(self, text: str) -> None:
        if not self._replaced_original:
            # The first text replaces the prefix line (the region's original text).
            await self.editor.replace(
                self.region,
                text,
                label=self.label,
                replace_from=self.region.start,
                echo_timeout=self.echo_timeout,
            )
            self._replaced_original = True
            if self._on_first_edit is not None:
                self._on_first_edit()
        else:
            await self.editor.replace(
                self.region, text, label=self.label, echo_timeout=self.echo_timeout
            )
        self.written += text
        self.edits += 1
        now = time.monotonic()
        if self.first_edit_at is None:
            self.first_edit_at = now
        self.last_edit_at = now
