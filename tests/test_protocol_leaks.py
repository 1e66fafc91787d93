"""The server's protocol keeps nothing per notification (the 1,000-run soak's leak)."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

from typilot_lsp.server import TypilotServer


async def test_notification_handlers_leave_no_future_behind() -> None:
    server = TypilotServer()
    seen: list[str] = []

    @server.feature("test/asyncNote")
    async def async_note(ls: Any, params: Any) -> None:
        await asyncio.sleep(0)
        seen.append("async")

    def step(value: str) -> None:
        seen.append(value)

    @server.feature("test/generatorNote")
    def generator_note(ls: Any, params: Any) -> Generator[Any, Any, None]:
        # pygls runs each yielded (handler, args, kwargs) as a step, as its built-in
        # didOpen/didChange/didClose do before calling ours.
        yield step, ("step",), {}
        seen.append("generator")

    protocol = server.protocol
    for _ in range(50):
        protocol._handle_notification("test/asyncNote", None)
        protocol._handle_notification("test/generatorNote", None)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while len(seen) < 150 or protocol._request_futures:
        assert loop.time() < deadline, (len(seen), len(protocol._request_futures))
        await asyncio.sleep(0.01)
    assert seen.count("async") == 50 and seen.count("generator") == 50
    assert protocol._request_futures == {}
