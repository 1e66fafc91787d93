"""Waiting with a deadline without ever losing a cancel.

``asyncio.wait_for`` before Python 3.12 can swallow a cancellation: when the awaited thing
finishes in the same loop iteration as the task is cancelled, it returns the result and the
cancel is gone (CPython gh-86296). For a stream that is how a cancelled run would go on reading
to the end. :func:`within` runs the awaitable as a task and waits with ``asyncio.wait``, which
always lets the caller's cancellation through (and cancels the inner task).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["ReadDeadline", "within"]

T = TypeVar("T")


async def within(awaitable: Awaitable[T], timeout: float) -> T:
    """``await awaitable``, or raise :class:`asyncio.TimeoutError` after ``timeout`` seconds."""
    inner = asyncio.ensure_future(awaitable)
    try:
        done, _ = await asyncio.wait({inner}, timeout=max(0.0, timeout))
    except BaseException:  # our task was cancelled: so is what it waited for
        inner.cancel()
        with contextlib.suppress(BaseException):
            result = await inner
            # It finished anyway (say, a streamed response): close what nobody will read.
            close = getattr(result, "aclose", None)
            if close is not None:
                await close()
        raise
    if not done:
        inner.cancel()
        with contextlib.suppress(BaseException):
            await inner
        raise asyncio.TimeoutError
    return inner.result()


class ReadDeadline:
    """Deadlines for a stream's reads: one timer for the whole stream.

    :func:`within` costs a task and a timer per call; a stream read per token would pay that
    for every token. ``await deadline.read(awaitable, until)`` awaits in the calling task and
    raises :class:`asyncio.TimeoutError` if the loop's clock passes ``until`` first. The timer
    only moves when it fires (a later ``until`` does not re-arm it), so a steady stream costs
    no timer work at all. Create it in the task that reads; call :meth:`close` when done.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("ReadDeadline needs a task")
        self._task = task
        self._until: float | None = None  # set only while a read is awaited
        self._timer: asyncio.TimerHandle | None = None
        self._expired = False

    async def read(self, awaitable: Awaitable[T], until: float) -> T:
        self._until, self._expired = until, False
        if self._timer is None or self._timer.when() > until:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_at(until, self._fire)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if not self._expired:
                raise
            uncancel = getattr(self._task, "uncancel", None)  # 3.11+
            if uncancel is not None and uncancel() > 0:
                raise  # the caller was cancelled as well: that wins
            raise asyncio.TimeoutError from None
        finally:
            self._until = None

    def _fire(self) -> None:
        self._timer = None
        if self._until is None:
            return  # not reading now: the next read arms it again
        if self._loop.time() < self._until:
            self._timer = self._loop.call_at(self._until, self._fire)
            return
        self._expired = True
        self._task.cancel()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
