"""The guards as the backend applies them: refused before any connection (remote host) or
before any prompt is sent (cloud models), and lifted by their allow-settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.replay.ollama import ReplayOllama
from typilot_lsp.backends import create_backend
from typilot_lsp.backends.base import FimPrompt, GenerationRequest
from typilot_lsp.backends.ollama import OllamaBackend, OllamaClient
from typilot_lsp.config import Config
from typilot_lsp.errors import CloudModelRefused, RemoteHostRefused
from typilot_lsp.privacy import PrivacyPolicy

CLOUD_BY_NAME = ["gpt-oss:120b-cloud", "deepseek-v4-pro:cloud"]


def backend_for(
    url: str, *, transport: httpx.AsyncBaseTransport | None = None, **privacy: bool
) -> OllamaBackend:
    config, errors = Config.from_dict({"ollama": {"host": url}, "privacy": privacy})
    assert not errors, errors
    return OllamaBackend.from_config(config, transport=transport)


async def collect(stream: AsyncIterator[str]) -> str:
    return "".join([piece async for piece in stream])


def req(model: str) -> GenerationRequest:
    return GenerationRequest(model=model, system="", prompt="the secret code of the user")


@pytest.mark.parametrize(
    "host",
    [
        "http://192.0.2.10:11434",
        "https://ollama.example.com",
        "http://0.0.0.0:11434",
        "http://[2001:db8::1]:11434",
    ],
)
async def test_remote_host_refused_before_any_connection(host: str) -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500)

    backend = backend_for(host, transport=httpx.MockTransport(record))
    try:
        with pytest.raises(RemoteHostRefused) as info:
            await collect(backend.stream(req("qwen2.5-coder:1.5b")))
        with pytest.raises(RemoteHostRefused):
            await backend.prepare("qwen2.5-coder:1.5b")
        with pytest.raises(RemoteHostRefused):
            await backend.client.version()
    finally:
        await backend.aclose()
    assert seen == []  # not one request reached the transport, so no socket, no DNS
    assert host in str(info.value) and "typilot.privacy.allowRemoteHost" in str(info.value)


async def test_remote_host_allowed_by_setting() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"version": "0.12.6"})

    backend = backend_for(
        "http://192.0.2.10:11434", transport=httpx.MockTransport(answer), allowRemoteHost=True
    )
    try:
        assert await backend.client.version() == "0.12.6"
    finally:
        await backend.aclose()
    assert seen == ["http://192.0.2.10:11434/api/version"]


@pytest.mark.parametrize("model", CLOUD_BY_NAME)
async def test_cloud_names_refused_without_any_request(
    replay_ollama: ReplayOllama, model: str
) -> None:
    backend = backend_for(replay_ollama.url)
    try:
        with pytest.raises(CloudModelRefused) as info:
            await collect(backend.stream(req(model)))
        with pytest.raises(CloudModelRefused):
            await backend.prepare(model)
        with pytest.raises(CloudModelRefused):
            await backend.warm(req(model))  # the prewarm too
    finally:
        await backend.aclose()
    message = str(info.value)
    assert model in message and "leave this machine" in message
    assert "typilot.privacy.allowCloudModels" in message
    assert replay_ollama.events_of("request") == []  # refused on the name: not even /api/show


async def test_remote_model_by_show_refused_before_the_prompt(replay_ollama: ReplayOllama) -> None:
    # a local-looking name whose manifest points at ollama.com (e.g. `FROM gpt-oss:120b-cloud`)
    replay_ollama.set_models(
        [
            "qwen2.5-coder:1.5b",
            {
                "name": "team-coder:latest",
                "remote_host": "https://ollama.com:443",
                "remote_model": "gpt-oss:120b",
            },
        ]
    )
    backend = backend_for(replay_ollama.url)
    try:
        with pytest.raises(CloudModelRefused) as info:
            await collect(backend.stream(req("team-coder:latest")))
        with pytest.raises(CloudModelRefused):
            await backend.warm(req("team-coder:latest"))
    finally:
        await backend.aclose()
    assert "team-coder:latest" in str(info.value) and "https://ollama.com:443" in str(info.value)
    # asked once: the answer is reused for a minute
    assert [e["path"] for e in replay_ollama.events_of("request")] == ["/api/show"]
    assert replay_ollama.generation_requests() == []


@pytest.mark.parametrize("model", [*CLOUD_BY_NAME, "team-coder:latest"])
async def test_cloud_models_allowed_by_setting(replay_ollama: ReplayOllama, model: str) -> None:
    replay_ollama.set_models(
        [
            *CLOUD_BY_NAME,
            {
                "name": "team-coder:latest",
                "remote_host": "https://ollama.com:443",
                "remote_model": "x",
            },
        ]
    )
    replay_ollama.add_rule(match="secret", reply="ok = 1\n")
    backend = backend_for(replay_ollama.url, allowCloudModels=True)
    try:
        info = await backend.prepare(model)
        assert info.remote_host == "https://ollama.com:443"
        assert await collect(backend.stream(req(model))) == "ok = 1\n"
    finally:
        await backend.aclose()
    assert len(replay_ollama.generation_requests()) == 1


async def test_stream_refuses_chunks_from_a_remote_model(replay_ollama: ReplayOllama) -> None:
    """Defence in depth: should a remote model get past the guards (here the client is called
    directly, with no prepare), the first chunk that says so ends the stream."""
    client = OllamaClient(replay_ollama.url)
    try:
        with pytest.raises(CloudModelRefused):
            await collect(client.chat("gpt-oss:120b-cloud", [{"role": "user", "content": "x"}]))
    finally:
        await client.aclose()
    replay_ollama.wait_for("disconnect")


# --- the OpenAI-compatible backend: the same guard, the same place ---------------------------


def openai_backend_for(
    url: str, *, transport: httpx.AsyncBaseTransport | None = None, **privacy: bool
) -> Any:
    config, errors = Config.from_dict(
        {"backend": "openai", "openai": {"baseUrl": url}, "privacy": privacy}
    )
    assert not errors, errors
    return create_backend(config, transport=transport)


@pytest.mark.parametrize(
    "url",
    [
        "http://192.0.2.10:8080/v1",
        "https://llm.example.com/v1",
        "http://0.0.0.0:8080/v1",
        "http://[2001:db8::1]:8000/v1",
        "http://gpu-box.internal:8000/v1",
    ],
)
async def test_openai_remote_url_refused_before_any_connection(url: str) -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500)

    backend = openai_backend_for(url, transport=httpx.MockTransport(record))
    fim = FimPrompt(prefix="secret = 1\n# gen: x\n", suffix="")
    try:
        with pytest.raises(RemoteHostRefused) as info:
            await collect(backend.stream(GenerationRequest("m", "", "the secret code", fim=fim)))
        with pytest.raises(RemoteHostRefused):
            await backend.prepare("")
        with pytest.raises(RemoteHostRefused):
            await backend.client.fim_supported()
    finally:
        await backend.aclose()
    assert seen == []  # not one request reached the transport: no socket, no DNS
    message = str(info.value)
    assert url in message and "typilot.privacy.allowRemoteHost" in message
    assert "typilot.openai.baseUrl" in message


async def test_openai_remote_url_allowed_by_setting() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"object": "list", "data": [{"id": "team-coder"}]})

    backend = openai_backend_for(
        "https://gpu-box.internal:8000/v1",
        transport=httpx.MockTransport(answer),
        allowRemoteHost=True,
    )
    try:
        assert (await backend.prepare("")).name == "team-coder"
    finally:
        await backend.aclose()
    assert seen == ["https://gpu-box.internal:8000/v1/models"]
    assert PrivacyPolicy(allow_remote_host=True).progress_label() == "remote host allowed"


async def test_openai_cloud_names_refused_like_ollama() -> None:
    """Ollama's own /v1 serves cloud models too: the name guard applies to this backend."""
    seen: list[httpx.Request] = []
    backend = openai_backend_for(
        "http://127.0.0.1:11434/v1", transport=httpx.MockTransport(lambda r: seen.append(r))
    )
    try:
        with pytest.raises(CloudModelRefused):
            await backend.prepare("gpt-oss:120b-cloud")
        with pytest.raises(CloudModelRefused):
            await collect(backend.stream(req("gpt-oss:120b-cloud")))
        with pytest.raises(CloudModelRefused):
            await backend.warm(req("gpt-oss:120b-cloud"))
    finally:
        await backend.aclose()
    assert seen == []
