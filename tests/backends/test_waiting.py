"""`within`: a deadline that never swallows a cancel (the stream readers rely on it)."""

from __future__ import annotations

import asyncio

import pytest

from typilot_lsp.backends.waiting import ReadDeadline, within


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


# -- ReadDeadline: one timer for a stream's reads ------------------------------------------


async def _reads(deadline: ReadDeadline, gaps: list[float], until_after: float) -> list[int]:
    """Read one item per gap from a fake stream, each read due `until_after` from now."""
    loop = asyncio.get_running_loop()
    got = []
    for index, gap in enumerate(gaps):
        item = asyncio.sleep(gap, result=index)
        got.append(await deadline.read(item, loop.time() + until_after))
    return got


async def test_read_deadline_passes_a_steady_stream_and_stops_a_stall() -> None:
    deadline = ReadDeadline()
    try:
        assert await _reads(deadline, [0.01] * 20, until_after=0.5) == list(range(20))
        with pytest.raises(asyncio.TimeoutError):
            await _reads(deadline, [0.01, 5.0], until_after=0.2)
        # The task is usable after a stall: the deadline's cancel was taken back.
        assert await asyncio.sleep(0.01, result="next") == "next"
    finally:
        deadline.close()


async def test_read_deadline_lets_the_callers_cancel_through() -> None:
    async def reader() -> None:
        deadline = ReadDeadline()
        try:
            await deadline.read(asyncio.sleep(10), asyncio.get_running_loop().time() + 5)
        finally:
            deadline.close()

    task = asyncio.ensure_future(reader())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_read_deadline_arms_no_timer_per_read() -> None:
    loop = asyncio.get_running_loop()
    armed = 0
    call_at = loop.call_at

    def counting_call_at(*args: object, **kwargs: object) -> asyncio.TimerHandle:
        nonlocal armed
        armed += 1
        return call_at(*args, **kwargs)  # type: ignore[arg-type]

    loop.call_at = counting_call_at  # type: ignore[method-assign]
    deadline = ReadDeadline()
    try:
        await _reads(deadline, [0] * 200, until_after=30)
    finally:
        loop.call_at = call_at  # type: ignore[method-assign]
        deadline.close()
    assert armed == 1  # the later deadlines of later reads do not re-arm it
