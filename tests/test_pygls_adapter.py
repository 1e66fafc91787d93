"""The pygls adapter (typilot_lsp.pygls_adapter): every private part of pygls Typilot relies on
still exists and behaves as the adapter assumes. A pygls upgrade that changes one fails here,
by name, rather than in a run."""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import inspect
import io
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from lsprotocol import types
from pygls.exceptions import CommandAlreadyRegisteredError
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.workspace import TextDocument, Workspace

from typilot_lsp import pygls_adapter
from typilot_lsp.pygls_adapter import (
    DocumentFactoryWorkspace,
    ForgetfulProtocol,
    register_command,
    serve_async,
    swap_workspace,
    sync_kind_of,
)
from typilot_lsp.server import TypilotServer

if TYPE_CHECKING:
    from typilot_lsp.documents import TypilotDocument  # never importable by pygls at run time

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


class Wire:
    """A writer for pygls: keeps each message it sends, decoded."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self.sent.append(json.loads(data.decode("utf-8").split("\r\n\r\n", 1)[1]))

    def close(self) -> None:
        pass


def receive(protocol: LanguageServerProtocol, message: dict[str, Any]) -> None:
    protocol.handle_message(protocol.structure_message({"jsonrpc": "2.0", **message}))


async def answer_to(wire: Wire, msg_id: int) -> dict[str, Any]:
    for _ in range(500):
        found = [m for m in wire.sent if m.get("id") == msg_id and "method" not in m]
        if found:
            return found[0]
        await asyncio.sleep(0.01)
    raise AssertionError(f"no answer to {msg_id}: {wire.sent}")


def initialize(protocol: LanguageServerProtocol) -> None:
    receive(
        protocol,
        {"id": 1, "method": "initialize", "params": {"processId": None, "capabilities": {}}},
    )


# --- the version this adapter is written against -------------------------------------------


def test_the_installed_pygls_is_the_series_the_adapter_and_pyproject_name() -> None:
    installed = importlib.metadata.version("pygls")
    assert installed.startswith(pygls_adapter.PYGLS_SERIES + "."), installed
    major, minor = (int(part) for part in pygls_adapter.PYGLS_SERIES.split("."))
    dependencies = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["dependencies"]
    (pin,) = [d for d in dependencies if d.startswith("pygls")]
    assert pin.replace(" ", "") == f"pygls>={major}.{minor},<{major}.{minor + 1}"


# --- ForgetfulProtocol: _execute_handler, _request_futures, _send_handler_result ------------


def test_execute_handler_still_has_the_signature_the_override_takes() -> None:
    parameters = list(inspect.signature(LanguageServerProtocol._execute_handler).parameters)
    assert parameters == ["self", "msg_id", "handler", "callback", "args", "kwargs"]
    protocol = TypilotServer().protocol
    assert isinstance(protocol, ForgetfulProtocol)
    assert protocol._request_futures == {}


async def test_a_request_is_answered_through_send_handler_result_which_pops_its_future() -> None:
    server = TypilotServer()
    protocol = server.protocol
    protocol.set_writer(wire := Wire())
    callbacks: list[Any] = []
    execute = protocol._execute_handler

    def spy(msg_id: Any, handler: Any, callback: Any, **rest: Any) -> None:
        callbacks.append(callback)
        execute(msg_id, handler, callback, **rest)

    protocol._execute_handler = spy  # type: ignore[method-assign]

    @server.feature("test/echo")
    async def echo(params: Any) -> Any:
        await asyncio.sleep(0)
        return {"echo": 1}

    receive(protocol, {"id": 7, "method": "test/echo", "params": {}})
    assert (await answer_to(wire, 7))["result"] == {"echo": 1}
    (callback,) = callbacks
    # The override tells a request from a notification by this callback.
    assert isinstance(callback, functools.partial)
    assert callback.func == protocol._send_handler_result
    assert protocol._request_futures == {}


# --- the workspace: _workspace, _create_text_document, _sync_kind ----------------------------


class Made(TextDocument):
    pass


class MadeHere(DocumentFactoryWorkspace):
    def create_document(
        self, uri: str, source: str | None, version: int | None, language_id: str | None
    ) -> TextDocument:
        return Made(uri, source=source, version=version, language_id=language_id)


def test_pygls_makes_every_document_through_the_factory() -> None:
    workspace = MadeHere(None, types.TextDocumentSyncKind.Full)
    assert sync_kind_of(workspace) is types.TextDocumentSyncKind.Full
    item = types.TextDocumentItem(uri="file:///a.py", language_id="python", version=1, text="x")
    workspace.put_text_document(item)
    assert isinstance(workspace.get_text_document("file:///a.py"), Made)
    assert isinstance(workspace.get_text_document("file:///not-open.py"), Made)
    plain = DocumentFactoryWorkspace(None, types.TextDocumentSyncKind.Incremental)
    plain.put_text_document(item)
    assert type(plain.get_text_document("file:///a.py")) is TextDocument


async def test_a_swapped_workspace_is_the_one_pygls_opens_documents_in() -> None:
    server = TypilotServer()
    protocol = server.protocol
    protocol.set_writer(Wire())
    initialize(protocol)
    assert type(protocol.workspace) is Workspace
    ours = MadeHere(None, sync_kind_of(protocol.workspace))
    swap_workspace(protocol, ours)
    assert server.workspace is ours
    receive(
        protocol,
        {
            "method": "textDocument/didOpen",
            "params": {
                "textDocument": {
                    "uri": "file:///b.py",
                    "languageId": "python",
                    "version": 1,
                    "text": "y",
                }
            },
        },
    )
    assert isinstance(ours.text_documents["file:///b.py"], Made)


# --- serve_async: _stop_event ------------------------------------------------------------------


class FramedReader:
    """pygls's AsyncReader over framed messages, then the end of the stream."""

    def __init__(self, *messages: dict[str, Any]) -> None:
        frames = b""
        for message in messages:
            body = json.dumps({"jsonrpc": "2.0", **message}).encode()
            frames += b"Content-Length: %d\r\n\r\n" % len(body) + body
        self.stream = io.BytesIO(frames)

    async def readline(self) -> bytes:
        return self.stream.readline()

    async def readexactly(self, n: int) -> bytes:
        return self.stream.read(n)


def test_serve_async_serves_until_the_stream_ends_and_shutdown_sets_its_stop_event() -> None:
    server = LanguageServer("t", "1")
    seen: list[Any] = []

    @server.feature("test/note")
    def note(params: Any) -> None:
        seen.append(params)

    sink = io.BytesIO()
    serve_async(server, FramedReader({"method": "test/note", "params": {"n": 1}}), sink)
    assert len(seen) == 1
    assert server._stop_event is not None and server._stop_event.is_set()


# --- register_command: pygls's conventions for a command handler ----------------------------


class Holder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def run(self, *args: Any) -> dict[str, int]:
        self.calls.append(args)
        return {"got": len(args)}

    async def typed(self, doc: TypilotDocument | None = None) -> None:
        """Annotated with a name pygls cannot resolve at run time."""


async def test_a_command_handler_gets_exactly_the_arguments_sent() -> None:
    server = TypilotServer()
    server.protocol.set_writer(wire := Wire())
    holder = Holder()
    register_command(server, "test.run", holder.run)
    register_command(server, "test.typed", holder.typed)
    initialize(server.protocol)
    for msg_id, command, arguments in (
        (2, "test.run", [{"uri": "file:///a.py", "line": 0}]),
        (3, "test.run", []),
        (4, "test.typed", [None]),
    ):
        receive(
            server.protocol,
            {
                "id": msg_id,
                "method": "workspace/executeCommand",
                "params": {"command": command, "arguments": arguments},
            },
        )
    assert (await answer_to(wire, 2))["result"] == {"got": 1}
    assert (await answer_to(wire, 3))["result"] == {"got": 0}
    assert "error" not in await answer_to(wire, 4)
    assert holder.calls == [({"uri": "file:///a.py", "line": 0},), ()]
    with pytest.raises(CommandAlreadyRegisteredError):
        register_command(server, "test.run", holder.run)


def test_the_server_converter_is_the_one_pygls_uses() -> None:
    server = TypilotServer()
    assert server.protocol._converter is server.converter
