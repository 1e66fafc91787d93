"""A loopback TCP relay in front of a model server, for the benchmarks that watch what the model
server was asked and when its bytes came back (bench_latency, bench_real_model). The relay only
forwards; what a benchmark records is its own subclass's business."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


class Relay:
    """Forwards each connection to ``127.0.0.1:target_port``. Subclasses override ``opened``
    (per-connection state), ``asked`` and ``answered`` (each chunk to and from the model server,
    as it passes) and
    ``closed`` (the whole request and response once both sides are done)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    def opened(self) -> Any:
        """State for one connection, handed to ``answered`` and ``closed``."""
        return None

    def asked(self, state: Any, data: bytes) -> None:
        """A chunk the editor's side sent, before it is forwarded."""

    def answered(self, state: Any, data: bytes) -> None:
        """A chunk the model server sent, before it is forwarded."""

    def closed(self, state: Any, request: bytes, response: bytes) -> None:
        """The connection's whole exchange, once both directions ended."""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state = self.opened()
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        request = bytearray()
        response = bytearray()

        async def pipe(
            src: asyncio.StreamReader, dst: asyncio.StreamWriter, buf: bytearray, answer: bool
        ) -> None:
            try:
                while data := await src.read(65536):
                    (self.answered if answer else self.asked)(state, data)
                    buf += data
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        await asyncio.gather(
            pipe(reader, up_writer, request, False), pipe(up_reader, writer, response, True)
        )
        self.closed(state, bytes(request), bytes(response))
