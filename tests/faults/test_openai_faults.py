"""The OpenAI-compatible model server (llama-server, LM Studio, vLLM) misbehaves over SSE:
a stream cut mid-event or before ``[DONE]``, garbage ``data:`` lines, events of the wrong
shape, an error event mid-stream, a stall, an empty reply; by chat and by ``/infill``.

Each case asserts what fault_util asserts for every fault: a message the user can act on, the
buffer byte for byte what they typed plus what had streamed, the server still serving, and
the next run working."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.e2e.harness import Editor, editors_in, server_env
from tests.faults.fault_util import (
    assert_actionable,
    assert_next_run_works,
    assert_serving,
    run_to_fault,
    wait_message,
)
from tests.faults.test_backend_faults import AFTER, BEFORE, PREFIX_TEXT, SLOW, assert_partial
from tests.replay.openai import ReplayOpenAI

KEPT = BEFORE + "alpha = 1\nbeta = 2\n" + AFTER
Start = Callable[..., Awaitable[Editor]]


def event(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def chat_chunk(content: str | None, finish: str | None = None, role: bool = False) -> bytes:
    """One chat-completion chunk as llama-server frames it."""
    delta: dict[str, Any] = {"content": content}
    if role:
        delta["role"] = "assistant"
    return event(
        {
            "choices": [{"finish_reason": finish, "index": 0, "delta": delta}],
            "created": 1767225600,
            "id": "chatcmpl-fault",
            "model": "SmolLM2-135M-Instruct-Q4_1.gguf",
            "object": "chat.completion.chunk",
        }
    )


def infill_chunk(content: str, stop: bool = False) -> bytes:
    """One of llama.cpp's own /infill events."""
    obj: dict[str, Any] = {"index": 0, "content": content, "stop": stop}
    if stop:
        obj["stop_type"] = "eos"
    return event(obj)


CHAT_GOOD = [chat_chunk(None, role=True), chat_chunk("alpha = 1\n"), chat_chunk("beta = 2\n")]
INFILL_GOOD = [infill_chunk("alpha = 1\n"), infill_chunk("beta = 2\n")]

CUT_IN_CHAT_LINE = b'data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"gam'
CUT_IN_INFILL_LINE = b'data: {"index":0,"content":"gam'
LLAMA_ERROR = event(
    {"error": {"code": 500, "message": "model runner crashed", "type": "server_error"}}
)
VLLM_ERROR = event(
    {"object": "error", "message": "CUDA out of memory", "type": "InternalServerError", "code": 500}
)


def fault(case: str, tail: list[bytes], ends: bool, *words: str) -> Any:
    """A case: the bytes after the good events, whether the body ends cleanly (else the
    connection drops), and the words one of which the message must say."""
    return pytest.param(tail, ends, words, id=case)


SSE_FAULTS = [
    fault("dropped inside a data line", [CUT_IN_CHAT_LINE], False, "connection broke"),
    fault("ended inside a data line", [CUT_IN_CHAT_LINE], True, "in the middle of an event"),
    fault("dropped between events", [], False, "connection broke"),
    fault("ended before [DONE]", [], True, "closed before the answer was complete"),
    fault("a data line not JSON", [b"data: {this is not json\n\n"], True, "not JSON"),
    fault("binary junk", [b"data: \x00\xff\xfe garbage \x80\n\n"], True, "not JSON"),
    fault("JSON, not an object", [b"data: [1, 2, 3]\n\n"], True, "not an object"),
    fault(
        "no choices",
        [event({"id": "chatcmpl-fault", "object": "chat.completion.chunk"})],
        True,
        "not a chat completion",
    ),
    fault("choices not a list", [event({"choices": "alpha"})], True, "not a chat completion"),
    fault(
        "content not a string",
        [event({"choices": [{"index": 0, "delta": {"content": {"text": "x"}}}]})],
        True,
        "not a chat completion",
    ),
    fault("llama.cpp error event", [LLAMA_ERROR], True, "model runner crashed"),
    fault(
        "event: error with a JSON message",
        [b'event: error\ndata: {"message": "out of memory"}\n\n'],
        True,
        "out of memory",
    ),
    fault(
        "event: error with a text message",
        [b"event: error\ndata: out of memory\n\n"],
        True,
        "out of memory",
    ),
    fault("vLLM's error object", [VLLM_ERROR], True, "CUDA out of memory"),
]

INFILL_FAULTS = [
    fault("dropped inside a data line", [CUT_IN_INFILL_LINE], False, "connection broke"),
    fault("ended inside a data line", [CUT_IN_INFILL_LINE], True, "in the middle of an event"),
    fault("ended before stop", [], True, "closed before the answer was complete"),
    fault("a data line not JSON", [b"data: {this is not json\n\n"], True, "not JSON"),
    fault("not an infill event", [event({"choices": []})], True, "not a fill-in-the-middle"),
    fault("llama.cpp error event", [LLAMA_ERROR], True, "model runner crashed"),
]


@pytest.fixture
async def start(replay_openai: ReplayOpenAI, typilot_home: dict[str, str]) -> AsyncIterator[Start]:
    async with editors_in(server_env(typilot_home, None)) as start_with:

        async def open_session(fim: str = "off", **openai: Any) -> Editor:
            settings = {
                "backend": "openai",
                "openai": {"baseUrl": replay_openai.base_url, **openai},
                "gen": {"fim": fim},
            }
            return await start_with(settings)

        yield open_session


def replies(replay: ReplayOpenAI) -> Callable[..., None]:
    """`add_rule` for assert_next_run_works: the replay server answers normally again."""

    def add_rule(*, match: str, reply: str) -> None:
        replay.script = None
        replay.reply = reply

    return add_rule


async def garbled_run(
    editor: Editor, replay: ReplayOpenAI, words: tuple[str, ...], path: str, kept: str = KEPT
) -> None:
    doc = editor.open("garbled.py", PREFIX_TEXT)
    await run_to_fault(editor, doc, *words)
    assert doc.text == kept
    # The replay server notes the script once it has sent all of it, which on a loaded machine
    # can be after the editor has shown the error: wait for that note.
    await asyncio.to_thread(replay.wait_for, "scripted")
    assert [e["path"] for e in replay.events_of("scripted")] == [path]
    await assert_serving(editor)
    await assert_next_run_works(editor, replies(replay))


@pytest.mark.parametrize(("tail", "ends", "words"), SSE_FAULTS)
async def test_malformed_and_truncated_sse(
    replay_openai: ReplayOpenAI,
    start: Start,
    tail: list[bytes],
    ends: bool,
    words: tuple[str, ...],
) -> None:
    replay_openai.script = [*CHAT_GOOD, 0.3, *tail]
    replay_openai.script_ends = ends
    editor = await start()
    await garbled_run(editor, replay_openai, words, "/v1/chat/completions")


@pytest.mark.parametrize(("tail", "ends", "words"), INFILL_FAULTS)
async def test_malformed_and_truncated_infill(
    replay_openai: ReplayOpenAI,
    start: Start,
    tail: list[bytes],
    ends: bool,
    words: tuple[str, ...],
) -> None:
    replay_openai.fim = True
    replay_openai.script = [*INFILL_GOOD, 0.3, *tail]
    replay_openai.script_ends = ends
    editor = await start(fim="auto")
    await garbled_run(editor, replay_openai, words, "/infill")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            json.dumps({"choices": [{"index": 0, "message": {"content": "x = 1\n"}}]}).encode(),
            id="one JSON body (stream ignored)",
        ),
        pytest.param(
            b'{"message":{"role":"assistant","content":"x = 1\\n"},"done":true}\n', id="NDJSON"
        ),
    ],
)
async def test_an_answer_that_is_not_an_event_stream(
    replay_openai: ReplayOpenAI, start: Start, body: bytes
) -> None:
    replay_openai.script = [body]
    editor = await start()
    words = ("did not answer with server-sent events",)
    await garbled_run(editor, replay_openai, words, "/v1/chat/completions", PREFIX_TEXT)


@pytest.mark.parametrize("fim", ["off", "auto"])
async def test_a_stall_over_sse_ends_the_run_with_what_streamed(
    replay_openai: ReplayOpenAI, start: Start, fim: str
) -> None:
    replay_openai.fim = fim == "auto"
    replay_openai.tokens = SLOW.splitlines(keepends=True)
    replay_openai.interval = 0.005
    replay_openai.stall_after = 30
    editor = await start(fim=fim, idleTimeout=1)
    doc = editor.open("stall.py", PREFIX_TEXT)
    await editor.run_line(doc, 1)
    message = await wait_message(editor)
    assert_actionable(message, "typilot.openai.idleTimeout", "stopped sending")
    gone = await asyncio.to_thread(replay_openai.wait_for, "disconnect", 30)
    assert gone["path"] == ("/infill" if fim == "auto" else "/v1/chat/completions")
    await editor.wait_runs_done()
    assert_partial(doc.text)
    await assert_serving(editor)
    replay_openai.tokens, replay_openai.stall_after = None, None
    await assert_next_run_works(editor, replies(replay_openai))


@pytest.mark.parametrize("fim", ["off", "auto"])
@pytest.mark.parametrize(
    "reply", ["   \n\n\t\n", "```\n```\n", "```python\n\n```\n", "<think>hmm</think>\n"]
)
async def test_a_reply_with_no_code_over_sse_leaves_the_line(
    replay_openai: ReplayOpenAI, start: Start, reply: str, fim: str
) -> None:
    replay_openai.fim = fim == "auto"
    replay_openai.reply = reply
    editor = await start(fim=fim)
    doc = editor.open("empty.py", PREFIX_TEXT)
    await run_to_fault(editor, doc, "returned no code")
    assert doc.text == PREFIX_TEXT
    assert replay_openai.events_of("complete")[-1]["path"] == (
        "/infill" if fim == "auto" else "/v1/chat/completions"
    )
    await assert_serving(editor)
    await assert_next_run_works(editor, replies(replay_openai))
