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

__all__ = ["within"]

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
