"""The prompt evaluated while the user types: a run's request sent ahead of the run.

A model server spends most of a run's wait reading the prompt (llama-server on a CPU: ~1,000
tokens at ~270 tokens/s, 3-4 s). The prefixed line is typed seconds before the action is
picked, and the prompt (`runs.request.compose`) is laid out so that it is the same then and
at the pick up to the instruction. So when a line becomes a prefixed line (at once: the
server reads the code while the user types the instruction), when a prefixed line changes and
the editor is quiet for `prewarm.delayMs`, or when the editor asks for the code actions on it
(every editor does before it shows the menu), the `Prewarmer` sends the run's own request asking for at most one token
(`Backend.warm`): the server evaluates the prompt and keeps it in its cache, and the run that
follows evaluates only what changed.

Bounded: at most one warm request in flight (a newer line waits for it and is sent after),
the same prompt never twice in a row, none while a run streams. A run's start cancels what is
pending, and a warm request in flight for another line; one in flight for the run's own line
is waited for (`handover`, at most HANDOVER_WAIT_S): the server would otherwise read the same
prompt twice, in two slots. To a server on another machine only with `prewarm.remoteHost` (and
the privacy setting that allows the host at all). Nothing of it reaches the history, and the
log says only that a prompt was warmed (never its text).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from typilot_lsp.backends.urls import host_name
from typilot_lsp.privacy import is_loopback_host
from typilot_lsp.runs.request import compose_at, mode_for, target_of

if TYPE_CHECKING:
    from typilot_lsp.backends.base import Backend, GenerationRequest
    from typilot_lsp.config import Config
    from typilot_lsp.context.model import ContextRequest
    from typilot_lsp.documents import TypilotDocument

log = logging.getLogger(__name__)
HANDOVER_WAIT_S = 15.0
"""How long a run waits for the warm request of its own line to end (a model server that
reads slower than this gets the run's request anyway)."""


class PrewarmHost(Protocol):
    """What the prewarmer needs from the language server's runs feature."""

    @property
    def config(self) -> Config: ...
    @property
    def backend(self) -> Backend: ...
    def document(self, uri: str) -> TypilotDocument | None: ...
    async def other_files(self, code: ContextRequest | None, budget: int) -> str:
        """As `RunHost.other_files`: the run's own definitions from other files."""
        ...

    def runs_streaming(self) -> bool: ...
    def run_task(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]: ...


def request_key(request: GenerationRequest) -> tuple[object, ...]:
    """Two requests with the same key evaluate the same prompt."""
    return (request.model, request.system, request.prompt, request.fim, request.prefill)


class Prewarmer:
    def __init__(self, host: PrewarmHost) -> None:
        self.host = host
        self.warmed = 0
        """Warm requests the server answered (tests and benchmarks read it)."""
        self._lines: dict[str, dict[int, str]] = {}
        self._timer: asyncio.Handle | None = None
        self._pending: tuple[str, int] | None = None
        self._running: asyncio.Task[None] | None = None
        self._running_for: tuple[str, int] | None = None
        self._last_key: tuple[object, ...] | None = None
        self._refused: set[tuple[str, str]] = set()
        """(server, model) pairs whose warm request failed: not asked again."""

    @property
    def idle(self) -> bool:
        """Nothing waiting to be sent, nothing in flight."""
        running = self._running is not None and not self._running.done()
        return self._timer is None and self._pending is None and not running

    # -- what the editor does ------------------------------------------------------
    def document_opened(self, doc: TypilotDocument) -> None:
        """Known from here on; a file opened with a prefixed line in it is not warmed (the
        user has not typed anything; asking for the actions warms it)."""
        self._lines[doc.uri] = {line: doc.line_text(line) for line in doc.prefixed}

    def document_changed(self, doc: TypilotDocument) -> None:
        """A prefixed line that is new or changed is warmed once the editor is quiet."""
        lines = {line: doc.line_text(line) for line in doc.prefixed}
        before = self._lines.get(doc.uri, {})
        self._lines[doc.uri] = lines
        # By text: a line that only moved (code landed above it) is not sent again.
        known = set(before.values())
        changed = [line for line, text in lines.items() if text not in known]
        if not changed or not self._enabled():
            return
        # A new prefixed line is sent at once: all of its prompt but the instruction being
        # typed is known, and the server reads it while the user types. Later keystrokes wait
        # for a quiet moment, and cost the server only the tail.
        fresh = len(lines) > len(before)
        delay = 0.0 if fresh else self.host.config.prewarm.delay_ms / 1000
        self._schedule(doc.uri, changed[-1], delay)

    def actions_asked(self, uri: str, line: int) -> None:
        """The editor asks for the code actions on a prefixed line: the pick may come now."""
        if self._enabled():
            self._schedule(uri, line, 0.0)

    def document_closed(self, uri: str) -> None:
        self._lines.pop(uri, None)
        if self._pending is not None and self._pending[0] == uri:
            self.cancel()

    def cancel(self) -> None:
        """No warm request now, none pending (the server stops, a run elsewhere starts)."""
        self._drop_pending()
        if self._running is not None and not self._running.done():
            # Closing the connection stops the server's work on it.
            self._running.cancel()

    async def handover(self, uri: str, line: int) -> None:
        """A run on `line` of `uri` is about to send its request: nothing else is sent, and
        the warm request of this very line, if in flight, ends first (the run then finds the
        prompt in the server's cache instead of evaluating it again in another slot)."""
        self._drop_pending()
        running = self._running
        if running is None or running.done():
            return
        if self._running_for != (uri, line):
            running.cancel()
            return
        await asyncio.wait({running}, timeout=HANDOVER_WAIT_S)
        if not running.done():
            running.cancel()

    def _drop_pending(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending = None

    def forget_sent(self) -> None:
        """The model server changed: the next prompt is sent even if it is the last one."""
        self._last_key = None
        self._refused.clear()

    # -- sending ---------------------------------------------------------------------
    def _enabled(self) -> bool:
        return self.host.config.prewarm.enabled

    def _schedule(self, uri: str, line: int, delay: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._pending = (uri, line)
        loop = asyncio.get_running_loop()
        if delay > 0:
            self._timer = loop.call_later(delay, self._send_pending)
        else:
            self._timer = loop.call_soon(self._send_pending)

    def _send_pending(self) -> None:
        self._timer = None
        if self._pending is None or (self._running is not None and not self._running.done()):
            return  # the running one sends the pending line when it ends
        uri, line = self._pending
        self._pending = None
        self._running_for = (uri, line)
        self._running = self.host.run_task(self._warm(uri, line), "prewarm")
        self._running.add_done_callback(lambda _task: self._after())

    def _after(self) -> None:
        if self._pending is not None and self._timer is None:
            self._send_pending()

    async def _warm(self, uri: str, line: int) -> None:
        request = await self._request(uri, line)
        if request is None:
            return
        backend = self.host.backend
        key = request_key(request)
        if key == self._last_key or (backend.host, request.model) in self._refused:
            return
        if self.host.runs_streaming():
            return  # the server is busy with a run: its slot, its CPU
        try:
            evaluated = await backend.warm(request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A server that cannot (or will not) is simply not warmed; the run still works.
            self._refused.add((backend.host, request.model))
            log.info("prewarm off for this model on %s (%s)", backend.host, type(exc).__name__)
            return
        self._last_key = key
        self.warmed += 1
        log.debug("prewarmed a prompt on %s: %s tokens evaluated", backend.host, evaluated)

    async def _request(self, uri: str, line: int) -> GenerationRequest | None:
        """The run's own request for `line`, if a run could start there now."""
        doc = self.host.document(uri)
        match = doc.prefixed.get(line) if doc is not None else None
        if doc is None or match is None or not self._may_send(self.host.backend):
            return None
        config = self.host.config
        try:
            info = await self.host.backend.prepare(config.model)  # privacy guards, cached
        except Exception as exc:
            log.debug("no prewarm: the model is not ready (%s)", type(exc).__name__)
            return None
        doc = self.host.document(uri)
        match = doc.prefixed.get(line) if doc is not None else None
        if doc is None or match is None:
            return None
        target, target_text = target_of(doc, line, mode_for(match, config.commands))
        # The run's own composition: the head of the prompt the server caches now is the head
        # the run sends (other files' definitions included: the same code gives the same text).
        composed = await compose_at(
            config,
            info,
            doc,
            lines=list(doc.lines),
            line=line,
            match=match,
            target=target,
            target_text=target_text,
            other_files=self.host.other_files,
        )
        return composed.request

    def _may_send(self, backend: Backend) -> bool:
        local = is_loopback_host(host_name(backend.host))
        return local or self.host.config.prewarm.remote_host

    async def aclose(self) -> None:
        self.cancel()
        if self._running is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._running
