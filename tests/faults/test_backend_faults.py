"""The model server misbehaves: killed, busy, stalled, garbled, empty. Nothing is lost."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.harness import Editor, editor_session, server_env, start_editor, stop_editor
from tests.faults.fault_util import (
    FaultyOllama,
    assert_actionable,
    assert_next_run_works,
    assert_serving,
    chat_line,
    run_to_fault,
    wait_message,
)
from tests.replay.ollama import BUSY_ERROR
from tests.replay.ollama.process import ReplayOllamaProcess

SLOW = "".join(f"line_{i} = {i}\n" for i in range(400))
BEFORE, AFTER = "before = 1\n", "after = 2\n"
PREFIX_TEXT = BEFORE + "# gen: slow please\n" + AFTER


def assert_partial(text: str) -> None:
    """What streamed is kept, in order, between the user's lines (which are untouched).

    A stream cut inside a line leaves that part line, followed by the prefix line's own line
    break: `written + "\n"`."""
    assert text.startswith(BEFORE) and text.endswith(AFTER), text[:200]
    middle = text[len(BEFORE) : len(text) - len(AFTER)]
    assert "gen: slow" not in middle
    written = middle if SLOW.startswith(middle) else middle[:-1]
    assert middle.endswith("\n") and written and SLOW.startswith(written), middle[-200:]
    assert middle != SLOW  # it did stop early


async def test_model_server_killed_mid_run_and_restarted(typilot_home: dict[str, str]) -> None:
    replay = ReplayOllamaProcess()
    replay.start()
    editor = await start_editor(server_env(typilot_home, replay.url))
    try:
        replay.add_rule(match="slow please", reply=SLOW, tokens_per_second=60)
        doc = editor.open("killed.py", PREFIX_TEXT)
        await editor.run_line(doc, 1)
        await editor.wait_until(lambda: "line_3 = 3" in doc.text, timeout=60)
        replay.kill()
        message = await wait_message(editor)
        assert_actionable(message, "connection", "closed", "broke", "not running")
        await editor.wait_runs_done(timeout=60)
        assert_partial(doc.text)
        await assert_serving(editor)
        replay.start()  # the same port: the editor's settings need no change
        await assert_next_run_works(editor, replay.add_rule)
        assert doc.text.startswith(BEFORE) and doc.text.endswith(AFTER)
    finally:
        await stop_editor(editor)
        replay.kill()


async def test_queue_full_503(editor: Editor, replay_ollama) -> None:
    replay_ollama.add_rule(match="slow please", status=503, error=BUSY_ERROR, once=True)
    doc = editor.open("busy.py", PREFIX_TEXT)
    await run_to_fault(editor, doc, "busy")
    assert doc.text == PREFIX_TEXT
    await assert_serving(editor)
    await assert_next_run_works(editor, replay_ollama.add_rule)
    # The same line, asked again, runs (the 503 was a one-off).
    replay_ollama.add_rule(match="slow please", reply="fine = 1\n")
    await editor.run_line(doc, 1)
    await editor.wait_runs_done(3)
    assert doc.text == BEFORE + "fine = 1\n" + AFTER


async def test_a_stall_ends_the_run_with_what_streamed(replay_ollama, typilot_home) -> None:
    env = server_env(typilot_home, replay_ollama.url)
    async with editor_session(env, {"ollama": {"idleTimeout": 1}}) as editor:
        replay_ollama.add_rule(
            match="slow please", reply=SLOW, tokens_per_second=200, stall_after_tokens=30
        )
        doc = editor.open("stall.py", PREFIX_TEXT)
        await editor.run_line(doc, 1)
        message = await wait_message(editor)
        assert_actionable(message, "idleTimeout", "stopped sending", "1 s")
        await replay_ollama.wait_for_async("disconnect", timeout=30)
        await editor.wait_runs_done()
        assert_partial(doc.text)
        await assert_serving(editor)
        await assert_next_run_works(editor, replay_ollama.add_rule)


@pytest.fixture
def faulty(replay_ollama) -> Iterator[FaultyOllama]:
    server = FaultyOllama(replay_ollama.url)
    server.start()
    try:
        yield server
    finally:
        server.stop()


GOOD = [chat_line("alpha = 1\n"), chat_line("beta = 2\n")]


@pytest.mark.parametrize(
    ("case", "tail", "words"),
    [
        ("garbage line", [b"{this is not json\n"], ("not JSON",)),
        ("not an object", [b"[1, 2, 3]\n"], ("not an object",)),
        (
            "cut mid-line",
            [b'{"model":"qwen2.5-coder:1.5b","message":{"content":"gam'],
            ("JSON", "closed"),
        ),
        ("cut before done", [], ("closed before the answer was complete",)),
        ("binary junk", [b"\x00\xff\xfe garbage \x80\n"], ("not JSON",)),
    ],
)
async def test_malformed_and_truncated_ndjson(
    replay_ollama, typilot_home, faulty: FaultyOllama, case: str, tail: list[bytes], words
) -> None:
    faulty.script = [*GOOD, 0.3, *tail]
    editor = await start_editor(server_env(typilot_home, faulty.url))
    try:
        doc = editor.open("garbled.py", PREFIX_TEXT)
        await run_to_fault(editor, doc, *words)
        assert doc.text == BEFORE + "alpha = 1\nbeta = 2\n" + AFTER, case
        await assert_serving(editor)
        faulty.script = [chat_line("ok = True\n"), chat_line("", done=True)]
        await assert_next_run_works(editor, lambda **_: None)
    finally:
        await stop_editor(editor)


@pytest.mark.parametrize(
    "reply", ["   \n\n\t\n", "```\n```\n", "```python\n\n```\n", "<think>hmm</think>\n"]
)
async def test_a_reply_with_no_code_leaves_the_line(editor: Editor, replay_ollama, reply) -> None:
    replay_ollama.add_rule(match="slow please", reply=reply, once=True)
    doc = editor.open("empty.py", PREFIX_TEXT)
    await run_to_fault(editor, doc, "returned no code")
    assert doc.text == PREFIX_TEXT
    await assert_serving(editor)
    await assert_next_run_works(editor, replay_ollama.add_rule)
