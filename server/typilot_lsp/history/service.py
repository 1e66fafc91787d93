"""The server's view of the history: never blocks the event loop, never fails a run.

Every call runs on one worker thread (SQLite and ``dataset`` are blocking), in the order the
calls were made. When the store is broken (damaged file, read-only, locked for longer than
the busy timeout, a folder that cannot be created) ``warn`` is called once with a message
that says what to do; recording then quietly does nothing until the history settings change.
"""

from __future__ import annotations

import asyncio
import logging
import pathlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from typilot_lsp.history.records import HistoryUnavailable, RunRecord, history_path

if TYPE_CHECKING:
    from typilot_lsp.config import HistoryConfig
    from typilot_lsp.history.store import HistoryStore

__all__ = ["RETENTION_INTERVAL_S", "AsyncHistory"]

log = logging.getLogger(__name__)

RETENTION_INTERVAL_S = 3600.0
"""How often a running server applies retention (the issue asks for at least daily)."""

T = TypeVar("T")


class AsyncHistory:
    """Asynchronous, fail-safe front of :class:`HistoryStore` for the language server."""

    def __init__(
        self,
        settings: HistoryConfig,
        warn: Callable[[str], None],
        *,
        clock: Callable[[], float] = time.time,
        open_now: bool = True,
    ) -> None:
        self._settings = settings
        self._warn = warn
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="typilot-history")
        self._closed = False
        self._warmed = False
        self._retention_task: asyncio.Task[Any] | None = None
        # Touched on the worker thread only:
        self._store: HistoryStore | None = None
        self._broken: str | None = None
        # Set on the worker, taken (and passed to warn) on the event loop:
        self._pending_warning: str | None = None
        self._warning_lock = threading.Lock()
        if settings.enabled and open_now:
            # Open (and apply retention) now, in the background: a broken store is then
            # reported with the first call instead of the first run's end. The server passes
            # open_now=False so that an idle server never loads SQLAlchemy.
            self._executor.submit(self._open_quietly, settings)

    @property
    def settings(self) -> HistoryConfig:
        return self._settings

    def warm_up(self) -> None:
        """Open the store now, in the background, if it is not open yet: its one-time cost
        (loading SQLAlchemy, ~0.5 s of CPU) is then paid before the run that records into it
        rather than at that run's end. Cheap to call again."""
        if self._warmed or self._closed or not self._settings.enabled:
            return
        self._warmed = True
        self._executor.submit(self._open_quietly, self._settings)

    @property
    def path(self) -> pathlib.Path:
        """Where the history of the current settings lives."""
        return history_path(self._settings.path)

    # --- the worker thread -----------------------------------------------------------------

    def _fail(self, exc: BaseException, settings: HistoryConfig) -> str:
        from typilot_lsp.history.store import describe_error

        message = describe_error(exc, history_path(settings.path))
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._broken is None:
            self._broken = message
            with self._warning_lock:
                self._pending_warning = message
        log.warning("history store unavailable: %s", message)
        return message

    def _open(self, settings: HistoryConfig, *, force: bool) -> HistoryStore | None:
        if self._store is not None:
            return self._store
        if not force and (self._broken is not None or not settings.enabled):
            return None
        try:
            # SQLAlchemy and dataset load here, on the worker thread, not on the event loop.
            from typilot_lsp.history.store import HistoryStore

            self._store = HistoryStore(
                history_path(settings.path),
                retention_days=settings.retention_days,
                store_content=settings.store_content,
                clock=self._clock,
            )
        except Exception as exc:
            message = self._fail(exc, settings)
            if force:
                raise HistoryUnavailable(message) from exc
            return None
        self._broken = None
        return self._store

    def _open_quietly(self, settings: HistoryConfig) -> None:
        self._open(settings, force=False)

    def _with_store(
        self, settings: HistoryConfig, action: Callable[[HistoryStore], T], force: bool
    ) -> T | None:
        store = self._open(settings, force=force)
        if store is None:
            return None
        try:
            return action(store)
        except Exception as exc:
            from typilot_lsp.history.store import is_store_error

            if not is_store_error(exc):
                raise
            message = self._fail(exc, settings)
            if force:
                raise HistoryUnavailable(message) from exc
            return None

    def _reset(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        self._broken = None
        with self._warning_lock:
            self._pending_warning = None

    # --- the event loop --------------------------------------------------------------------

    def _deliver_warning(self) -> None:
        with self._warning_lock:
            message, self._pending_warning = self._pending_warning, None
        if message is not None:
            try:
                self._warn(message)
            except Exception:
                log.exception("could not show the history warning")

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        finally:
            self._deliver_warning()

    async def record(self, rec: RunRecord) -> None:
        """Record a run (prompt and response blanked when storeContent is false). Never raises."""
        settings = self._settings
        if self._closed or not settings.enabled:
            return
        if not settings.store_content:
            rec = attrs.evolve(rec, prompt="", response="")
        try:
            await self._run(self._with_store, settings, lambda s: s.record(rec), False)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # recording must never fail a run
            # Only the type at the default level: an exception's text could quote content.
            log.warning("recording a run in the history failed: %s", type(exc).__name__)
            log.debug("history record failure", exc_info=True)

    async def list_recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first; [] when history is disabled. Raises HistoryUnavailable when broken."""
        settings = self._settings
        if self._closed or not settings.enabled:
            return []
        result = await self._run(self._with_store, settings, lambda s: s.list_recent(limit), True)
        return result or []

    async def purge_all(self) -> int:
        """Delete everything (also when recording is disabled). Raises HistoryUnavailable."""
        if self._closed:
            return 0
        result = await self._run(self._with_store, self._settings, lambda s: s.purge_all(), True)
        return result or 0

    async def apply_retention(self) -> int:
        """Remove entries older than retentionDays; 0 when disabled or broken. Never raises."""
        settings = self._settings
        if self._closed or not settings.enabled:
            return 0
        try:
            result = await self._run(
                self._with_store, settings, lambda s: s.apply_retention(), False
            )
        except Exception as exc:
            log.warning("applying history retention failed: %s", type(exc).__name__)
            log.debug("history retention failure", exc_info=True)
            return 0
        return result or 0

    async def run_retention(
        self, interval_s: float = RETENTION_INTERVAL_S, *, first_delay_s: float = 0.0
    ) -> None:
        """Apply retention after ``first_delay_s``, then every ``interval_s`` seconds."""
        self._retention_task = asyncio.current_task()
        if first_delay_s > 0:
            await asyncio.sleep(first_delay_s)
        while not self._closed:
            removed = await self.apply_retention()
            if removed:
                log.info("history retention removed %d entries", removed)
            await asyncio.sleep(interval_s)

    def update_settings(self, settings: HistoryConfig) -> None:
        """Take new history settings; a change also clears a broken state (and retries)."""
        if settings == self._settings:
            return
        self._settings = settings
        if self._closed:
            return
        self._executor.submit(self._reset)
        if settings.enabled:
            self._executor.submit(self._open_quietly, settings)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        task, self._retention_task = self._retention_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

        def close() -> None:
            if self._store is not None:
                self._store.close()
                self._store = None

        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, close)
        finally:
            self._executor.shutdown(wait=False)
