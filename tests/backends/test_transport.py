"""The lean socket layer under httpx for plain-HTTP local model servers (backends/transport.py):
a whole streamed reply comes through it, a refused connection and a hang-up are the errors httpx
users expect, and it is used only where it applies."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from tests.replay_ollama import ReplayOllama
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
