"""Every way to stop a run, and every way Ollama can fail: the buffer is never lost."""

from __future__ import annotations

import asyncio
import socket

from lsprotocol import types

from tests.e2e.harness import Editor, server_env, start_editor, stop_editor

# 150 lines: 900 tokens, within the default `gen.maxTokens` (1024)
SLOW = "".join(f"line_{i} = {i}\n" for i in range(150))
PREFIX_TEXT = "before = 1\n# gen: slow\nafter = 2\n"


async def start_slow_run(editor: Editor, replay_ollama, name: str = "slow.py"):
    replay_ollama.add_rule(match="slow", reply=SLOW, tokens_per_second=40)
    doc = editor.open(name, PREFIX_TEXT)
    run_id = await editor.run_line(doc, 1)
    # Wait until some text has streamed into the buffer.
    await editor.wait_until(lambda: "line_1 = 1" in doc.text)
    return doc, run_id


async def assert_hung_up(replay_ollama) -> dict:
    event = await replay_ollama.wait_for_async("disconnect", timeout=10)
    assert event["tokens_sent"] < len(SLOW.split())
    return event


def assert_partial_kept(doc) -> None:
    assert doc.text.startswith("before = 1\nline_0 = 0\n")
    assert doc.text.endswith("\nafter = 2\n")
    assert "gen: slow" not in doc.text
    assert "line_149" not in doc.text


async def test_cancel_command_stops_stream_and_keeps_partial(editor: Editor, replay_ollama) -> None:
    doc, _ = await start_slow_run(editor, replay_ollama)
    result = await editor.execute(
        types.Command(title="", command="typilot.cancel", arguments=[{"uri": doc.uri}])
    )
    assert result == {"cancelled": 1}
    await assert_hung_up(replay_ollama)
    await editor.wait_runs_done()
    assert_partial_kept(doc)
    assert editor.progress_ends()[-1].message == "cancelled"


async def test_cancel_all_without_uri(editor: Editor, replay_ollama) -> None:
    doc, _ = await start_slow_run(editor, replay_ollama)
    await editor.execute(types.Command(title="", command="typilot.cancel", arguments=[]))
    await assert_hung_up(replay_ollama)
    await editor.wait_runs_done()
    assert_partial_kept(doc)


async def test_cancel_from_progress_ui(editor: Editor, replay_ollama) -> None:
    doc, _ = await start_slow_run(editor, replay_ollama)
    token = next(iter(editor.client.progress_reports))
    editor.client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    await assert_hung_up(replay_ollama)
    await editor.wait_runs_done()
    assert_partial_kept(doc)


async def test_closing_the_document_cancels(editor: Editor, replay_ollama) -> None:
    doc, _ = await start_slow_run(editor, replay_ollama)
    editor.close(doc)
    await assert_hung_up(replay_ollama)
    await editor.wait_runs_done()


async def test_new_run_on_same_line_cancels_the_old_one(editor: Editor, replay_ollama) -> None:
    replay_ollama.add_rule(match="slow", reply=SLOW, tokens_per_second=40, first_token_delay=1.5)
    doc = editor.open("again.py", PREFIX_TEXT)
    await editor.run_line(doc, 1)
    await replay_ollama.wait_for_async(
        "request", lambda e: e["path"] in ("/api/chat", "/api/generate")
    )
    replay_ollama.add_rule(match="slow", reply="quick = True\n", tokens_per_second=200)
    await editor.run_line(doc, 1)  # before the first token: the prefix line is still there
    await replay_ollama.wait_for_async("disconnect", timeout=10)
    await editor.wait_runs_done(2)
    assert doc.text == "before = 1\nquick = True\nafter = 2\n"


async def test_typing_inside_the_region_stops_the_run(editor: Editor, replay_ollama) -> None:
    doc, _ = await start_slow_run(editor, replay_ollama)
    inside = doc.text.index("line_0 = 0") + len("line_")
    editor.type_at(doc, inside, "X")
    await assert_hung_up(replay_ollama)
    await editor.wait_runs_done()
    assert "line_X0 = 0" in doc.text
    assert doc.text.startswith("before = 1\n") and doc.text.endswith("after = 2\n")
    assert any("was edited" in m.message for m in editor.client.messages)


async def test_typing_above_and_below_during_a_run(editor: Editor, replay_ollama) -> None:
    replay_ollama.add_rule(match="slow", reply=SLOW, tokens_per_second=150)
    doc = editor.open("typing.py", PREFIX_TEXT)
    await editor.run_line(doc, 1)
    await editor.wait_until(lambda: "line_1 = 1" in doc.text)
    for i in range(5):
        editor.type_at(doc, 0, f"# above {i}\n")
        editor.type_at(doc, len(doc.text), f"# below {i}\n")
        await asyncio.sleep(0.05)
    await editor.wait_runs_done()
    above = "".join(f"# above {i}\n" for i in reversed(range(5)))
    below = "".join(f"# below {i}\n" for i in range(5))
    assert doc.text == above + "before = 1\n" + SLOW + "after = 2\n" + below


async def test_rejected_edits_are_recomputed_and_retried(editor: Editor, replay_ollama) -> None:
    replay_ollama.add_rule(match="slow", reply=SLOW, tokens_per_second=400)
    doc = editor.open("race.py", PREFIX_TEXT)
    typed = []

    def race(d, change) -> None:
        # Every third edit, the user types at the top just before the editor applies it.
        if len(editor.applied_edits) % 3 == 1 and len(typed) < 10:
            typed.append(1)
            editor.type_at(d, 0, "#\n")

    editor.before_apply = race
    await editor.run_line(doc, 1)
    await editor.wait_runs_done()
    assert editor.rejected_edits >= 3
    assert doc.text == "#\n" * len(typed) + "before = 1\n" + SLOW + "after = 2\n"


async def test_slow_echo_from_editor(editor: Editor, replay_ollama) -> None:
    editor.echo_delay = 0.08  # an editor that reports its changes late
    replay_ollama.add_rule(match="slow", reply=SLOW, tokens_per_second=500)
    doc = editor.open("late.py", PREFIX_TEXT)
    await editor.run_line(doc, 1)
    await editor.wait_runs_done()
    assert doc.text == "before = 1\n" + SLOW + "after = 2\n"


# -- Ollama failures -------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def error_message(editor: Editor) -> str:
    await editor.wait_runs_done()
    errors = [m.message for m in editor.client.messages if m.type == types.MessageType.Error]
    assert errors, editor.client.messages
    return errors[-1]


async def test_ollama_not_running(typilot_home) -> None:
    editor = await start_editor(server_env(typilot_home, f"http://127.0.0.1:{closed_port()}"))
    try:
        doc = editor.open("down.py", PREFIX_TEXT)
        await editor.run_line(doc, 1)
        message = await error_message(editor)
        assert "ollama serve" in message
        assert doc.text == PREFIX_TEXT
        # The server keeps serving.
        assert await editor.code_actions(doc, 1)
    finally:
        await stop_editor(editor)


async def test_model_not_installed(replay_ollama, typilot_home) -> None:
    editor = await start_editor(
        server_env(typilot_home, replay_ollama.url), {"ollama": {"model": "codellama:7b"}}
    )
    try:
        doc = editor.open("missing.py", PREFIX_TEXT)
        await editor.run_line(doc, 1)
        message = await error_message(editor)
        assert "ollama pull codellama:7b" in message
        assert doc.text == PREFIX_TEXT
    finally:
        await stop_editor(editor)


async def test_error_before_stream(editor: Editor, replay_ollama) -> None:
    replay_ollama.add_rule(match="slow", status=503)
    doc = editor.open("busy.py", PREFIX_TEXT)
    await editor.run_line(doc, 1)
    message = await error_message(editor)
    assert "busy" in message.lower()
    assert doc.text == PREFIX_TEXT


async def test_mid_stream_error_keeps_what_streamed(editor: Editor, replay_ollama) -> None:
    replay_ollama.add_rule(
        match="slow",
        reply=SLOW,
        tokens_per_second=200,
        error_after_tokens=40,
        error="model runner has unexpectedly stopped, this may be due to resource limitations",
    )
    doc = editor.open("mid.py", PREFIX_TEXT)
    await editor.run_line(doc, 1)
    message = await error_message(editor)
    assert "unexpectedly stopped" in message
    assert_partial_kept(doc)


async def test_stall_is_an_error_not_a_hang(replay_ollama, typilot_home) -> None:
    editor = await start_editor(
        server_env(typilot_home, replay_ollama.url), {"ollama": {"idleTimeout": 0.5}}
    )
    try:
        replay_ollama.add_rule(
            match="slow", reply=SLOW, tokens_per_second=100, stall_after_tokens=30
        )
        doc = editor.open("stall.py", PREFIX_TEXT)
        await editor.run_line(doc, 1)
        message = await error_message(editor)
        # The message names the stall, the setting's value and the setting that raises it.
        assert "stopped sending text for 0.5 s" in message, message
        assert "typilot.ollama.idleTimeout" in message, message
        await replay_ollama.wait_for_async("disconnect", timeout=10)
        assert_partial_kept(doc)
    finally:
        await stop_editor(editor)


async def test_invalid_settings_keep_defaults_and_say_so(replay_ollama, typilot_home) -> None:
    editor = await start_editor(
        server_env(typilot_home, replay_ollama.url),
        {"ollama": {"idleTimeout": "soon"}, "streaming": {"editIntervalMs": -5}},
    )
    try:
        await editor.wait_until(lambda: bool(editor.client.messages))
        text = editor.client.messages[0].message
        assert "idleTimeout" in text and "editIntervalMs" in text
        replay_ollama.add_rule(match="add", reply="x = 1\n")
        doc = editor.open("ok.py", "# gen: add\n")
        await editor.run_line(doc, 0)
        await editor.wait_runs_done()
        assert doc.text == "x = 1\n"
    finally:
        await stop_editor(editor)
