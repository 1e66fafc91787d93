"""A fake LSP client for the real server in this process (no pipes, no child process).

Messages go through pygls's own dispatch (`protocol.handle_message`), so the server's
lifecycle, its features' handlers and the document store run exactly as over stdio. What
the server sends comes back through a writer: answers to our requests resolve their futures,
notifications are kept (`notifications`), and requests from the server are answered here —
`workspace/configuration` with `settings`, `workspace/applyEdit` by applying the edit to
our copy of the text and echoing it as `didChange` (like an editor), progress creation with
null.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from typing import Any

from typilot_lsp.server import TypilotServer
from typilot_lsp.setup import create_server

URI = "file:///work/shapes.py"


class InProcessClient:
    def __init__(self, server: TypilotServer | None = None) -> None:
        self.server = server or create_server()
        self.protocol = self.server.protocol
        self.protocol.set_writer(self)
        self.settings: dict[str, Any] = {}
        self.notifications: list[dict[str, Any]] = []
        self.texts: dict[str, str] = {}
        self.versions: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._changed = asyncio.Event()

    # -- the writer pygls sends to ----------------------------------------------------
    def write(self, data: bytes) -> None:
        text = data.decode("utf-8")
        body = text.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in text else text
        message = json.loads(body)
        if "method" not in message:
            future = self._pending.pop(message["id"], None)
            if future is not None and not future.done():
                if "error" in message:
                    future.set_exception(RuntimeError(message["error"]["message"]))
                else:
                    future.set_result(message.get("result"))
        elif "id" in message:
            asyncio.get_running_loop().call_soon(self._answer, message)
        else:
            self.notifications.append(message)
        self._changed.set()

    def close(self) -> None:
        pass

    def _answer(self, request: dict[str, Any]) -> None:
        method, params = request["method"], request.get("params") or {}
        result: Any = None
        if method == "workspace/configuration":
            result = [self.settings for _ in params.get("items", [])]
        elif method == "workspace/applyEdit":
            result = self._apply(params["edit"])
        self.send({"id": request["id"], "result": result})

    def _apply(self, edit: dict[str, Any]) -> dict[str, Any]:
        from typilot_lsp.documents import split_lines

        for change in edit.get("documentChanges", []):
            uri = change["textDocument"]["uri"]
            if change["textDocument"].get("version") != self.versions.get(uri):
                return {"applied": False, "failureReason": "stale version"}
            text = self.texts[uri]
            for one in sorted(
                change["edits"],
                key=lambda e: (e["range"]["start"]["line"], e["range"]["start"]["character"]),
                reverse=True,
            ):
                lines = split_lines(text)

                def offset(pos: dict[str, int], lines: list[str] = lines) -> int:
                    return sum(len(x) for x in lines[: pos["line"]]) + pos["character"]

                rng = one["range"]
                text = text[: offset(rng["start"])] + one["newText"] + text[offset(rng["end"]) :]
            self.change(uri, text)
        return {"applied": True}

    # -- what the tests call -----------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        self.protocol.handle_message(self.protocol.structure_message({"jsonrpc": "2.0", **message}))

    async def request(self, method: str, params: Any = None, timeout: float = 30) -> Any:
        msg_id = next(self._ids) + 10_000
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        self.send({"id": msg_id, "method": method, "params": params})
        return await asyncio.wait_for(future, timeout)

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"method": method, "params": params})

    async def initialize(self, options: dict[str, Any] | None = None) -> Any:
        result = await self.request(
            "initialize",
            {
                "processId": None,
                "rootUri": None,
                "capabilities": {
                    "workspace": {"configuration": True, "applyEdit": True},
                    "window": {"workDoneProgress": True},
                },
                "initializationOptions": options,
            },
        )
        self.notify("initialized", {})
        return result

    def open(self, text: str, uri: str = URI, language_id: str = "python") -> None:
        self.texts[uri], self.versions[uri] = text, 1
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": language_id, "version": 1, "text": text}},
        )

    def change(self, uri: str, text: str) -> None:
        """A whole-document didChange (the server reduces it to the change it makes)."""
        self.texts[uri] = text
        self.versions[uri] += 1
        self.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": self.versions[uri]},
                "contentChanges": [{"text": text}],
            },
        )

    def messages(self) -> list[str]:
        return [
            n["params"]["message"]
            for n in self.notifications
            if n["method"] == "window/showMessage"
        ]

    async def wait_for(self, condition: Any, timeout: float = 30) -> None:
        """Until `condition()` holds: checked after each message from the server, and at least
        every 50 ms (a handler may finish without sending anything)."""

        async def loop() -> None:
            while not condition():
                self._changed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)

        await asyncio.wait_for(loop(), timeout)

    async def shutdown(self) -> None:
        await self.request("shutdown")
