"""The Ollama client and backend against the replay server: the happy paths and every error
path, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

from tests.backends.streams import closed_port, collect, stream_failure
from tests.replay.ollama import BUSY_ERROR, RUNNER_CRASHED_ERROR, ReplayOllama
from typilot_lsp.backends.base import Backend, FimPrompt, GenerationRequest, StreamStats
from typilot_lsp.backends.ollama import OllamaBackend, OllamaClient
from typilot_lsp.config import Config
from typilot_lsp.errors import (
    CapabilityError,
    ModelNotFound,
    NotOllama,
    OllamaAuthError,
    OllamaBusy,
    OllamaServerError,
    OllamaStalled,
    OllamaStreamError,
    OllamaUnreachable,
)

MODEL = "qwen2.5-coder:1.5b"


def make_backend(url: str, **ollama: object) -> OllamaBackend:
    settings = {"ollama": {"host": url, **ollama}}
    config, errors = Config.from_dict(settings)
    assert not errors, errors
    return OllamaBackend.from_config(config)


def request(prompt: str, model: str = MODEL, **kw: object) -> GenerationRequest:
    return GenerationRequest(model=model, system="You write code.", prompt=prompt, **kw)  # type: ignore[arg-type]


def requests_to(replay: ReplayOllama, path: str) -> list[dict[str, object]]:
    return [e for e in replay.events_of("request") if e["path"] == path]


# --- happy paths ----------------------------------------------------------------------------


async def test_backend_satisfies_protocol(replay_ollama: ReplayOllama) -> None:
    backend = make_backend(replay_ollama.url)
    try:
        assert isinstance(backend, Backend)
    finally:
        await backend.aclose()


async def test_chat_stream_yields_reply_and_fills_stats(replay_ollama: ReplayOllama) -> None:
    reply = "def add(a, b):\n    return a + b\n"
    replay_ollama.add_rule(match="add two numbers", reply=reply)
    backend = make_backend(replay_ollama.url, keepAlive="10m")
    stats = StreamStats()
    req = request("add two numbers", options={"temperature": 0.1})
    try:
        text = await collect(backend.stream(req, stats))
    finally:
        await backend.aclose()
    assert text == reply
    assert stats.done_reason == "stop"
    assert stats.first_token_at is not None and stats.started_at is not None
    assert stats.first_token_at >= stats.started_at
    assert stats.token_count > 1
    chat = requests_to(replay_ollama, "/api/chat")
    assert len(chat) == 1
    body = chat[0]["body"]
    assert isinstance(body, dict)
    assert body["model"] == MODEL and body["stream"] is True
    assert body["keep_alive"] == "10m" and body["options"] == {"temperature": 0.1}
    assert body["messages"] == [
        {"role": "system", "content": "You write code."},
        {"role": "user", "content": "add two numbers"},
    ]
    assert "think" not in body  # not a thinking model: the field is not sent
    complete = replay_ollama.wait_for("complete")
    assert complete["text"] == reply


async def test_text_on_the_done_line_is_kept(replay_ollama: ReplayOllama) -> None:
    replay_ollama.add_rule(match="tail", reply="x = 1\n", final_text="y = 2\n")
    backend = make_backend(replay_ollama.url)
    try:
        text = await collect(backend.stream(request("tail")))
    finally:
        await backend.aclose()
    assert text == "x = 1\ny = 2\n"


async def test_generate_endpoint_streams(replay_ollama: ReplayOllama) -> None:
    replay_ollama.add_rule(match="fim", reply="return a + b", final_text="\n")
    client = OllamaClient(replay_ollama.url)
    stats = StreamStats()
    try:
        text = await collect(
            client.generate(MODEL, "fim def add(a, b):", suffix="\n\nprint(add(1, 2))", stats=stats)
        )
    finally:
        await client.aclose()
    assert text == "return a + b\n"
    assert stats.done_reason == "stop" and stats.prompt_eval_count
    assert (
        requests_to(replay_ollama, "/api/generate")[0]["body"]["suffix"] == "\n\nprint(add(1, 2))"
    )  # type: ignore[index]


async def test_discovery_endpoints(replay_ollama: ReplayOllama) -> None:
    client = OllamaClient(replay_ollama.url)
    try:
        assert await client.version() == replay_ollama.version
        names = {m["name"] for m in await client.tags()}
        assert {MODEL, "qwen3:1.7b", "gpt-oss:120b-cloud"} <= names
        info = await client.model_info(MODEL)
        assert info.name == MODEL
        assert "completion" in info.capabilities and "insert" in info.capabilities
        assert info.context_length == 32768
        assert info.remote_host is None
        cloud = await client.model_info("gpt-oss:120b-cloud")
        assert cloud.remote_host == "https://ollama.com:443"
        assert cloud.remote_model == "gpt-oss:120b"
    finally:
        await client.aclose()


async def test_show_is_cached_per_host_and_model(replay_ollama: ReplayOllama) -> None:
    backend = make_backend(replay_ollama.url)
    try:
        await backend.prepare(MODEL)
        await backend.prepare(MODEL)
        await collect(backend.stream(request("one")))
        await collect(backend.stream(request("two")))
        await backend.prepare("qwen3:1.7b")
    finally:
        await backend.aclose()
    shows = [e["body"]["model"] for e in requests_to(replay_ollama, "/api/show")]  # type: ignore[index]
    assert shows == [MODEL, "qwen3:1.7b"]


async def test_show_asked_once_when_a_prewarm_and_a_run_ask_together(
    replay_ollama: ReplayOllama,
) -> None:
    backend = make_backend(replay_ollama.url)
    try:
        await asyncio.gather(backend.warm(request("one")), backend.prepare(MODEL))
    finally:
        await backend.aclose()
    assert [e["body"]["model"] for e in requests_to(replay_ollama, "/api/show")] == [MODEL]  # type: ignore[index]


async def test_thinking_is_not_yielded(replay_ollama: ReplayOllama) -> None:
    replay_ollama.add_rule(match="think", reply="answer = 42\n", thinking="Let me reason first.")
    backend = make_backend(replay_ollama.url)
    stats = StreamStats()
    try:
        # think omitted: a thinking model thinks, the text is only the answer
        messages = [{"role": "user", "content": "think hard"}]
        text = await collect(backend.client.chat("qwen3:1.7b", messages, stats=stats))
        assert text == "answer = 42\n"
        assert stats.thinking_chars > 0
        # the backend asks a thinking model not to think (a code reply, not a trace)
        stats_off = StreamStats()
        text_off = await collect(
            backend.stream(request("think hard", model="qwen3:1.7b"), stats_off)
        )
    finally:
        await backend.aclose()
    assert text_off == "answer = 42\n" and stats_off.thinking_chars == 0
    bodies = [e["body"] for e in requests_to(replay_ollama, "/api/chat")]
    assert "think" not in bodies[0] and bodies[1]["think"] is False  # type: ignore[index,operator]


# --- error paths ----------------------------------------------------------------------------


async def test_nothing_listening(tmp_path: object) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    backend = make_backend(url)
    try:
        with pytest.raises(OllamaUnreachable) as info:
            await collect(backend.stream(request("hello")))
        assert str(info.value) == f"Ollama is not running at {url}: start it with `ollama serve`"
        with pytest.raises(OllamaUnreachable):
            await backend.client.version()
    finally:
        await backend.aclose()


async def test_model_not_installed(replay_ollama: ReplayOllama) -> None:
    backend = make_backend(replay_ollama.url)
    try:
        with pytest.raises(ModelNotFound) as info:
            await collect(backend.stream(request("hi", model="llama3.2:3b")))
        assert (
            str(info.value) == "model llama3.2:3b is not installed: run `ollama pull llama3.2:3b`"
        )
        # the chat endpoint itself maps its 404 the same way
        with pytest.raises(ModelNotFound):
            await collect(backend.client.chat("nope:1b", [{"role": "user", "content": "x"}]))
    finally:
        await backend.aclose()
    assert requests_to(replay_ollama, "/api/chat")[0]["body"]["model"] == "nope:1b"  # type: ignore[index]


async def test_capability_errors(replay_ollama: ReplayOllama) -> None:
    client = OllamaClient(replay_ollama.url)
    try:
        with pytest.raises(CapabilityError) as info:
            await collect(client.chat(MODEL, [{"role": "user", "content": "x"}], think=True))
        assert info.value.capability == "thinking"
        assert MODEL in str(info.value) and "does not support thinking" in str(info.value)
        with pytest.raises(CapabilityError) as info:
            await collect(client.generate("qwen3:1.7b", "def f(", suffix="\n"))
        assert info.value.capability == "insert"
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("status", "error", "expected", "words"),
    [
        (503, BUSY_ERROR, OllamaBusy, ["busy", "try again"]),
        (429, None, OllamaBusy, ["busy"]),
        (500, RUNNER_CRASHED_ERROR, OllamaServerError, ["500", "server log"]),
        (502, None, OllamaServerError, ["502"]),
    ],
)
async def test_status_errors(
    replay_ollama: ReplayOllama,
    status: int,
    error: str | None,
    expected: type[Exception],
    words: list[str],
) -> None:
    replay_ollama.add_rule(match="fail", status=status, error=error)
    failure, _ = await stream_failure(
        expected, make_backend(replay_ollama.url), request("fail please")
    )
    for word in words:
        assert word in str(failure)
    if error:
        assert error in str(failure)


@pytest.mark.parametrize(("mode", "status"), [("unauthorized", 401), ("disabled", 403)])
async def test_cloud_auth_errors_when_cloud_is_allowed(
    replay_ollama: ReplayOllama, mode: str, status: int
) -> None:
    replay_ollama.set_cloud(mode)
    config, _ = Config.from_dict(
        {"ollama": {"host": replay_ollama.url}, "privacy": {"allowCloudModels": True}}
    )
    failure, _ = await stream_failure(
        OllamaAuthError,
        OllamaBackend.from_config(config),
        request("hi", model="gpt-oss:120b-cloud"),
    )
    assert failure.status == status
    assert ("ollama signin" in str(failure)) == (status == 401)


async def test_mid_stream_error_keeps_text_streamed_so_far(replay_ollama: ReplayOllama) -> None:
    replay_ollama.add_rule(
        match="crash", reply="a b c d e f g h", error_after_tokens=3, error=RUNNER_CRASHED_ERROR
    )
    failure, pieces = await stream_failure(
        OllamaStreamError, make_backend(replay_ollama.url), request("crash now")
    )
    assert len(pieces) == 3
    assert RUNNER_CRASHED_ERROR in str(failure)
    assert "in the middle of the answer" in str(failure)


async def test_stall_is_an_error_not_a_hang(replay_ollama: ReplayOllama) -> None:
    replay_ollama.add_rule(match="stall", reply="one two three four", stall_after_tokens=2)
    failure, pieces = await stream_failure(
        OllamaStalled, make_backend(replay_ollama.url, idleTimeout=0.5), request("stall here")
    )
    assert len(pieces) == 2
    assert not failure.first and "typilot.ollama.idleTimeout" in str(failure)
    # giving up closed the connection: the server saw the client hang up
    gone = replay_ollama.wait_for("disconnect")
    assert gone["tokens_sent"] == 2


async def test_slow_first_token_uses_first_token_timeout(replay_ollama: ReplayOllama) -> None:
    # a cold load: longer than the idle timeout, shorter than the first-token timeout
    replay_ollama.add_rule(match="cold", reply="ok = True", first_token_delay=0.8)
    backend = make_backend(replay_ollama.url, idleTimeout=0.3, firstTokenTimeout=10)
    try:
        assert await collect(backend.stream(request("cold start"))) == "ok = True"
    finally:
        await backend.aclose()
    # a load that never finishes in time
    replay_ollama.add_rule(match="frozen", reply="x", first_token_delay=30)
    failure, _ = await stream_failure(
        OllamaStalled,
        make_backend(replay_ollama.url, idleTimeout=0.3, firstTokenTimeout=0.6),
        request("frozen load"),
    )
    assert failure.first and "typilot.ollama.firstTokenTimeout" in str(failure)
    replay_ollama.wait_for("disconnect", lambda e: e["tokens_sent"] == 0)


async def test_closing_the_stream_closes_the_connection(replay_ollama: ReplayOllama) -> None:
    replay_ollama.add_rule(match="long", reply=" ".join(["tok"] * 400), tokens_per_second=50)
    backend = make_backend(replay_ollama.url)
    try:
        async with contextlib.aclosing(backend.stream(request("long answer"))) as stream:
            received = 0
            async for _piece in stream:
                received += 1
                if received == 3:
                    break
        # no waiting for the generator to be collected: aclose() hung up already
        gone = await replay_ollama.wait_for_async("disconnect", timeout=5)
    finally:
        await backend.aclose()
    assert 3 <= gone["tokens_sent"] < 400
    assert not replay_ollama.events_of("complete")


async def test_cancelling_the_task_closes_the_connection(replay_ollama: ReplayOllama) -> None:
    replay_ollama.add_rule(match="long", reply=" ".join(["tok"] * 400), tokens_per_second=50)
    backend = make_backend(replay_ollama.url)
    started = asyncio.Event()

    async def run() -> None:
        async for _piece in backend.stream(request("long answer")):
            started.set()

    task = asyncio.ensure_future(run())
    try:
        await asyncio.wait_for(started.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gone = await replay_ollama.wait_for_async("disconnect", timeout=5)
    finally:
        await backend.aclose()
    assert gone["tokens_sent"] < 400


async def test_something_else_on_the_port_is_not_ollama() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b"404 page not found"
        writer.write(
            b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = OllamaClient(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(NotOllama) as info:
            await client.version()
        assert "does not look like Ollama" in str(info.value)
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()


async def test_stream_cut_before_done_is_an_error() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n"
            b'{"model":"m","message":{"role":"assistant","content":"par"},"done":false}\n'
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = OllamaClient(f"http://127.0.0.1:{port}")
    pieces: list[str] = []
    try:
        with pytest.raises(OllamaStreamError, match="closed before the answer was complete"):
            async for piece in client.chat("m", [{"role": "user", "content": "x"}]):
                pieces.append(piece)
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
    assert pieces == ["par"]


# --- host handling ----------------------------------------------------------------------------


async def test_host_path_is_kept_and_api_key_only_goes_to_an_allowed_remote(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[httpx.Request] = []

    def answer(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, json={"version": "0.12.6"})

    monkeypatch.setenv("OLLAMA_API_KEY", "key-123")
    local = OllamaClient(
        "http://127.0.0.1:11434/proxy/ollama", transport=httpx.MockTransport(answer)
    )
    remote = OllamaClient(
        "https://ollama.example.com:443",
        allow_remote_host=True,
        transport=httpx.MockTransport(answer),
    )
    try:
        await local.version()
        await remote.version()
    finally:
        await local.aclose()
        await remote.aclose()
    assert str(seen[0].url) == "http://127.0.0.1:11434/proxy/ollama/api/version"
    assert "authorization" not in seen[0].headers
    assert seen[0].headers["user-agent"].startswith("typilot-lsp/")
    assert seen[1].headers["authorization"] == "Bearer key-123"


# --- fill-in-the-middle and the length bound ---------------------------------------------------


async def test_fim_goes_to_generate_with_suffix_when_the_model_has_insert(
    replay_ollama: ReplayOllama,
) -> None:
    replay_ollama.add_rule(gap="gen: add two numbers", reply="def add(a, b):\n    return a + b\n")
    backend = make_backend(replay_ollama.url)
    fim = FimPrompt(prefix="import math\n# gen: add two numbers\n", suffix="print(1)\n")
    stats = StreamStats()
    try:
        text = await collect(backend.stream(request("chat prompt", fim=fim, max_tokens=256), stats))
    finally:
        await backend.aclose()
    assert text == "def add(a, b):\n    return a + b\n" and stats.endpoint == "fim"
    (sent,) = requests_to(replay_ollama, "/api/generate")
    body = sent["body"]
    assert isinstance(body, dict)
    # what the FIM path sends: the code before (with the gen: line) and after the gap
    assert body["prompt"] == fim.prefix and body["suffix"] == fim.suffix
    assert body["options"] == {"num_predict": 256} and "system" not in body
    assert requests_to(replay_ollama, "/api/chat") == []


async def test_fim_falls_back_to_chat_without_insert(replay_ollama: ReplayOllama) -> None:
    replay_ollama.add_rule(match="chat prompt", reply="x = 1\n")
    backend = make_backend(replay_ollama.url)
    fim = FimPrompt(prefix="# gen: x\n", suffix="")
    stats = StreamStats()
    try:
        text = await collect(
            backend.stream(request("chat prompt", model="qwen3:1.7b", fim=fim), stats)
        )
    finally:
        await backend.aclose()
    assert text == "x = 1\n" and stats.endpoint == "chat"
    assert requests_to(replay_ollama, "/api/generate") == []
    (sent,) = requests_to(replay_ollama, "/api/chat")
    assert sent["body"]["messages"][-1] == {"role": "user", "content": "chat prompt"}  # type: ignore[index]


async def test_an_empty_suffix_is_sent_as_a_line_break(replay_ollama: ReplayOllama) -> None:
    """Ollama's FIM templates test `if .Suffix`: an empty one would turn FIM off."""
    backend = make_backend(replay_ollama.url)
    try:
        await collect(backend.stream(request("x", fim=FimPrompt(prefix="# gen: y\n", suffix=""))))
    finally:
        await backend.aclose()
    (sent,) = requests_to(replay_ollama, "/api/generate")
    assert sent["body"]["suffix"] == "\n"  # type: ignore[index]


async def test_max_tokens_is_num_predict_and_length_is_reported(
    replay_ollama: ReplayOllama,
) -> None:
    replay_ollama.add_rule(match="long", reply="".join(f"v{i} = {i}\n" for i in range(50)))
    backend = make_backend(replay_ollama.url)
    stats = StreamStats()
    try:
        opts = {"temperature": 0, "num_predict": 9999}  # as the run passes `ollama.options`
        text = await collect(backend.stream(request("long", options=opts, max_tokens=10), stats))
    finally:
        await backend.aclose()
    assert stats.done_reason == "length" and stats.token_count == 10
    assert text.startswith("v0 = 0\n") and "v49" not in text
    (sent,) = requests_to(replay_ollama, "/api/chat")
    # the per-command bound wins over a num_predict in `ollama.options`
    assert sent["body"]["options"] == {"temperature": 0, "num_predict": 10}  # type: ignore[index]
