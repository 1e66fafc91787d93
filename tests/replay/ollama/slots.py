"""Generation slots, as Ollama's scheduler hands them out: ``num_parallel`` generations at once
(``OLLAMA_NUM_PARALLEL``), the others queued, and beyond ``max_queue`` queued ones a 503
(``OLLAMA_MAX_QUEUE``). The time spent queued shows in ``load_duration``, as Ollama's does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol

from tests.replay.ollama.connection import HangupWatch


class SlotLimits(Protocol):
    """The settings the slots obey, read at each decision (they change at run time)."""

    num_parallel: int | None  # None: no limit
    max_queue: int | None  # None: no limit


class GenerationSlots:
    """Used on the server's event loop only, except ``wake`` (thread-safe)."""

    def __init__(self, limits: SlotLimits) -> None:
        self._limits = limits
        self._active = 0  # generations holding a slot
        self._waiting = 0  # generations queued for a slot
        self._loop: asyncio.AbstractEventLoop | None = None
        self._freed: asyncio.Event | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the server's loop (at start)."""
        self._loop = loop
        self._freed = asyncio.Event()

    def _take_free(self) -> bool:
        limit = self._limits.num_parallel
        if limit is None or self._active < limit:
            self._active += 1
            return True
        return False

    async def acquire(self, watch: HangupWatch, on_queued: Callable[[int], None]) -> bool | None:
        """Wait for a slot: True when held, False if the client left, None if the queue is full
        (a 503). ``on_queued(position)`` is called when the request has to wait."""
        assert self._freed is not None, "bind() first"
        if self._take_free():
            return True
        max_queue = self._limits.max_queue
        if max_queue is not None and self._waiting >= max_queue:
            return None
        self._waiting += 1
        on_queued(self._waiting)
        try:
            while True:
                await self._wait_freed_or_gone(watch)
                if watch.gone:
                    return False
                if self._take_free():
                    return True
        finally:
            self._waiting -= 1

    async def _wait_freed_or_gone(self, watch: HangupWatch) -> None:
        assert self._freed is not None
        self._freed.clear()
        freed = asyncio.ensure_future(self._freed.wait())
        try:
            await asyncio.wait({freed, watch.task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            freed.cancel()

    def release(self) -> None:
        self._active -= 1
        if self._freed is not None:
            self._freed.set()

    def wake(self) -> None:
        """Let queued generations look again (the limits changed); from any thread."""
        if self._loop is not None and self._freed is not None:
            with contextlib.suppress(RuntimeError):  # the loop may be closing
                self._loop.call_soon_threadsafe(self._freed.set)
