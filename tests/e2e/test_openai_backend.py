"""The OpenAI-compatible backend end to end: the real server over stdio, driven as an editor
drives it, against a loopback server that frames its replies as llama-server does."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from lsprotocol import types

from tests.e2e.harness import Editor, StartEditor, editors_in, server_env
from tests.replay.openai import ReplayOpenAI

SOURCE = "import math\n# gen: add two numbers\nprint(1)\n"
REPLY = "def add(a, b):\n    return a + b\n"
EXPECTED = "import math\ndef add(a, b):\n    return a + b\nprint(1)\n"


@pytest.fixture
async def start(typilot_home: dict[str, str]) -> AsyncIterator[StartEditor]:
    async with editors_in(server_env(typilot_home, None)) as start_with:
        yield start_with


def settings_for(server: ReplayOpenAI, **extra: Any) -> dict[str, Any]:
    return {"backend": "openai", "openai": {"baseUrl": server.base_url}, **extra}


def messages(editor: Editor) -> list[str]:
    return [m.message for m in editor.client.messages]


def reports(editor: Editor) -> list[str]:
    return [
        r.message or ""
        for values in editor.client.progress_reports.values()
        for r in values
        if isinstance(r, types.WorkDoneProgressReport)
    ]


async def run(editor: Editor, doc: Any, line: int = 1) -> None:
    ended = len(editor.progress_ends())  # before: a refused run may end before run_line returns
    await editor.run_line(doc, line)
    await editor.wait_runs_done(count=ended + 1)


async def test_gen_through_chat_after_infill_501(
    replay_openai: ReplayOpenAI, start: StartEditor
) -> None:
    replay_openai.reply = f"```python\n{REPLY}```\nThis adds two numbers.\n"
    editor = await start(settings_for(replay_openai))
    doc = editor.open("calc.py", SOURCE)
    await run(editor, doc)
    assert doc.text == EXPECTED  # no fence, no prose, the prefix line gone
    posts = [e for e in replay_openai.requests() if e["method"] == "POST"]
    assert [e["path"] for e in posts] == ["/infill", "/v1/chat/completions"]
    infill, chat = posts[0]["body"], posts[1]["body"]
    # what the FIM path sends: the code before with the gen: line, and the code after
    assert infill["input_prefix"] == "import math\n# gen: add two numbers\n"
    assert infill["input_suffix"] == "print(1)\n"
    assert infill["n_predict"] == 1024 and infill["stream"] is True
    # what the chat path sends
    assert chat["model"] == replay_openai.model and chat["stream"] is True
    assert chat["max_tokens"] == 1024
    assert "add two numbers" in chat["messages"][-2]["content"]
    assert chat["messages"][-1]["role"] == "assistant" and chat["stop"] == ["```"]
    # a second run does not ask /infill again: the 501 is remembered for this model
    doc2 = editor.open("calc2.py", SOURCE)
    await run(editor, doc2)
    assert doc2.text == EXPECTED
    posts = [e for e in replay_openai.requests() if e["method"] == "POST"]
    assert [e["path"] for e in posts].count("/infill") == 1


async def test_gen_by_infill_when_the_model_has_fim(
    replay_openai: ReplayOpenAI, start: StartEditor
) -> None:
    replay_openai.fim = True
    replay_openai.reply = REPLY
    editor = await start(settings_for(replay_openai))
    doc = editor.open("calc.py", SOURCE)
    await run(editor, doc)
    assert doc.text == EXPECTED
    posts = [e["path"] for e in replay_openai.requests() if e["method"] == "POST"]
    assert posts == ["/infill"]


async def test_fim_off_goes_straight_to_chat(
    replay_openai: ReplayOpenAI, start: StartEditor
) -> None:
    replay_openai.reply = REPLY
    editor = await start(settings_for(replay_openai, gen={"fim": "off"}))
    doc = editor.open("calc.py", SOURCE)
    await run(editor, doc)
    assert doc.text == EXPECTED
    posts = [e["path"] for e in replay_openai.requests() if e["method"] == "POST"]
    assert posts == ["/v1/chat/completions"]


async def test_reply_cut_at_the_bound_says_so(
    replay_openai: ReplayOpenAI, start: StartEditor
) -> None:
    replay_openai.reply = REPLY
    editor = await start(settings_for(replay_openai, gen={"maxTokens": 5, "fim": "off"}))
    doc = editor.open("calc.py", SOURCE)
    await run(editor, doc)
    chat = replay_openai.requests("/v1/chat/completions")[0]["body"]
    assert chat["max_tokens"] == 5
    # what streamed stays, and the user is told it was cut and which setting raises the bound
    assert doc.text.startswith("import math\ndef add(") and doc.text.endswith("print(1)\n")
    assert "gen: add two numbers" not in doc.text
    cut = [m for m in messages(editor) if "length limit" in m]
    assert cut and "typilot.gen.maxTokens" in cut[0] and "5 tokens" in cut[0], messages(editor)


async def test_sum_and_fix_use_their_own_bounds(
    replay_openai: ReplayOpenAI, start: StartEditor
) -> None:
    replay_openai.reply = "Adds two numbers.\n"
    editor = await start(settings_for(replay_openai, sum={"maxTokens": 64}))
    doc = editor.open("calc.py", "# sum:\ndef add(a, b):\n    return a + b\n")
    await run(editor, doc, 0)
    assert doc.text == "# Adds two numbers.\ndef add(a, b):\n    return a + b\n"
    bodies = [e["body"] for e in replay_openai.requests("/v1/chat/completions")]
    assert bodies[-1]["max_tokens"] == 64
    assert replay_openai.requests("/infill") == []  # FIM is for gen: only


async def test_cancel_closes_the_stream(replay_openai: ReplayOpenAI, start: StartEditor) -> None:
    replay_openai.tokens = [f"line_{i} = {i}\n" for i in range(400)]
    replay_openai.interval = 0.03
    editor = await start(settings_for(replay_openai, gen={"fim": "off"}))
    doc = editor.open("slow.py", SOURCE)
    await editor.run_line(doc, 1)
    await editor.wait_until(lambda: "line_2 = 2" in doc.text)
    result = await editor.execute(
        types.Command(title="", command="typilot.cancel", arguments=[{"uri": doc.uri}])
    )
    assert result == {"cancelled": 1}
    gone = await asyncio.to_thread(replay_openai.wait_for, "disconnect", 15)
    assert gone["tokens_sent"] < 400
    await editor.wait_runs_done()
    assert doc.text.startswith("import math\nline_0 = 0\n") and doc.text.endswith("print(1)\n")
    assert replay_openai.events_of("complete") == []


async def test_model_loading_is_reported_then_the_run_works(
    replay_openai: ReplayOpenAI, start: StartEditor
) -> None:
    replay_openai.loading = 3
    replay_openai.reply = REPLY
    editor = await start(settings_for(replay_openai))
    doc = editor.open("calc.py", SOURCE)
    await run(editor, doc)
    assert doc.text == EXPECTED
    assert "model loading" in reports(editor)


async def test_errors_keep_the_buffer_and_the_server_serving(
    replay_openai: ReplayOpenAI, start: StartEditor
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    editor = await start(
        {"backend": "openai", "openai": {"baseUrl": f"http://127.0.0.1:{port}/v1"}}
    )
    doc = editor.open("calc.py", SOURCE)
    await run(editor, doc)
    assert doc.text == SOURCE
    refused = [m for m in messages(editor) if "cannot reach the model server" in m]
    assert refused and f"llama-server -m MODEL.gguf --port {port}" in refused[0]
    # the user fixes the setting: the same session serves the next run
    editor.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"typilot": settings_for(replay_openai)})
    )
    replay_openai.reply = REPLY
    replay_openai.fail = (
        400,
        {
            "error": {
                "code": 400,
                "message": "request (4100 tokens) exceeds the available context size "
                "(2048 tokens), try increasing it",
                "type": "exceed_context_size_error",
            }
        },
    )
    replay_openai.fim = True  # so that the scripted failure hits the first POST
    await run(editor, doc)
    assert doc.text == SOURCE
    assert any("typilot.context.maxChars" in m for m in messages(editor)), messages(editor)
    replay_openai.error_after = 3
    await run(editor, doc)
    # an error event mid-stream: what streamed is kept (one undo removes it), nothing else moved
    assert doc.text.startswith("import math\ndef add(") and doc.text.endswith("\nprint(1)\n")
    crashed = [m for m in messages(editor) if "model runner crashed" in m]
    assert crashed and "streamed so far is kept" in crashed[0], messages(editor)
    replay_openai.error_after = None
    doc2 = editor.open("calc2.py", SOURCE)
    await run(editor, doc2)
    assert doc2.text == EXPECTED
