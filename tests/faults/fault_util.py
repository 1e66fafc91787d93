"""What every fault case checks, and the instruments that make the faults.

Each case asserts the four things a user would check after a fault: a message they can act
on, the buffer intact (byte for byte what they typed plus what had streamed), the server
still answering, and the next run working.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from lsprotocol import types

from tests.e2e.harness import Doc, Editor

NEXT_TEXT = "a = 0\n# gen: next run please\nb = 1\n"
NEXT_DONE = "a = 0\nok = True\nb = 1\n"
NEXT_RULE: dict[str, Any] = {"match": "next run please", "reply": "ok = True\n"}


def shown(editor: Editor, since: int = 0) -> list[types.ShowMessageParams]:
    return list(editor.client.messages[since:])


async def wait_message(
    editor: Editor,
    since: int = 0,
    kinds: tuple[types.MessageType, ...] = (types.MessageType.Error, types.MessageType.Warning),
    timeout: float = 60,
) -> str:
    """The first error or warning shown after message number `since`."""

    def found() -> list[str]:
        return [m.message for m in shown(editor, since) if m.type in kinds]

    await editor.wait_until(lambda: bool(found()), timeout=timeout)
    return found()[0]


def assert_actionable(message: str, *words: str) -> None:
    """A message says what happened (one of `words`), in a sentence, not a traceback."""
    assert "Traceback" not in message and "internal error" not in message, message
    assert len(message) < 1000, message[:300]
    lowered = message.lower()
    assert any(w.lower() in lowered for w in words), (words, message)


async def run_to_fault(editor: Editor, doc: Doc, *words: str, line: int = 1) -> None:
    """Run the prefixed `line` of `doc` into a fault: the editor shows a message that says what
    happened (one of `words`) and the run ends."""
    await editor.run_line(doc, line)
    assert_actionable(await wait_message(editor), *words)
    await editor.wait_runs_done()


async def assert_serving(editor: Editor) -> None:
    """The server answers a request at once (a code action on a fresh document)."""
    doc = editor.open(f"probe-{time.monotonic_ns()}.py", "x = 1\n# gen: probe\n")
    actions = await asyncio.wait_for(editor.code_actions(doc, 1), 30)
    assert [a.title for a in actions] == ["Typilot: gen — probe"]
    editor.close(doc)


async def assert_next_run_works(editor: Editor, add_rule: Callable[..., Any]) -> Doc:
    add_rule(**NEXT_RULE)
    doc = editor.open(f"next-{time.monotonic_ns()}.py", NEXT_TEXT)
    ends = len(editor.progress_ends())
    await editor.run_line(doc, 1)
    await editor.wait_runs_done(ends + 1, timeout=60)
    assert doc.text == NEXT_DONE
    return doc


class FaultyOllama:
    """An HTTP server that answers the chat/generate stream with scripted raw bytes and
    forwards every other request (/api/show, /api/tags, ...) to a real replay server.

    `script` is a list of byte strings written one after another (a float in the list is a
    pause in seconds); when it is done the connection is closed, whatever was written.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.script: list[bytes | float] = []
        self.streams = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.url = ""

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop
        )
        self._server = future.result(30)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (x.partition(":") for x in lines[1:] if x)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if path in ("/api/chat", "/api/generate"):
                    self.streams += 1
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                        b"Connection: close\r\n\r\n"
                    )
                    for piece in self.script:
                        if isinstance(piece, float):
                            await writer.drain()
                            await asyncio.sleep(piece)
                        else:
                            writer.write(piece)
                    await writer.drain()
                    writer.close()
                    return
                status, data = await asyncio.to_thread(self._forward, method, path, body)
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(data)}\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
        writer.close()

    def _forward(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        request = urllib.request.Request(self.upstream + path, data=body or None, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return reply.status, reply.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


def chat_line(content: str, done: bool = False) -> bytes:
    obj: dict[str, Any] = {
        "model": "qwen2.5-coder:1.5b",
        "created_at": "2026-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": content},
        "done": done,
    }
    if done:
        obj["done_reason"] = "stop"
    return json.dumps(obj).encode() + b"\n"
