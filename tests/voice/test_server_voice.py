"""Voice end to end: the real server over stdio, its real sidecar, speech played into the mic.

The editor sends `typilot.voice.start {uri, position}`; speech goes into a PulseAudio null sink
whose monitor is the sidecar's default input; the transcript comes back as a prefixed line that
runs against the replay Ollama like any other run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from tests.e2e.harness import Editor, server_env, start_editor, stop_editor
from tests.voice.audio import PulseNullSink

ADD = "def add(a, b):\n    return a + b\n"


# Push to talk: a pause this long never ends a capture while a test waits for its result (it
# waits half as long), so only `typilot.voice.stop` can have ended it.
PUSH_TO_TALK_SILENCE = 120.0


@contextlib.asynccontextmanager
async def editor_with_voice(
    replay_ollama: Any, home: dict[str, str], pulse: PulseNullSink, voice: dict[str, Any]
) -> AsyncIterator[Editor]:
    env = server_env(home, replay_ollama.url, {**pulse.env, "HF_HUB_OFFLINE": "1"})
    editor = await start_editor(env, {"voice": voice})
    try:
        yield editor
    finally:
        await stop_editor(editor)


@pytest.fixture
async def voice_editor(
    replay_ollama: Any, typilot_home: dict[str, str], pulse: PulseNullSink, tiny_en: str
) -> AsyncIterator[Editor]:
    voice = {"model": tiny_en, "silenceSeconds": 0.8}
    async with editor_with_voice(replay_ollama, typilot_home, pulse, voice) as editor:
        yield editor


@pytest.fixture
async def push_to_talk_editor(
    replay_ollama: Any, typilot_home: dict[str, str], pulse: PulseNullSink, tiny_en: str
) -> AsyncIterator[Editor]:
    voice = {
        "model": tiny_en,
        "silenceSeconds": PUSH_TO_TALK_SILENCE,
        "maxSeconds": 2 * PUSH_TO_TALK_SILENCE,
    }
    async with editor_with_voice(replay_ollama, typilot_home, pulse, voice) as editor:
        yield editor


def server_pid(editor: Editor) -> int:
    process = editor.client._server
    assert process is not None
    return process.pid


def sidecar_pids(parent: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line
            )
            cmdline = (status.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(fields.get("PPid", "0").strip()) == parent and b"voice" in cmdline:
            found.append(int(status.parent.name))
    return found


def mapped_libraries(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


async def start_voice(editor: Editor, uri: str, line: int, character: int = 0) -> Any:
    return await editor.client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="typilot.voice.start",
            arguments=[{"uri": uri, "position": {"line": line, "character": character}}],
        )
    )


async def stop_voice(editor: Editor) -> Any:
    return await editor.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="typilot.voice.stop", arguments=[])
    )


def inserted_lines(editor: Editor) -> list[str]:
    """Text of every edit the server applied (the voice line is the first of its run)."""
    return [
        edit.new_text
        for params in editor.applied_edits
        for change in params.edit.document_changes or []
        for edit in getattr(change, "edits", [])
    ]


async def wait_inserted(editor: Editor, fragment: str, timeout: float = 90) -> str:
    try:
        await editor.wait_until(
            lambda: any(fragment in t for t in inserted_lines(editor)), timeout=timeout
        )
    except asyncio.TimeoutError:
        raise AssertionError(
            f"no edit with {fragment!r}: edits={inserted_lines(editor)!r} "
            f"messages={[m.message for m in editor.client.messages]!r}"
        ) from None
    return next(t for t in inserted_lines(editor) if fragment in t)


def voice_tokens(editor: Editor) -> list[Any]:
    return [
        token
        for token, reports in editor.client.progress_reports.items()
        if reports
        and isinstance(reports[0], types.WorkDoneProgressBegin)
        and reports[0].title == "Typilot voice"
    ]


def voice_progress_ended(editor: Editor) -> bool:
    """Every voice session has ended its progress (the server is listening no more)."""
    tokens = voice_tokens(editor)
    return bool(tokens) and all(
        isinstance(editor.client.progress_reports[t][-1], types.WorkDoneProgressEnd) for t in tokens
    )


def voice_progress_messages(editor: Editor) -> list[str]:
    messages = []
    for reports in editor.client.progress_reports.values():
        begin = reports[0] if reports else None
        if isinstance(begin, types.WorkDoneProgressBegin) and begin.title == "Typilot voice":
            messages.extend(getattr(r, "message", None) or "" for r in reports)
    return messages


async def test_spoken_gen_becomes_a_run_at_the_cursor(
    voice_editor: Editor,
    replay_ollama: Any,
    pulse: PulseNullSink,
    phrases: dict[str, Path],
    typilot_home: dict[str, str],
) -> None:
    # tiny.en hears "adds two numbers" or "adds to numbers": match what it always gets right.
    replay_ollama.add_rule(match="function that adds", reply=ADD, tokens_per_second=200)
    doc = voice_editor.open("calc.py", "import math\n\nprint(1)\n")
    started = await start_voice(voice_editor, doc.uri, 1)
    assert started["listening"] is True
    await asyncio.to_thread(pulse.play, phrases["generate a function that adds two numbers"])
    await voice_editor.wait_until(lambda: "return a + b" in doc.text, timeout=90)
    await voice_editor.wait_until(
        lambda: doc.text.endswith("print(1)\n") and "gen:" not in doc.text
    )
    assert doc.text == "import math\n" + ADD + "print(1)\n"
    # The first edit put the spoken command on the (empty) cursor line, as a Python comment.
    first = voice_editor.applied_edits[0].edit.document_changes[0]
    [line] = [e.new_text for e in first.edits]
    assert line.startswith("# gen: a function that adds "), line
    assert line.endswith(" numbers"), line
    # The prompt that reached Ollama carries the spoken instruction.
    request = replay_ollama.wait_for(
        "request", lambda e: e["path"] in ("/api/chat", "/api/generate"), timeout=10
    )
    assert "a function that adds" in json.dumps(request["body"])
    messages = voice_progress_messages(voice_editor)
    assert any(m.startswith("Listening") for m in messages), messages
    assert "Transcribing…" in messages
    assert any(m.startswith("Generating") for m in messages), messages

    # Recorded in history with source voice.
    await voice_editor.wait_runs_done(2)
    env = server_env(typilot_home, None)
    listed = subprocess.run(
        [sys.executable, "-m", "typilot_lsp", "history", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert listed.returncode == 0, listed.stderr
    entries = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
    assert any(e["source"] == "voice" and e["command"].startswith("gen") for e in entries), entries


async def test_the_server_never_loads_whisper_or_portaudio(
    voice_editor: Editor, replay_ollama: Any, pulse: PulseNullSink, phrases: dict[str, Path]
) -> None:
    doc = voice_editor.open("iso.py", "x = 1\n")
    await start_voice(voice_editor, doc.uri, 0)
    await asyncio.to_thread(pulse.play, phrases["summarize this function"])
    assert await wait_inserted(voice_editor, "sum:") == "# sum:\n"
    pid = server_pid(voice_editor)
    [sidecar] = sidecar_pids(pid)
    server_maps, sidecar_maps = mapped_libraries(pid), mapped_libraries(sidecar)
    # The sidecar did the work, with the heavy libraries; the server has none of them.
    assert "ctranslate2" in sidecar_maps
    assert "libportaudio" in sidecar_maps
    assert "ctranslate2" not in server_maps
    assert "libportaudio" not in server_maps
    assert "_sounddevice" not in server_maps
    # The sum: line went above the cursor's (non-empty) line: the code stays below it.
    await voice_editor.wait_runs_done(2)
    assert doc.text.endswith("x = 1\n")


async def test_spoken_cancel_cancels_the_runs_in_the_file(
    voice_editor: Editor, replay_ollama: Any, pulse: PulseNullSink, phrases: dict[str, Path]
) -> None:
    replay_ollama.add_rule(match="slow", reply="x = 1\n" * 400, tokens_per_second=5)
    doc = voice_editor.open("slow.py", "# gen: something slow\n\n")
    await voice_editor.run_line(doc, 0)
    replay_ollama.wait_for(
        "request", lambda e: e["path"] in ("/api/chat", "/api/generate"), timeout=10
    )
    await start_voice(voice_editor, doc.uri, 1)
    await asyncio.to_thread(pulse.play, phrases["cancel"])
    await asyncio.to_thread(replay_ollama.wait_for, "disconnect", None, 60)
    await voice_editor.wait_runs_done(1)
    assert "cancel" not in doc.text  # cancel is a command, not a line


async def test_push_to_talk_stop_and_a_killed_sidecar(
    push_to_talk_editor: Editor,
    replay_ollama: Any,
    pulse: PulseNullSink,
    phrases: dict[str, Path],
) -> None:
    editor = push_to_talk_editor
    # The fix prompt carries the target code, whatever words Whisper heard around "fix".
    replay_ollama.add_rule(match="range(n + 1)", reply="for i in range(n):\n    pass\n")
    doc = editor.open("loop.py", "for i in range(n + 1):\n    pass\n")
    started = await start_voice(editor, doc.uri, 0)
    # A second start while listening is refused with a message.
    with pytest.raises(Exception, match="already listening"):
        await start_voice(editor, doc.uri, 0)
    await asyncio.to_thread(pulse.play, phrases["fix the off by one error"])
    # The speech is over but the capture goes on (the pause is far below silenceSeconds):
    # the stop ends this very session, and what was heard until then becomes the command.
    assert await stop_voice(editor) == {"stopped": True, "sessionId": started["sessionId"]}
    fix_line = await wait_inserted(editor, "fix:", timeout=PUSH_TO_TALK_SILENCE / 2)
    assert fix_line.startswith("# fix: ")
    # A fix streams the new code first and removes the old code in a last edit: wait for that.
    fixed = "for i in range(n):\n    pass\n"
    await editor.wait_until(lambda: doc.text == fixed, timeout=30)
    # Nothing is listening any more: a second stop has nothing to stop.
    await editor.wait_until(lambda: voice_progress_ended(editor))
    assert await stop_voice(editor) == {"stopped": False}

    # Kill the sidecar: the next voice command works with a new one.
    await editor.wait_until(lambda: len(sidecar_pids(server_pid(editor))) == 1)
    [old] = sidecar_pids(server_pid(editor))
    subprocess.run(["kill", "-9", str(old)], check=True)
    await editor.wait_until(
        lambda: [p for p in sidecar_pids(server_pid(editor)) if p != old] != [], timeout=30
    )
    again = await start_voice(editor, doc.uri, 0)
    await asyncio.to_thread(pulse.play, phrases["summarize this function"])
    assert await stop_voice(editor) == {"stopped": True, "sessionId": again["sessionId"]}
    await wait_inserted(editor, "sum:", timeout=PUSH_TO_TALK_SILENCE / 2)


async def test_voice_errors_reach_the_user(
    replay_ollama: Any, typilot_home: dict[str, str], pulse: PulseNullSink, tmp_path: Path
) -> None:
    env = server_env(typilot_home, replay_ollama.url, {**pulse.env, "HF_HUB_OFFLINE": "1"})
    settings = {"voice": {"model": str(tmp_path / "no-model"), "inputDevice": "no such mic"}}
    editor = await start_editor(env, settings)
    try:
        doc = editor.open("e.py", "x = 1\n")
        with pytest.raises(Exception, match=r"typilot\.voice\.inputDevice"):
            await start_voice(editor, doc.uri, 0)
        shown = [m.message for m in editor.client.messages]
        assert any("no such mic" in m and "inputDevice" in m for m in shown), shown
        # The default device works, but the model does not exist: said when it is known.
        editor.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(
                settings={"typilot": {"voice": {"model": str(tmp_path / "no-model")}}}
            )
        )
        # No wait needed: the server handles messages in order and applies settings at once.
        await start_voice(editor, doc.uri, 0)
        await editor.wait_until(
            lambda: any("typilot.voice.model" in m.message for m in editor.client.messages),
            timeout=30,
        )
        assert doc.text == "x = 1\n"
        # The server kept serving.
        assert await editor.code_actions(doc, 0) == []
    finally:
        await stop_editor(editor)


async def test_cancelling_the_progress_drops_the_recording(
    voice_editor: Editor, pulse: PulseNullSink, phrases: dict[str, Path]
) -> None:
    doc = voice_editor.open("drop.py", "x = 1\n")
    await start_voice(voice_editor, doc.uri, 0)
    await voice_editor.wait_until(lambda: voice_tokens(voice_editor) != [])
    [token] = voice_tokens(voice_editor)
    voice_editor.client.window_work_done_progress_cancel(
        types.WorkDoneProgressCancelParams(token=token)
    )
    await voice_editor.wait_until(
        lambda: isinstance(
            voice_editor.client.progress_reports[token][-1], types.WorkDoneProgressEnd
        )
    )
    # The session ended without a result ("stopped", not "Generating"): nothing it heard, and
    # nothing said from now on, can become a command.
    assert voice_editor.client.progress_reports[token][-1].message == "stopped"
    await asyncio.to_thread(pulse.play, phrases["generate a function that adds two numbers"])
    # Listening again works at once. Stopping that session is a round trip through the same
    # sidecar after the speech: once its progress has ended, anything the speech could have
    # caused would have been inserted.
    started = await start_voice(voice_editor, doc.uri, 0)
    assert started["listening"] is True
    await stop_voice(voice_editor)
    await voice_editor.wait_until(
        lambda: len(voice_tokens(voice_editor)) == 2 and voice_progress_ended(voice_editor)
    )
    assert inserted_lines(voice_editor) == []
    assert doc.text == "x = 1\n"


async def test_silence_tells_the_user_nothing_was_heard(
    replay_ollama: Any, typilot_home: dict[str, str], pulse: PulseNullSink, tiny_en: str
) -> None:
    env = server_env(typilot_home, replay_ollama.url, {**pulse.env, "HF_HUB_OFFLINE": "1"})
    editor = await start_editor(env, {"voice": {"model": tiny_en, "maxSeconds": 2}})
    try:
        doc = editor.open("quiet.py", "x = 1\n")
        await start_voice(editor, doc.uri, 0)
        await editor.wait_until(
            lambda: any("nothing was heard" in m.message for m in editor.client.messages),
            timeout=30,
        )
        warning = next(m for m in editor.client.messages if "nothing was heard" in m.message)
        assert warning.type == types.MessageType.Warning
        assert "typilot.voice.inputDevice" in warning.message
        assert doc.text == "x = 1\n"
    finally:
        await stop_editor(editor)


async def test_start_needs_an_open_document(voice_editor: Editor) -> None:
    with pytest.raises(Exception, match="not open in the editor"):
        await start_voice(voice_editor, "file:///tmp/typilot-e2e/never-opened.py", 0)


async def test_shutdown_stops_the_sidecar(
    replay_ollama: Any, typilot_home: dict[str, str], pulse: PulseNullSink, tiny_en: str
) -> None:
    env = server_env(typilot_home, replay_ollama.url, {**pulse.env, "HF_HUB_OFFLINE": "1"})
    editor = await start_editor(env, {"voice": {"model": tiny_en}})
    try:
        doc = editor.open("bye.py", "x = 1\n")
        await start_voice(editor, doc.uri, 0)
        [sidecar] = sidecar_pids(server_pid(editor))
        await stop_voice(editor)
    finally:
        await stop_editor(editor)
    await editor.wait_until(lambda: not Path(f"/proc/{sidecar}").exists(), timeout=15)
