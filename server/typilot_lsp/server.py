"""The language server: a pygls subclass holding the settings and the features.

Behaviour lives in feature objects (`typilot_lsp.features.*`, each a `Feature`), one per
concern: settings plumbing, documents, history, runs, voice. `TypilotServer` keeps the
settings (`config`), the feature registry (`add_feature`, `get_feature`) and `run_task`; it
owns the lifecycle handlers (initialize, initialized, shutdown) and a settings change
(`set_config`), and calls every feature's hook for each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from lsprotocol import types
from pygls.io_ import StdoutWriter, run_async
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol

from typilot_lsp import __version__
from typilot_lsp.config import Config
from typilot_lsp.documents import encoding_name
from typilot_lsp.feature import Feature

log = logging.getLogger("typilot_lsp")
FeatureT = TypeVar("FeatureT", bound=Feature)


_WARM_URI = "file:///typilot-warm-up.py"
_WARM_RANGE = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}
_WARM_INCOMING: tuple[dict[str, Any], ...] = (
    {
        "method": types.TEXT_DOCUMENT_DID_OPEN,
        "params": {
            "textDocument": {"uri": _WARM_URI, "languageId": "python", "version": 1, "text": ""}
        },
    },
    {
        "method": types.TEXT_DOCUMENT_DID_CHANGE,
        "params": {
            "textDocument": {"uri": _WARM_URI, "version": 2},
            "contentChanges": [{"range": _WARM_RANGE, "text": "x"}],
        },
    },
    {
        "id": 1,
        "method": types.TEXT_DOCUMENT_CODE_ACTION,
        "params": {
            "textDocument": {"uri": _WARM_URI},
            "range": _WARM_RANGE,
            "context": {"diagnostics": [], "triggerKind": 1},
        },
    },
    {
        "id": 1,
        "method": types.WORKSPACE_EXECUTE_COMMAND,
        "params": {"command": "typilot.run", "arguments": [{"uri": _WARM_URI, "line": 0}]},
    },
)
# The editor's answers to the server's own requests during a run.
_WARM_RESULTS: tuple[tuple[str, Any], ...] = (
    (types.WORKSPACE_APPLY_EDIT, {"applied": True}),
    (types.WINDOW_WORK_DONE_PROGRESS_CREATE, None),
)


def _warm_outgoing() -> list[Any]:
    position = types.Position(line=0, character=0)
    edit = types.TextDocumentEdit(
        text_document=types.OptionalVersionedTextDocumentIdentifier(uri=_WARM_URI, version=1),
        edits=[types.TextEdit(range=types.Range(start=position, end=position), new_text="x")],
    )
    command = types.Command(title="t", command="typilot.run", arguments=[{"uri": _WARM_URI}])
    return [
        types.CodeActionResponse(
            id=1, result=[types.CodeAction(title="t", kind="refactor", command=command)]
        ),
        types.ApplyWorkspaceEditRequest(
            id=1,
            params=types.ApplyWorkspaceEditParams(
                edit=types.WorkspaceEdit(document_changes=[edit]), label="t"
            ),
        ),
        types.WorkDoneProgressCreateRequest(
            id=1, params=types.WorkDoneProgressCreateParams(token="t")
        ),
        *(
            types.ProgressNotification(params=types.ProgressParams(token="t", value=value))
            for value in (
                types.WorkDoneProgressBegin(title="t", cancellable=True),
                types.WorkDoneProgressReport(message="t", cancellable=True),
                types.WorkDoneProgressEnd(message="t"),
            )
        ),
        types.ExecuteCommandResponse(id=1, result=None),
    ]


class TypilotProtocol(LanguageServerProtocol):
    """pygls's protocol, without its one leak per notification.

    pygls 2.1 keeps the future of every handler it runs in `_request_futures` under a message
    id; for a request the reply pops it, but for a notification (and for each step of a
    generator handler, such as the built-in didOpen/didChange/didClose) the id is a fresh
    uuid that nothing ever pops. One editor session sends thousands of didChange
    notifications: each future, with its lock and callbacks, stayed for the server's life
    (about 14 KB per short run). Here such an entry is dropped as soon as its handler ends.
    """

    last_message_at = 0.0
    """When the editor's last message came (time.monotonic)."""

    def handle_message(self, msg: Any) -> None:
        self.last_message_at = time.monotonic()
        super().handle_message(msg)

    async def wait_quiet(self, seconds: float) -> None:
        """Return once no message came from the editor for `seconds`."""
        while (left := self.last_message_at + seconds - time.monotonic()) > 0:
            await asyncio.sleep(left)

    def warm_converter(self) -> None:
        """Have cattrs write its functions for a first run's messages now.

        cattrs writes the function that (un)structures a type the first time it meets it:
        ~10 ms for the first code action (its request and its answer) and more for the first
        streamed edit and progress. Called once the `initialize` answer is out, while the editor
        is busy sending `initialized` and its `didOpen`s.
        """
        converter = self._converter
        for data in _WARM_INCOMING:
            with contextlib.suppress(Exception):
                self.structure_message({"jsonrpc": "2.0", **data})
        for method, result in _WARM_RESULTS:
            result_type = self.get_result_type(method)
            if result_type is not None:
                with contextlib.suppress(Exception):
                    converter.structure({"jsonrpc": "2.0", "id": 1, "result": result}, result_type)
        for message in _warm_outgoing():
            for _ in range(2):  # a union's members are looked up on the second call
                converter.unstructure(message)

    def _execute_handler(
        self,
        msg_id: Any,
        handler: Any,
        callback: Any,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        if getattr(callback, "func", None) == self._send_handler_result:
            return  # a client's request: the reply pops its entry
        future = self._request_futures.get(msg_id)
        if future is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return

        # Not at once: a future's callbacks can run inside a loop over the table (pygls's
        # `shutdown` cancels every pending future while iterating it).
        def forget(_: Any) -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(self._request_futures.pop, msg_id, None)

        future.add_done_callback(forget)


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
        super().__init__("typilot-lsp", __version__, protocol_cls=TypilotProtocol)
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
            loop.call_soon(loop.call_soon, ls.protocol.warm_converter)

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
        self._stop_event = threading.Event()
        self.protocol.set_writer(StdoutWriter(sink))
        try:
            asyncio.run(
                run_async(
                    stop_event=self._stop_event,
                    reader=PipeReader(source),
                    protocol=self.protocol,
                    logger=log,
                    error_handler=self.report_server_error,
                )
            )
        except BrokenPipeError:
            log.error("The connection to the editor was lost; shutting down.")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.shutdown()

    # -- small shared services -------------------------------------------------------
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


def create_server() -> TypilotServer:
    """A server with every feature, in the order their hooks run."""
    from typilot_lsp.features.documents import DocumentsFeature
    from typilot_lsp.features.history import HistoryFeature
    from typilot_lsp.features.runs import RunsFeature
    from typilot_lsp.features.settings import SettingsFeature
    from typilot_lsp.features.voice import VoiceFeature

    server = TypilotServer()
    for kind in (SettingsFeature, HistoryFeature, DocumentsFeature, RunsFeature, VoiceFeature):
        server.add_feature(kind(server))
    return server


def serve(*, tcp: bool = False, port: int = 2087, log_level: str = "WARNING") -> int:
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, str(log_level).upper(), logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    server = create_server()
    # No prompt, code or model output in logs unless `typilot.trace` (read live).
    from typilot_lsp.logging_utils import install_content_filter

    install_content_filter(lambda: server.config.trace)
    if tcp:
        server.start_tcp("127.0.0.1", port)
    else:
        server.start_io()
    return 0
