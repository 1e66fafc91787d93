"""A lean HTTP/1.1 transport under httpx for plain-HTTP model servers on this machine.

A local model sends one token per HTTP chunk, so whatever runs per chunk runs per token. Through
httpx's own transport a chunk passes httpcore's connection, h11 and four async generators, and on
a small VM that costs ~3x what waking up for the socket does (bench/bench_cpu.py). Here one
asyncio `Protocol` per request feeds every arrival to h11 as it comes; the response body is the
bytes h11 decoded since the last read, joined, so tokens that arrived together are read once.

The rest is httpx's: the request is built, sent and its `Response` used exactly as before (status,
headers, `aiter_bytes`, `aread`, `aclose`), and errors are httpx's own exceptions with httpcore's
wording where callers read it ("without sending"). One connection per request, no keep-alive,
as the backends asked of httpx anyway. HTTPS, proxies and Unix sockets keep httpx's own transport
(`loop_transport` returns None for them).
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import AsyncIterator

import h11
import httpx

__all__ = ["loop_transport"]

DISCONNECTED = "Server disconnected without sending a response."  # httpcore's words


class _Exchange(asyncio.Protocol):
    """One request and its response on one connection; h11 parses bytes as they arrive."""

    def __init__(self) -> None:
        self.h11 = h11.Connection(h11.CLIENT)
        self.transport: asyncio.Transport | None = None
        self.events: deque[h11.Event] = deque()
        self.closed = False
        self.answered = False  # the status line came
        self.error: Exception | None = None
        self._waiter: asyncio.Future[bool] | None = None

    # -- the socket's callbacks ------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._parse(data)

    def eof_received(self) -> bool:
        self._parse(b"")
        self.closed = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is not None and self.error is None:
            self.error = httpx.ReadError(str(exc) or type(exc).__name__)
        self._wake()

    def _parse(self, data: bytes) -> None:
        if self.error is not None:
            return
        try:
            self.h11.receive_data(data)
            while True:
                event = self.h11.next_event()
                if not isinstance(event, h11.Event):
                    break  # NEED_DATA or PAUSED (the response is complete)
                if isinstance(event, h11.InformationalResponse):
                    continue  # 100 Continue and the like: not the answer
                self.answered = self.answered or isinstance(event, h11.Response)
                self.events.append(event)
                if isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    break
        except h11.RemoteProtocolError as exc:
            if data or self.answered:
                self.error = httpx.RemoteProtocolError(str(exc))
            else:  # closed before the status line
                self.error = httpx.RemoteProtocolError(DISCONNECTED)
        self._wake()

    # -- the reading task's side -------------------------------------------------------
    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    async def _wait(self, timeout: float | None) -> bool:
        # A timer on a future, not asyncio.wait_for: before Python 3.12 that wraps the wait in
        # a task, two more loop iterations for every token.
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiter = waiter
        timer = None if timeout is None else loop.call_later(timeout, _time_out, waiter)
        try:
            return await waiter
        finally:
            if timer is not None:
                timer.cancel()

    async def next_events(self, timeout: float | None) -> deque[h11.Event]:
        """Every event parsed so far (at least one), waiting up to `timeout` s for one."""
        while not self.events:
            if self.error is not None:
                raise self.error
            if self.closed:
                raise httpx.RemoteProtocolError(
                    DISCONNECTED
                    if not self.answered
                    else "peer closed connection without sending complete message body"
                )
            if not await self._wait(timeout):
                raise httpx.ReadTimeout("timed out reading from the server")
        events, self.events = self.events, deque()
        return events

    def send(self, event: h11.Event) -> None:
        if self.transport is None or self.transport.is_closing():
            raise httpx.WriteError("the connection is closed")
        data = self.h11.send(event)
        if data:
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


def _time_out(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class _Body(httpx.AsyncByteStream):
    """The response body: what h11 decoded since the last read, as one piece."""

    def __init__(
        self, exchange: _Exchange, pending: deque[h11.Event], timeout: float | None
    ) -> None:
        self._exchange = exchange
        self._pending = pending  # events that came with the status line
        self._timeout = timeout
        self._ended = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while not self._ended:
            events = self._pending or await self._exchange.next_events(self._timeout)
            self._pending = deque()
            pieces = []
            for event in events:
                if isinstance(event, h11.Data):
                    pieces.append(bytes(event.data))
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    self._ended = True
                    break
            if pieces:
                yield b"".join(pieces)

    async def aclose(self) -> None:
        self._ended = True
        exchange = self._exchange
        if exchange.transport is not None and not exchange.transport.is_closing():
            exchange.close()
            # The socket itself closes in a callback: let it run now, so that the server
            # sees the hang-up even if the caller blocks right after (that is a cancel).
            await asyncio.sleep(0)


class _LoopTransport(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        exchange = await self._connect(request, timeouts.get("connect"))
        try:
            await self._send(exchange, request)
            events = await exchange.next_events(timeouts.get("read"))
            head = events.popleft()
            if not isinstance(head, h11.Response):  # the server hung up instead of answering
                raise httpx.RemoteProtocolError(DISCONNECTED)
        except BaseException:
            exchange.close()
            raise
        return httpx.Response(
            status_code=head.status_code,
            headers=head.headers.raw_items(),
            stream=_Body(exchange, events, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": bytes(head.reason)},
        )

    @staticmethod
    async def _connect(request: httpx.Request, timeout: float | None) -> _Exchange:
        loop = asyncio.get_running_loop()
        exchange = _Exchange()
        host = request.url.host
        port = request.url.port or 80
        try:
            connect = loop.create_connection(lambda: exchange, host, port)
            transport, _ = await asyncio.wait_for(connect, timeout)
        except asyncio.TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except OSError as exc:
            raise httpx.ConnectError(str(exc)) from None
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return exchange

    @staticmethod
    async def _send(exchange: _Exchange, request: httpx.Request) -> None:
        headers = list(request.headers.raw)
        try:
            exchange.send(
                h11.Request(method=request.method, target=request.url.raw_path, headers=headers)
            )
            async for part in request.stream:  # type: ignore[union-attr]
                if part:
                    exchange.send(h11.Data(data=part))
            exchange.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc)) from None


def loop_transport(
    url: str, limits: httpx.Limits, trust_env: bool
) -> httpx.AsyncBaseTransport | None:
    """The lean transport for `url` when it is plain HTTP and no proxy can apply; else None
    (httpx's own transport). It opens one connection per request, so `limits`' keep-alive
    settings do not apply."""
    if trust_env or httpx.URL(url).scheme != "http":
        return None
    return _LoopTransport()
