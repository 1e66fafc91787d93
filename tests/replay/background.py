"""An asyncio event loop on its own daemon thread: how both replay servers serve while the test
that scripts them runs on its own thread (or its own loop)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any

Step = Callable[[], Coroutine[Any, Any, None]]


class BackgroundLoop:
    def __init__(self, name: str) -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, startup: Step, timeout: float = 10) -> None:
        """Start the thread and run ``startup`` on its loop (binding a socket, say); raises what
        ``startup`` raised, or ``TimeoutError`` when it did not finish in ``timeout`` s."""
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(startup())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self.loop = loop
        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError(f"{self.name} did not start within {timeout}s")
        if failure:
            self._thread.join(5)
            self._thread = self.loop = None
            raise failure[0]

    def stop(self, shutdown: Step, timeout: float = 10) -> None:
        """Run ``shutdown`` on the loop (at most ``timeout`` s), stop it and join the thread."""
        loop, thread = self.loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = self.loop = None
