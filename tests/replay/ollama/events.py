"""The replay server's event log, which tests assert on: ``request``, ``queued``, ``complete``,
``disconnect``, ``stall`` and ``error`` events, each a dict with its ``kind`` and ``time``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

Predicate = Callable[[dict[str, Any]], bool]


class EventLog:
    """Thread-safe: the server's loop records, test threads and coroutines wait."""

    def __init__(self, mirror: TextIO | None = None) -> None:
        self._lock = threading.Condition()
        self._events: list[dict[str, Any]] = []
        self._mirror = mirror  # each event also written there as a JSON line
        self._request_ids = 0

    def next_request_id(self) -> int:
        """Numbers the requests: the events of one request share its ``id``."""
        with self._lock:
            self._request_ids += 1
            return self._request_ids

    def record(self, kind: str, **data: Any) -> dict[str, Any]:
        event = {"kind": kind, "time": time.time(), **data}
        with self._lock:
            self._events.append(event)
            self._lock.notify_all()
        if self._mirror is not None:
            with contextlib.suppress(OSError, ValueError):
                self._mirror.write(json.dumps(event, default=repr) + "\n")
                self._mirror.flush()
        return event

    def clear(self) -> None:
        with self._lock:
            self._events.clear()

    @property
    def events(self) -> list[dict[str, Any]]:
        """A snapshot of the log (copies of the events)."""
        with self._lock:
            return [dict(e) for e in self._events]

    def _find(self, kind: str, predicate: Predicate | None, since: int) -> dict[str, Any] | None:
        for event in self._events[since:]:
            if event["kind"] == kind and (predicate is None or predicate(event)):
                return dict(event)
        return None

    def wait_for(
        self, kind: str, predicate: Predicate | None = None, timeout: float = 10, *, since: int = 0
    ) -> dict[str, Any]:
        """Block until an event of ``kind`` (matching ``predicate``) is in the log; return it.

        Events already logged count (from index ``since``). Raises ``TimeoutError`` listing
        the events seen.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = self._find(kind, predicate, since)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(e["kind"], e.get("path")) for e in self._events]
                    raise TimeoutError(
                        f"no {kind!r} event within {timeout}s; events so far: {seen}"
                    )
                self._lock.wait(left)

    async def wait_for_async(
        self, kind: str, predicate: Predicate | None = None, timeout: float = 10, *, since: int = 0
    ) -> dict[str, Any]:
        """``wait_for`` for coroutines: polls without blocking the caller's event loop."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = self._find(kind, predicate, since)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                return self.wait_for(kind, predicate, 0, since=since)
            await asyncio.sleep(0.01)
