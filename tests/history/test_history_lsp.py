"""The history through the real server over stdio: runs are recorded, `typilot/history`
lists them, `typilot.history.purge` deletes them, and a broken store never stops a run.

Uses the end-to-end test editor (tests/e2e/harness.py) and the replay Ollama.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from lsprotocol import types

from tests.e2e.harness import Editor, editor_session, server_env, start_editor, stop_editor
from tests.history.history_testutil import file_bytes

REPLY = "def add(a, b):\n    return a + b  # ADD-REPLY-MARKER\n"


def _plain(value: Any) -> Any:
    """pygls hands results of custom requests back as namedtuples: make them JSON again."""
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _history_file(env: dict[str, str]) -> pathlib.Path:
    return pathlib.Path(env["XDG_DATA_HOME"]) / "typilot" / "history.sqlite3"


async def history_request(editor: Editor, params: dict[str, Any] | None = None) -> list[dict]:
    result = await editor.client.protocol.send_request_async("typilot/history", params or {})
    return list(_plain(result)["entries"])


async def wait_entries(editor: Editor, count: int) -> list[dict]:
    # A run is recorded just after its progress ends: poll, with a deadline that holds on a
    # loaded machine.
    entries: list[dict] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        entries = await history_request(editor)
        if len(entries) >= count:
            return entries
        await asyncio.sleep(0.02)
    raise AssertionError(
        f"expected {count} history entries, got {entries!r} {editor.client.messages!r}"
    )


async def gen_run(editor: Editor, name: str, runs_so_far: int) -> Any:
    doc = editor.open(name, "import math\n# gen: add two numbers\nprint(1)\n")
    await editor.run_line(doc, 1)
    await editor.wait_runs_done(runs_so_far + 1)
    return doc


@pytest.fixture
def server_env_for(replay_ollama: Any, typilot_home: dict[str, str]) -> dict[str, str]:
    replay_ollama.add_rule(match="add two numbers", reply=REPLY, tokens_per_second=400)
    return server_env(typilot_home, replay_ollama.url)


@pytest.fixture
async def editor(server_env_for: dict[str, str]) -> AsyncIterator[Editor]:
    async with editor_session(server_env_for) as session:
        yield session


async def test_runs_are_listed_and_purged(editor: Editor, server_env_for: dict[str, str]) -> None:
    doc = await gen_run(editor, "calc.py", 0)
    assert "ADD-REPLY-MARKER" in doc.text

    (entry,) = await wait_entries(editor, 1)
    assert set(entry) == {
        "id",
        "created_at",
        "source",
        "command",
        "instruction",
        "uri",
        "model",
        "outcome",
        "error",
        "response",
    }
    assert entry["source"] == "editor"
    assert entry["command"].rstrip(":") == "gen"
    assert entry["instruction"] == "add two numbers"
    assert entry["uri"] == doc.uri
    assert entry["model"] == "qwen2.5-coder:1.5b"
    assert entry["outcome"] == "done"
    assert entry["error"] is None
    assert "ADD-REPLY-MARKER" in entry["response"]

    path = _history_file(server_env_for)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    # The CLI reads the same store while the server has it open.
    listed = subprocess.run(
        [sys.executable, "-m", "typilot_lsp", "history", "list", "--json"],
        env=server_env_for,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (cli_entry,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert cli_entry["id"] == entry["id"]
    assert "add two numbers" in cli_entry["prompt"]  # the prompt is stored too

    assert await history_request(editor, {"limit": 0}) == []
    with pytest.raises(Exception, match="limit"):
        await history_request(editor, {"limit": "ten"})

    result = await editor.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="typilot.history.purge", arguments=[])
    )
    assert _plain(result) == {"purged": 1}
    assert await history_request(editor) == []
    for name, data in file_bytes(path).items():
        assert b"ADD-REPLY-MARKER" not in data, f"response text left in {name}"
        assert b"add two numbers" not in data, f"instruction left in {name}"


async def test_store_content_false_and_disabled(
    replay_ollama: Any, typilot_home: dict[str, str]
) -> None:
    replay_ollama.add_rule(match="add two numbers", reply=REPLY, tokens_per_second=400)
    env = server_env(typilot_home, replay_ollama.url)
    editor = await start_editor(env, settings={"history": {"storeContent": False}})
    try:
        await gen_run(editor, "a.py", 0)
        (entry,) = await wait_entries(editor, 1)
        assert entry["response"] == ""
        assert entry["instruction"] == "add two numbers"
        for name, data in file_bytes(_history_file(env)).items():
            assert b"ADD-REPLY-MARKER" not in data, name

        editor.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(
                settings={"typilot": {"history": {"enabled": False}}}
            )
        )
        await gen_run(editor, "b.py", 1)
        assert await history_request(editor) == []  # disabled: nothing listed...
    finally:
        await stop_editor(editor)
    listed = subprocess.run(
        [sys.executable, "-m", "typilot_lsp", "history", "export"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert len(listed.stdout.splitlines()) == 1  # ...and the second run was not recorded


async def test_a_corrupt_store_warns_once_and_runs_go_on(
    replay_ollama: Any, typilot_home: dict[str, str]
) -> None:
    replay_ollama.add_rule(match="add two numbers", reply=REPLY, tokens_per_second=400)
    env = server_env(typilot_home, replay_ollama.url)
    path = _history_file(env)
    path.parent.mkdir(parents=True)
    garbage = b"not a database, just some bytes\n" * 100
    path.write_bytes(garbage)
    editor = await start_editor(env)
    try:
        for i in range(3):
            doc = await gen_run(editor, f"c{i}.py", i)
            assert "ADD-REPLY-MARKER" in doc.text

        def warnings() -> list[str]:
            return [
                m.message
                for m in editor.client.messages
                if m.type == types.MessageType.Warning and "history" in m.message
            ]

        # A run is recorded after its progress ends: wait for the warning itself.
        await editor.wait_until(lambda: len(warnings()) >= 1, timeout=60)
        # The history's worker takes requests in order, so once this request has failed every
        # run before it was recorded (or not) and any (wrong) second warning was sent.
        with pytest.raises(Exception, match="damaged"):
            await history_request(editor)
        assert len(warnings()) == 1, warnings()
        assert str(path) in warnings()[0] and "damaged" in warnings()[0]
    finally:
        await stop_editor(editor)
    assert path.read_bytes() == garbage
    assert os.path.exists(path)


async def test_offering_a_run_opens_the_store_before_the_run(
    editor: Editor, server_env_for: dict[str, str]
) -> None:
    """Opening the store (SQLAlchemy, ~0.5 s of CPU) happens when the editor is first offered
    a run, while nothing streams, not at the end of the user's first run."""
    path = _history_file(server_env_for)
    plain = editor.open("plain.py", "x = 1\n")
    assert await editor.code_actions(plain, 0) == []
    assert not path.exists()  # nothing offered: an idle server never loads SQLAlchemy
    doc = editor.open("offered.py", "import math\n# gen: add two numbers\n")
    assert await editor.code_actions(doc, 1)
    deadline = time.monotonic() + 60
    while not path.exists():
        assert time.monotonic() < deadline, "the store did not open after a run was offered"
        await asyncio.sleep(0.02)
    assert await history_request(editor) == []  # open, and no run was recorded
