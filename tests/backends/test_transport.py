"""The lean HTTP/1.1 transport under httpx for plain-HTTP local model servers
(backends/transport.py): a whole streamed reply comes through it, a burst is read as one piece,
refused connections, hang-ups and silence are the errors httpx users expect, and it is used only
where it applies."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest

from tests.replay.ollama import ReplayOllama
from typilot_lsp.backends.transport import loop_transport

LIMITS = httpx.Limits(max_keepalive_connections=0)
REPLY = "def add(a, b):\n    return a + b  # é 😀\n"


async def test_a_streamed_reply_comes_through_whole(replay_ollama: ReplayOllama) -> None:
    replay_ollama.add_rule(match="add", reply=REPLY, tokens_per_second=500)
    transport = loop_transport(replay_ollama.url, LIMITS, trust_env=False)
    assert transport is not None
    body = {"model": "qwen2.5-coder:1.5b", "messages": [{"role": "user", "content": "add"}]}
    url = replay_ollama.url + "/api/chat"
    async with (
        httpx.AsyncClient(transport=transport) as client,
        client.stream("POST", url, json=body) as response,
    ):
        assert response.status_code == 200
        lines = [line async for line in response.aiter_lines() if line]
    chunks = [json.loads(line) for line in lines]
    assert "".join(c["message"]["content"] for c in chunks) == REPLY
    assert chunks[-1]["done"] is True


async def test_a_refused_connection_is_httpx_connect_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    transport = loop_transport(url, LIMITS, trust_env=False)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(url + "/api/version")


def test_only_plain_http_without_a_proxy_uses_it() -> None:
    assert loop_transport("http://127.0.0.1:11434", LIMITS, trust_env=False) is not None
    assert loop_transport("https://models.example.com", LIMITS, trust_env=False) is None
    assert loop_transport("http://gpu-box:8000/v1", LIMITS, trust_env=True) is None


async def serve_once(answer: bytes, *, then_wait: bool = False) -> tuple[str, asyncio.Event]:
    """A server that reads one request and writes `answer`, then hangs up (or waits)."""
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        if then_wait:
            await done.wait()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}", done


async def get(url: str, **kw: object) -> httpx.Response:
    transport = loop_transport(url, LIMITS, trust_env=False)
    async with httpx.AsyncClient(transport=transport) as client:
        return await client.get(url + "/api/version", **kw)  # type: ignore[arg-type]


async def test_a_hang_up_before_the_answer_is_httpx_words_for_it() -> None:
    url, _ = await serve_once(b"")
    with pytest.raises(httpx.RemoteProtocolError, match="without sending"):
        await get(url)


async def test_a_hang_up_inside_a_chunked_body_is_a_protocol_error() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    url, _ = await serve_once(head + b"4\r\nab")
    with pytest.raises(httpx.RemoteProtocolError):
        await get(url)


async def test_a_silent_server_is_a_read_timeout() -> None:
    url, done = await serve_once(b"", then_wait=True)
    try:
        with pytest.raises(httpx.ReadTimeout):
            await get(url, timeout=httpx.Timeout(5, read=0.2))
    finally:
        done.set()


async def test_chunks_that_arrived_together_are_read_as_one_piece() -> None:
    """The body hands over everything decoded since the last read: one piece, not one per
    chunk (a burst of tokens costs one pass through the stream, not one each)."""
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (b"one\n", b"two\n", b"three\n"))
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
    url, _ = await serve_once(head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
    transport = loop_transport(url, LIMITS, trust_env=False)
    async with (
        httpx.AsyncClient(transport=transport) as client,
        client.stream("GET", url + "/api/chat") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        pieces = [piece async for piece in response.aiter_raw()]
    assert pieces == [b"one\ntwo\nthree\n"]


async def test_a_body_framed_by_length_and_an_error_status_come_through() -> None:
    body = b'{"error": "model \\"x\\" not found"}'
    answer = b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    url, _ = await serve_once(answer)
    response = await get(url)
    assert response.status_code == 404 and response.reason_phrase == "Not Found"
    assert response.json() == {"error": 'model "x" not found'}
