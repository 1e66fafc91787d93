"""A leaner socket under httpx for plain-HTTP model servers on this machine.

httpx's default network layer (anyio) pauses and resumes the socket's reader around every read
and yields to the event loop once more before it: for a model that sends one token per HTTP
chunk, that is two `epoll_ctl` calls and an extra loop iteration per token, most of what a
token costs the server. `LoopNetworkBackend` gives httpcore a stream built on an asyncio
`Protocol`: bytes are appended as they arrive, a read takes what is there or waits for the next
arrival. HTTPS, proxies and Unix sockets keep httpx's own transport (`loop_transport` returns
None for them).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

__all__ = ["LoopNetworkBackend", "loop_transport"]


class _Reader(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.ended = False
        self.error: BaseException | None = None
        self._waiter: asyncio.Future[bool] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake()

    def eof_received(self) -> bool:
        self.ended = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.error = exc
        self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    async def wait(self, timeout: float | None) -> bool:
        """Wait for the next arrival; False if `timeout` seconds passed first.

        A timer on a future, not `asyncio.wait_for`: before Python 3.12 that wraps the wait in a
        task, two more loop iterations for every token a model sends.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self._waiter = waiter
        timer = None if timeout is None else loop.call_later(timeout, _time_out, waiter)
        try:
            return await waiter
        finally:
            if timer is not None:
                timer.cancel()


def _time_out(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class LoopStream(httpcore.AsyncNetworkStream):
    def __init__(self, reader: _Reader) -> None:
        self._reader = reader

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        reader = self._reader
        if not reader.buffer and not reader.ended and not await reader.wait(timeout):
            raise httpcore.ReadTimeout("timed out reading from the server")
        if not reader.buffer:
            if reader.error is not None:
                raise httpcore.ReadError(str(reader.error) or type(reader.error).__name__)
            return b""
        data = bytes(reader.buffer[:max_bytes])
        del reader.buffer[:max_bytes]
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        transport = self._reader.transport
        if transport is None or transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        transport.write(buffer)

    async def aclose(self) -> None:
        transport = self._reader.transport
        if transport is not None and not transport.is_closing():
            transport.close()
            # The socket itself closes in a callback: let it run now, so that the server
            # sees the hang-up even if the caller blocks right after (that is a cancel).
            await asyncio.sleep(0)

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("TLS is not handled here (loop_transport is plain HTTP)")

    def get_extra_info(self, info: str) -> Any:
        transport = self._reader.transport
        if info == "is_readable":  # httpcore asks before reusing a pooled connection
            return bool(self._reader.buffer) or self._reader.ended
        if transport is None:
            return None
        return {
            "socket": transport.get_extra_info("socket"),
            "client_addr": transport.get_extra_info("sockname"),
            "server_addr": transport.get_extra_info("peername"),
        }.get(info)


class LoopNetworkBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        reader = _Reader()
        bind = (local_address, 0) if local_address else None
        try:
            connect = loop.create_connection(lambda: reader, host, port, local_addr=bind)
            transport, _ = await asyncio.wait_for(connect, timeout)
        except asyncio.TimeoutError:
            raise httpcore.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from None
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for option in socket_options or ():
                sock.setsockopt(*option)
        return LoopStream(reader)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("Unix sockets are not handled here")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class _LoopTransport(httpx.AsyncHTTPTransport):
    def __init__(self, limits: httpx.Limits) -> None:
        # verify=False: this transport never speaks TLS, so no CA bundle needs loading.
        super().__init__(limits=limits, trust_env=False, verify=False)
        # httpx builds its pool without a way to pass the network backend: replace it.
        self._pool = httpcore.AsyncConnectionPool(
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=LoopNetworkBackend(),
        )


def loop_transport(
    url: str, limits: httpx.Limits, trust_env: bool
) -> httpx.AsyncHTTPTransport | None:
    """The lean transport for `url` when it is plain HTTP and no proxy can apply; else None
    (httpx's own transport)."""
    if trust_env or httpx.URL(url).scheme != "http":
        return None
    return _LoopTransport(limits)
