"""What the backend tests of both protocols share: read a stream to its end, or to the error it
raises (closing the backend either way), and a loopback port nothing listens on."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import TypeVar

import pytest

from typilot_lsp.backends.base import Backend, GenerationRequest

E = TypeVar("E", bound=Exception)


async def collect(stream: AsyncIterator[str], into: list[str] | None = None) -> str:
    """The whole text of `stream`; each piece is also appended to `into`, if given."""
    pieces = into if into is not None else []
    async for piece in stream:
        pieces.append(piece)
    return "".join(pieces)


async def stream_failure(
    error: type[E], backend: Backend, request: GenerationRequest
) -> tuple[E, list[str]]:
    """Streams `request` until `backend` raises `error`: that error and the pieces streamed
    before it. The backend is closed after."""
    pieces: list[str] = []
    try:
        with pytest.raises(error) as info:
            await collect(backend.stream(request), pieces)
    finally:
        await backend.aclose()
    return info.value, pieces


async def prepare_failure(error: type[E], backend: Backend) -> E:
    """What `backend.prepare("")` raised, which must be an `error`. The backend is closed after."""
    try:
        with pytest.raises(error) as info:
            await backend.prepare("")
    finally:
        await backend.aclose()
    return info.value


def closed_port() -> int:
    """A loopback port that nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
