"""The server side of the voice sidecar: spawn `typilot-lsp voice`, talk JSON lines, restart it.

The language server never imports faster-whisper or sounddevice: everything that needs them runs
in the sidecar process this client starts on first use. The client

* starts the sidecar lazily and waits for its ``hello`` line,
* sends typed requests and hands each typed event to the request with the same ``id``,
* notices when the sidecar dies: pending requests fail with an actionable error, and the sidecar is
  started again (at once, a few times a minute at most; later on the next request), with the last
  ``configure`` sent again so the model is warm again,
* stops it on shutdown (``shutdown`` request, then terminate, then kill).

The messages are those of `typilot_lsp.voice_agent.protocol`, the one module both sides import.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import attrs

from typilot_lsp.errors import TypilotError
from typilot_lsp.voice_agent import protocol as p

__all__ = ["SidecarError", "VoiceClient", "VoiceRequest"]

log = logging.getLogger("typilot_lsp.voice")

HELLO_TIMEOUT = 30.0
RESTART_LIMIT = 3
RESTART_WINDOW = 60.0


class SidecarError(TypilotError):
    """The sidecar could not be started, or it reported an error (its message names the fix)."""

    def __init__(self, message: str, code: str = "sidecar") -> None:
        super().__init__(message)
        self.code = code


class VoiceRequest:
    """One request in flight: iterate over its events until the terminal one."""

    def __init__(self, client: VoiceClient, request: p.Request) -> None:
        assert request.id is not None
        self.client = client
        self.request = request
        self.id: int = request.id
        self.events: asyncio.Queue[p.Event] = asyncio.Queue()
        self.done = False

    def deliver(self, event: p.Event) -> None:
        if self.done:
            return
        if isinstance(event, p.TERMINAL_EVENTS):
            self.done = True
            self.client._requests.pop(self.id, None)
        self.events.put_nowait(event)

    async def next_event(self) -> p.Event:
        return await self.events.get()

    async def __aiter__(self) -> AsyncIterator[p.Event]:
        while True:
            event = await self.events.get()
            yield event
            if isinstance(event, p.TERMINAL_EVENTS):
                return

    async def final(self) -> p.Event:
        """The terminal event; raises SidecarError for an error event."""
        async for event in self:
            if isinstance(event, p.Error):
                raise SidecarError(event.message, event.code)
            if isinstance(event, p.TERMINAL_EVENTS):
                return event
        raise AssertionError("unreachable")


def default_command() -> list[str]:
    """`typilot-lsp voice`, run with this interpreter so it finds the same installation."""
    return [sys.executable, "-m", "typilot_lsp", "voice"]


class VoiceClient:
    def __init__(
        self,
        command: Sequence[str] | None = None,
        env: dict[str, str] | None = None,
        auto_restart: bool = True,
    ) -> None:
        self.command = list(command or default_command())
        self.env = env
        self.auto_restart = auto_restart
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self._restart_times: list[float] = []
        self._requests: dict[int, VoiceRequest] = {}
        self._ids = itertools.count(1)
        self._configure: p.Configure | None = None
        self._closing = False
        self._start_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ready: asyncio.Future[int] | None = None

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        if self.process is not None and self.process.returncode is None:
            return self.process.pid
        return None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def _spawn_task(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def start(self) -> int:
        """Start the sidecar unless it runs; return its pid once it has said hello."""
        async with self._start_lock:
            if self.running and self._ready is not None and self._ready.done():
                return self._ready.result()
            self._closing = False
            env = dict(os.environ if self.env is None else self.env)
            env.setdefault("PYTHONUNBUFFERED", "1")
            try:
                self.process = await asyncio.create_subprocess_exec(
                    *self.command,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    env=env,
                    limit=1 << 20,
                )
            except OSError as exc:
                raise SidecarError(
                    f"cannot start the voice sidecar `{' '.join(self.command)}` ({exc}): "
                    "reinstall typilot-lsp with the voice extra (`pip install "
                    "'typilot-lsp[voice]'`)"
                ) from exc
            self._ready = asyncio.get_running_loop().create_future()
            process = self.process
            self._spawn_task(self._read_stdout(process, self._ready), "voice sidecar stdout")
            self._spawn_task(self._read_stderr(process), "voice sidecar stderr")
            try:
                pid = await asyncio.wait_for(asyncio.shield(self._ready), HELLO_TIMEOUT)
            except asyncio.TimeoutError as exc:
                await self._kill(process)
                raise SidecarError(
                    f"the voice sidecar did not start within {HELLO_TIMEOUT:g} s: run "
                    "`typilot-lsp voice` in a terminal to see why, or `typilot-lsp doctor`"
                ) from exc
            log.info("voice sidecar started (pid %s)", pid)
            if self._configure is not None:
                # Warm the model again after a restart; the answer goes nowhere.
                await self._write(attrs.evolve(self._configure, id=next(self._ids)))
            return pid

    async def aclose(self) -> None:
        """Stop the sidecar: ask it to exit, then terminate, then kill."""
        self._closing = True
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(Exception):
                await self._write(p.Shutdown())
            try:
                await asyncio.wait_for(process.wait(), 3)
            except asyncio.TimeoutError:
                await self._kill(process)
        for task in list(self._tasks):
            task.cancel()
        self._fail_pending("the voice sidecar was stopped")

    async def _kill(self, process: asyncio.subprocess.Process) -> None:
        if process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 3)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    # --- I/O -----------------------------------------------------------------------------

    async def _write(self, message: p.Request) -> None:
        process = self.process
        if process is None or process.stdin is None or process.returncode is not None:
            raise SidecarError("the voice sidecar is not running", "not-running")
        process.stdin.write((p.encode(message) + "\n").encode())
        try:
            await process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise SidecarError("the voice sidecar exited", "not-running") from exc

    async def _read_stdout(
        self, process: asyncio.subprocess.Process, ready: asyncio.Future[int]
    ) -> None:
        assert process.stdout is not None
        while True:
            line = await process.stdout.readline()
            if not line:
                break
            try:
                event = p.decode_event(line)
            except p.ProtocolError as exc:
                log.warning(
                    "voice sidecar wrote a line that is no event (%d bytes): %s", len(line), exc
                )
                continue
            if isinstance(event, p.Hello):
                if not ready.done():
                    ready.set_result(event.pid)
                continue
            request = self._requests.get(event.id) if event.id is not None else None
            if request is not None:
                request.deliver(event)
            elif isinstance(event, p.Error):
                log.warning("voice sidecar: %s", event.message)
        code = await process.wait()
        if not ready.done():
            ready.set_exception(
                SidecarError(
                    f"the voice sidecar exited at start (status {code}): run `typilot-lsp voice` "
                    "in a terminal to see why, or `typilot-lsp doctor`"
                )
            )
            ready.exception()  # consumed here when nobody waits
        if process is not self.process or self._closing:
            return
        log.warning("voice sidecar (pid %s) exited with status %s", process.pid, code)
        self._fail_pending(
            f"the voice sidecar stopped unexpectedly (exit status {code}); it is restarted "
            "automatically, so try again (if it keeps failing, run `typilot-lsp doctor`)"
        )
        if self.auto_restart and self._may_restart():
            await asyncio.sleep(0.2)
            if process is self.process and not self._closing:
                self.restarts += 1
                try:
                    await self.start()
                except SidecarError as exc:
                    log.warning("%s", exc)

    def _may_restart(self) -> bool:
        now = time.monotonic()
        self._restart_times = [t for t in self._restart_times if now - t < RESTART_WINDOW]
        if len(self._restart_times) >= RESTART_LIMIT:
            log.warning("voice sidecar keeps exiting; it is started again on the next use")
            return False
        self._restart_times.append(now)
        return True

    async def _read_stderr(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        while True:
            line = await process.stderr.readline()
            if not line:
                return
            log.info("voice sidecar: %s", line.decode(errors="replace").rstrip())

    def _fail_pending(self, message: str) -> None:
        for request in list(self._requests.values()):
            request.deliver(p.Error(code="died", message=message, id=request.id))
        self._requests.clear()

    # --- requests ------------------------------------------------------------------------

    async def request(self, request: p.Request) -> VoiceRequest:
        """Send one request (starting the sidecar if needed); iterate the result for events."""
        # Always through start(): while a restart is under way it waits for the new sidecar's
        # hello and the replayed configure, so no request overtakes the user's settings.
        await self.start()
        request = attrs.evolve(request, id=next(self._ids))
        req = VoiceRequest(self, request)
        self._requests[req.id] = req
        if isinstance(request, p.Configure):
            self._configure = request
        try:
            await self._write(request)
        except SidecarError:
            self._requests.pop(req.id, None)
            raise
        return req

    async def notify(self, request: p.Stop | p.Abort) -> None:
        """Send a request that has no answer of its own (stop or abort listen `request.id`)."""
        await self._write(request)

    async def ping(self, timeout: float = 10.0) -> int:
        req = await self.request(p.Ping())
        event = await asyncio.wait_for(req.final(), timeout)
        assert isinstance(event, p.Pong), event
        return event.pid
