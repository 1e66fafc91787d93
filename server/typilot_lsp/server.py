"""The language server: a pygls subclass holding the settings and the features.

Behaviour lives in feature objects (`typilot_lsp.features.*`, each a `Feature`), one per
concern: settings plumbing, documents, history, runs, voice. `TypilotServer` knows none of
them: the composition root (`typilot_lsp.setup.create_server`) builds each feature and adds it
(`add_feature`). The server keeps the settings (`config`), the feature registry and
`run_task`; it owns the lifecycle handlers (initialize, initialized, shutdown) and a settings
change (`set_config`), and calls every feature's hook for each.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import default_converter

from typilot_lsp import __version__
from typilot_lsp.config import Config
from typilot_lsp.converter_warm_up import warm_converter
from typilot_lsp.documents import encoding_name
from typilot_lsp.pygls_adapter import ForgetfulProtocol, serve_async

if TYPE_CHECKING:
    from typilot_lsp.feature import Feature

log = logging.getLogger("typilot_lsp")
FeatureT = TypeVar("FeatureT", bound="Feature")

EDITOR_QUIET_S = 0.2
"""How long the editor must have been quiet before background work (a warm import, opening the
history) starts: the burst after start-up (didOpen, code actions) is answered first."""


class TypilotProtocol(ForgetfulProtocol):
    """pygls's protocol (without its leak, `ForgetfulProtocol`), knowing when the editor last
    spoke: background work waits for a quiet moment (`wait_quiet`)."""

    last_message_at = 0.0
    """When the editor's last message came (time.monotonic)."""

    def handle_message(self, msg: Any) -> None:
        self.last_message_at = time.monotonic()
        super().handle_message(msg)

    async def wait_quiet(self, seconds: float) -> None:
        """Return once no message came from the editor for `seconds`."""
        while (left := self.last_message_at + seconds - time.monotonic()) > 0:
            await asyncio.sleep(left)


READ_LIMIT = 16 * 1024 * 1024


class PipeReader:
    """The editor's pipe read by the event loop itself.

    pygls reads stdin on a worker thread, one thread hop per header line and per body: three
    wake-ups of two threads (and a GIL hand-over each) for every message, which is most of
    what an applyEdit round trip costs while a run streams. Here one arrival is one wake-up,
    and the messages that came together are read without waiting again.
    """

    def __init__(self, pipe: Any) -> None:
        self._pipe = pipe
        self._stream: asyncio.StreamReader | None = None

    async def _reader(self) -> asyncio.StreamReader:
        if self._stream is None:
            # A high limit: the default (64 KiB) pauses and resumes the pipe every 128 KiB of
            # a large didOpen, a wake-up and two syscalls each.
            stream = asyncio.StreamReader(limit=READ_LIMIT)
            loop = asyncio.get_running_loop()
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stream), self._pipe)
            self._stream = stream
        return self._stream

    async def readline(self) -> bytes:
        return await (await self._reader()).readline()

    async def readexactly(self, n: int) -> bytes:
        try:
            return await (await self._reader()).readexactly(n)
        except asyncio.IncompleteReadError:
            return b""  # the editor went away mid-message: pygls's loop ends on b""


def loop_can_read(stdin: Any, stdout: Any) -> bool:
    """Whether the event loop can read `stdin` without a thread: a pipe or a socket that is
    not also `stdout` (making it non-blocking would make the replies non-blocking too)."""
    if sys.platform == "win32":
        return False
    try:
        mode = os.fstat(stdin.fileno())
        out = os.fstat(stdout.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    if not (stat.S_ISFIFO(mode.st_mode) or stat.S_ISSOCK(mode.st_mode)):
        return False
    return (mode.st_dev, mode.st_ino) != (out.st_dev, out.st_ino)


class TypilotServer(LanguageServer):
    protocol: TypilotProtocol

    def __init__(self) -> None:
        converter = default_converter()
        super().__init__(
            "typilot-lsp",
            __version__,
            protocol_cls=TypilotProtocol,
            converter_factory=lambda: converter,
        )
        self.converter = converter
        """The cattrs converter of every LSP message (pygls's), for command arguments."""
        self.config = Config()
        self._features: dict[type[Feature], Feature] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._register_lifecycle()

    # -- features ----------------------------------------------------------------
    def add_feature(self, feature: Feature) -> None:
        """Add `feature` (one per type) and let it register its handlers."""
        kind = type(feature)
        if kind in self._features:
            raise ValueError(f"{kind.__name__} is already added")
        self._features[kind] = feature
        feature.register()

    def get_feature(self, kind: type[FeatureT]) -> FeatureT:
        """The feature of type `kind` (or a subclass of it); KeyError if none was added."""
        found = self._features.get(kind)
        if found is None:
            found = next((f for f in self._features.values() if isinstance(f, kind)), None)
        if found is None:
            raise KeyError(f"no {kind.__name__} feature in this server")
        return found  # type: ignore[return-value]

    @property
    def features(self) -> list[Feature]:
        """Every feature, in the order added (the order their hooks are called)."""
        return list(self._features.values())

    # -- lifecycle: every feature's hooks ------------------------------------------
    def call_hooks(self, name: str, call: Callable[[Feature], Any]) -> None:
        """`call(feature)` for every feature; a failure is logged and the others still run."""
        for feature in self.features:
            try:
                call(feature)
            except Exception:
                log.exception("%r: %s failed", feature, name)

    async def await_hooks(
        self, name: str, call: Callable[[Feature], Awaitable[None]], *, reverse: bool = False
    ) -> None:
        features = self.features
        for feature in reversed(features) if reverse else features:
            try:
                await call(feature)
            except Exception:
                log.exception("%r: %s failed", feature, name)

    def set_config(self, config: Config) -> None:
        """Take new settings (complete and validated) and tell every feature."""
        old, self.config = self.config, config
        self.call_hooks("settings_changed", lambda f: f.settings_changed(old, config))

    def _register_lifecycle(self) -> None:
        @self.feature(types.INITIALIZE)
        async def on_initialize(ls: TypilotServer, params: types.InitializeParams) -> None:
            await ls.await_hooks("initialize", lambda f: f.initialize(params))
            # Two hops: the answer to `initialize` is written in the first, then the warm-up.
            loop = asyncio.get_running_loop()
            loop.call_soon(loop.call_soon, warm_converter, ls.protocol, ls.converter)

        @self.feature(types.INITIALIZED)
        async def on_initialized(ls: TypilotServer, params: types.InitializedParams) -> None:
            await ls.await_hooks("initialized", lambda f: f.initialized(params))

        @self.feature(types.SHUTDOWN)
        async def on_shutdown(ls: TypilotServer, params: Any = None) -> None:
            # Last added first: runs stop before the history they record into closes.
            await ls.await_hooks("shutdown", lambda f: f.shutdown(), reverse=True)

    def start_io(self, stdin: Any = None, stdout: Any = None) -> None:
        """Serve over stdio; stdin read on the event loop where it can be (`PipeReader`)."""
        source, sink = stdin or sys.stdin.buffer, stdout or sys.stdout.buffer
        if not loop_can_read(source, sink):
            super().start_io(stdin, stdout)
            return
        serve_async(self, PipeReader(source), sink)

    # -- small shared services -------------------------------------------------------
    async def wait_editor_quiet(self) -> None:
        """Return once the editor has sent nothing for `EDITOR_QUIET_S`."""
        await self.protocol.wait_quiet(EDITOR_QUIET_S)

    @property
    def encoding(self) -> str:
        """The position encoding agreed with the client ("utf-16" until `initialize`)."""
        try:
            return encoding_name(self.workspace.position_encoding)
        except RuntimeError:
            return "utf-16"

    def show_message(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def run_task(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run `coro` in the background, kept alive and with its failure logged."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("background task %r failed", name, exc_info=t.exception())

        task.add_done_callback(done)
        return task
