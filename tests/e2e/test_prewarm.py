"""The prompt sent while the user types (runs/prewarm.py), end to end: the real server over
stdio, an editor typing a prefixed line key by key, then picking the action; the model
servers record what they were asked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.harness import Doc, Editor, editor_session, editors_in, server_env
from tests.replay.ollama import ReplayOllama
from tests.replay.openai import ReplayOpenAI

SOURCE = "import math\n\nprint(1)\n"
LINE = "# gen: add two numbers"
REPLY = "def add(a, b):\n    return a + b\n"


async def type_prefix_line(editor: Editor, doc: Doc) -> None:
    """The prefixed line typed on the empty line 1, one key per didChange."""
    offset = doc.text.index("\n") + 1
    for char in LINE:
        editor.type_at(doc, offset, char)
        offset += 1


def generations(replay: ReplayOllama) -> list[dict[str, Any]]:
    """The bodies of what Ollama was asked to generate (runs and prewarms)."""
    return [e["body"] for e in replay.generation_requests()]


@pytest.fixture
async def editor(
    replay_ollama: ReplayOllama, typilot_home: dict[str, str]
) -> AsyncIterator[Editor]:
    env = server_env(typilot_home, replay_ollama.url)
    async with editor_session(env, {"ollama": {"options": {"temperature": 0}}}) as session:
        yield session


async def test_a_typed_line_is_warmed_with_the_runs_own_prompt_before_the_pick(
    editor: Editor, replay_ollama: ReplayOllama
) -> None:
    replay_ollama.add_rule(match="add two numbers", reply=REPLY)
    doc = editor.open("calc.py", SOURCE)
    await type_prefix_line(editor, doc)
    # the editor is quiet for prewarm.delayMs: the server sends the prompt, one token asked
    await editor.wait_until(lambda: len(generations(replay_ollama)) == 1)
    warm = generations(replay_ollama)[0]
    assert warm["stream"] is False and warm["options"]["num_predict"] == 1
    await editor.run_line(doc, 1)
    await editor.wait_runs_done()
    assert doc.text == "import math\ndef add(a, b):\n    return a + b\nprint(1)\n"
    run = generations(replay_ollama)[-1]
    assert run.get("stream") is not False
    # the run asked what was warmed (the code before and after the gap, for a model that
    # fills in the middle), so the server's cache already held it
    assert (run["prompt"], run["suffix"]) == (warm["prompt"], warm["suffix"])
    assert len(generations(replay_ollama)) == 2  # the code-action request found it warm


async def test_a_chat_is_warmed_with_its_messages_and_started_in_code(
    replay_ollama: ReplayOllama, typilot_home: dict[str, str]
) -> None:
    replay_ollama.add_rule(match="add two numbers", reply=f"```python\n{REPLY}```\nDone.\n")
    env = server_env(typilot_home, replay_ollama.url)
    async with editor_session(env, {"gen": {"fim": "off"}}) as editor:
        doc = editor.open("calc.py", SOURCE)
        await type_prefix_line(editor, doc)
        await editor.wait_until(lambda: len(generations(replay_ollama)) == 1)
        await editor.run_line(doc, 1)
        await editor.wait_runs_done()
    warm, run = generations(replay_ollama)
    assert warm["stream"] is False and run.get("stream") is not False
    assert run["messages"] == warm["messages"]
    assert run["messages"][-1] == {"role": "assistant", "content": "```python\n"}
    assert run["options"]["stop"] == ["```"]
    assert doc.text == "import math\ndef add(a, b):\n    return a + b\nprint(1)\n"


async def test_prewarm_off_sends_only_the_run(
    replay_ollama: ReplayOllama, typilot_home: dict[str, str]
) -> None:
    replay_ollama.add_rule(match="add two numbers", reply=REPLY)
    env = server_env(typilot_home, replay_ollama.url)
    async with editor_session(env, {"prewarm": {"enabled": False}}) as editor:
        doc = editor.open("calc.py", SOURCE)
        await type_prefix_line(editor, doc)
        await editor.run_line(doc, 1)
        await editor.wait_runs_done()
    assert [b.get("stream") for b in generations(replay_ollama)] == [True]  # the run only


async def test_llama_server_gets_the_same_chat_with_one_token_then_the_run(
    replay_openai: ReplayOpenAI, typilot_home: dict[str, str]
) -> None:
    replay_openai.reply = REPLY
    async with editors_in(server_env(typilot_home, None)) as start:
        editor = await start(
            {
                "backend": "openai",
                "openai": {"baseUrl": replay_openai.base_url},
                "gen": {"fim": "off"},
            }
        )
        doc = editor.open("calc.py", SOURCE)
        await type_prefix_line(editor, doc)
        posts = lambda: [e for e in replay_openai.requests() if e["method"] == "POST"]  # noqa: E731
        await editor.wait_until(lambda: len(posts()) == 1)
        await editor.run_line(doc, 1)
        await editor.wait_runs_done()
    warm, run = [p["body"] for p in posts()]
    assert warm["stream"] is False and warm["max_tokens"] == 1
    assert run["stream"] is True and run["messages"] == warm["messages"]
    # the reply starts in code: the opening fence is the model's own first words
    assert run["messages"][-1] == {"role": "assistant", "content": "```python\n"}
    assert run["stop"] == ["```"]
    assert doc.text == "import math\ndef add(a, b):\n    return a + b\nprint(1)\n"
