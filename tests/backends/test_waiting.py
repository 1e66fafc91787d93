"""`within`: a deadline that never swallows a cancel (the stream readers rely on it)."""

from __future__ import annotations

import asyncio

import pytest

from typilot_lsp.backends.waiting import within


async def _race(wait: object) -> object:
    """Cancel the waiting task in the same loop iteration as what it waits for finishes."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[int] = loop.create_future()
    task = asyncio.ensure_future(wait(fut, 10))  # type: ignore[operator]
    for _ in range(3):
        await asyncio.sleep(0)
    fut.set_result(1)
    task.cancel()
    try:
        return await task
    except asyncio.CancelledError:
        return "cancelled"


async def test_a_cancel_is_never_swallowed() -> None:
    assert await _race(within) == "cancelled"


async def test_result_and_timeout() -> None:
    assert await within(asyncio.sleep(0, result=7), 1) == 7
    with pytest.raises(asyncio.TimeoutError):
        await within(asyncio.sleep(5), 0.05)


async def test_what_finished_anyway_is_closed() -> None:
    closed = asyncio.Event()

    class Response:
        async def aclose(self) -> None:
            closed.set()

    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Response] = loop.create_future()
    task = asyncio.ensure_future(within(fut, 10))
    for _ in range(3):
        await asyncio.sleep(0)
    fut.set_result(Response())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed.is_set()
