"""Every use of pygls beyond its documented API, in one place.

Written against pygls 2.1 (`pyproject.toml` pins `pygls>=2.1,<2.2`); tests/test_pygls_adapter.py
checks that each private part used here still exists and behaves, so a pygls upgrade fails that
one test, naming what changed, instead of a run somewhere later. Nothing else in Typilot touches
a `_private` name of pygls or lsprotocol.

- `ForgetfulProtocol` overrides `_execute_handler` and reads `_request_futures` and
  `_send_handler_result` (pygls keeps one future per notification for ever otherwise).
- `swap_workspace` sets `LanguageServerProtocol._workspace` (pygls creates its own `Workspace`
  in `initialize` and has no hook to create ours).
- `DocumentFactoryWorkspace` overrides `Workspace._create_text_document` (pygls has no public
  document factory); `sync_kind_of` reads `Workspace._sync_kind`.
- `serve_async` sets `LanguageServer._stop_event`, as pygls's own `start_io` does: `shutdown`
  and `exit` stop the message loop through it.
- `register_command`: pygls gives a command handler the server when its first parameter is
  named `ls`, and resolves every annotation of a command handler at run time
  (`typing.get_type_hints`), so a handler annotated with a type imported only for type checking
  fails, and on Python 3.10 a first parameter `*args: Any` raises in `issubclass`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.io_ import StdoutWriter, run_async
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.workspace import TextDocument, Workspace

if TYPE_CHECKING:
    from pygls.io_ import AsyncReader

log = logging.getLogger(__name__)

PYGLS_SERIES = "2.1"
"""The pygls minor version this module is written against (and pyproject.toml pins)."""


class ForgetfulProtocol(LanguageServerProtocol):
    """pygls's protocol, without its one leak per notification.

    pygls 2.1 keeps the future of every handler it runs in `_request_futures` under a message
    id; for a request the reply pops it, but for a notification (and for each step of a
    generator handler, such as the built-in didOpen/didChange/didClose) the id is a fresh
    uuid that nothing ever pops. One editor session sends thousands of didChange
    notifications: each future, with its lock and callbacks, stayed for the server's life
    (about 14 KB per short run). Here such an entry is dropped as soon as its handler ends.
    """

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


def swap_workspace(protocol: LanguageServerProtocol, workspace: Workspace) -> None:
    """Make `workspace` the one pygls's own didOpen/didChange/didClose handling works on."""
    protocol._workspace = workspace


def sync_kind_of(workspace: Workspace) -> types.TextDocumentSyncKind:
    """How the client sends a workspace's document changes (full or incremental)."""
    return workspace._sync_kind


class DocumentFactoryWorkspace(Workspace):
    """pygls's `Workspace` whose text documents are made by `create_document` (override it)."""

    def create_document(
        self, uri: str, source: str | None, version: int | None, language_id: str | None
    ) -> TextDocument:
        """A new text document for `uri` (pygls's own `TextDocument` unless overridden)."""
        return super()._create_text_document(uri, source, version, language_id)

    def _create_text_document(
        self,
        doc_uri: str,
        source: str | None = None,
        version: int | None = None,
        language_id: str | None = None,
    ) -> TextDocument:
        return self.create_document(doc_uri, source, version, language_id)


def serve_async(server: LanguageServer, reader: AsyncReader, sink: Any) -> None:
    """Serve `server` with messages read from `reader` and replies written to `sink`, as
    pygls's `start_io` does with its own (thread-backed) reader. Returns once the server
    stops (`exit`, the editor gone)."""
    server._stop_event = stop = threading.Event()
    server.protocol.set_writer(StdoutWriter(sink))
    try:
        asyncio.run(
            run_async(
                stop_event=stop,
                reader=reader,
                protocol=server.protocol,
                logger=log,
                error_handler=server.report_server_error,
            )
        )
    except BrokenPipeError:
        log.error("The connection to the editor was lost; shutting down.")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()


def register_command(
    server: LanguageServer, name: str, handler: Callable[..., Awaitable[Any]]
) -> None:
    """Run `await handler(*arguments)` for `workspace/executeCommand` `name`.

    `handler` may be any coroutine function or bound method, annotated as it likes: pygls
    only ever sees the wrapper below, written to its conventions."""

    async def command(ls: LanguageServer, *args: Any) -> Any:
        return await handler(*args)

    command.__qualname__ = command.__name__ = f"command {name}"
    server.command(name)(command)
