"""The real server in the bench's own process, fed JSON-RPC through pygls's own dispatch
(``protocol.handle_message``) with its output thrown away: for timing the server's handlers
without pipes or a client around them."""

from __future__ import annotations

import asyncio
from typing import Any

from pygls.protocol import LanguageServerProtocol

from typilot_lsp.setup import create_server


class NullWriter:
    def write(self, data: Any) -> None:
        pass

    def close(self) -> None:
        pass


def handle(protocol: LanguageServerProtocol, message: dict[str, Any]) -> None:
    """One JSON-RPC message (without its ``jsonrpc`` member) through pygls's dispatch."""
    protocol.handle_message(protocol.structure_message({"jsonrpc": "2.0", **message}))


async def server_with_open_document(uri: str, text: str) -> LanguageServerProtocol:
    """The server, initialized, with ``text`` open at ``uri`` as a Python file: the document
    store is set up as in use."""
    protocol = create_server().protocol
    protocol.set_writer(NullWriter())
    opened = {"uri": uri, "languageId": "python", "version": 1, "text": text}
    for message in (
        {"id": 1, "method": "initialize", "params": {"processId": None, "capabilities": {}}},
        {"method": "textDocument/didOpen", "params": {"textDocument": opened}},
    ):
        handle(protocol, message)
        for _ in range(10):  # let the async initialize handler finish
            await asyncio.sleep(0)
    return protocol
