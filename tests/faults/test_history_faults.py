"""The history file is locked, read-only or on a full disk: runs go on, the user is told once,
what was recorded stays readable."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from tests import prerequisites
from tests.e2e.harness import Editor, server_env, start_editor, stop_editor
from tests.faults.fault_util import (
    assert_actionable,
    assert_next_run_works,
    assert_serving,
    wait_message,
)

REPLY = "def add(a, b):\n    return a + b\n"
TEXT = "import math\n# gen: add two numbers\nprint(1)\n"
DONE = "import math\n" + REPLY + "print(1)\n"


def _plain(value: Any) -> Any:
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


async def history_entries(editor: Editor) -> list[dict[str, Any]]:
    result = await editor.client.protocol.send_request_async("typilot/history", {"limit": 100})
    return list(_plain(result)["entries"])


async def gen_run(editor: Editor, name: str) -> None:
    doc = editor.open(name, TEXT)
    ends = len(editor.progress_ends())
    await editor.run_line(doc, 1)
    await editor.wait_runs_done(ends + 1, timeout=60)
    assert doc.text == DONE


async def wait_entries(editor: Editor, count: int, timeout: float = 120) -> list[dict[str, Any]]:
    """A run is recorded after its progress ends (and a locked store makes it wait): poll."""
    deadline = time.monotonic() + timeout
    found = await history_entries(editor)
    while len(found) < count:
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.05)
        found = await history_entries(editor)
    return found


def history_warnings(editor: Editor) -> list[str]:
    return [
        m.message
        for m in editor.client.messages
        if m.type == types.MessageType.Warning and "history" in m.message
    ]


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (root only). 64 KiB is too small for even an empty store: SQLite's
    WAL and shared-memory files alone take more."""
    prerequisites.require_root("mount a small tmpfs")
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    prerequisites.require(
        f"a tmpfs mount (mount -t tmpfs: {made.stderr.strip()})" if made.returncode else None,
        "run the tests as root on a kernel that allows mounting tmpfs (CI does)",
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(filler: Path) -> None:
    """Write to `filler` until the disk is full."""
    with contextlib.suppress(OSError), open(filler, "wb") as out:
        while True:
            out.write(b"\0" * 1024)
            out.flush()
            os.fsync(out.fileno())


def cli_list(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "typilot_lsp", "history", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_a_locked_history_delays_only_the_record(replay_ollama, typilot_home) -> None:
    replay_ollama.add_rule(match="add two numbers", reply=REPLY, tokens_per_second=400)
    env = server_env(typilot_home, replay_ollama.url)
    editor = await start_editor(env)
    try:
        await gen_run(editor, "first.py")
        [entry] = await wait_entries(editor, 1)
        path = Path(env["XDG_DATA_HOME"]) / "typilot" / "history.sqlite3"
        # Another process (a sqlite3 shell, a backup tool) holds the write lock.
        holder = sqlite3.connect(str(path), timeout=1)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            for i in range(3):
                await gen_run(editor, f"locked{i}.py")  # runs end while the lock is held
            await assert_serving(editor)
        finally:
            holder.rollback()
            holder.close()
        entries = await wait_entries(editor, 4)  # the records waited, then landed
        assert entries[-1]["id"] == entry["id"]
        assert history_warnings(editor) == []
    finally:
        await stop_editor(editor)


async def test_a_read_only_history(replay_ollama, typilot_home, small_tmpfs: Path) -> None:
    replay_ollama.add_rule(match="add two numbers", reply=REPLY, tokens_per_second=400)
    path = small_tmpfs / "history.sqlite3"
    env = server_env(typilot_home, replay_ollama.url, {"TYPILOT_HISTORY_PATH": str(path)})
    editor = await start_editor(env)
    try:
        await gen_run(editor, "before.py")
        await wait_entries(editor, 1)
    finally:
        await stop_editor(editor)
    # The folder becomes read-only: a read-only mount (root ignores file modes; a mount in
    # use cannot be remounted, hence the restart).
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    files = {p.name: p.read_bytes() for p in small_tmpfs.iterdir()}
    editor = await start_editor(env)
    try:
        for i in range(3):
            await gen_run(editor, f"ro{i}.py")
        message = await wait_message(editor)
        assert_actionable(message, "read-only")
        assert str(path) in message
        await assert_serving(editor)
        await assert_next_run_works(editor, replay_ollama.add_rule)
        assert len(history_warnings(editor)) == 1, history_warnings(editor)
    finally:
        await stop_editor(editor)
    listed = cli_list(env)
    # A WAL store cannot even be read without writing its -shm file: the command line says
    # why and what to do; the file is untouched, and readable again once writable.
    assert listed.returncode == 1 and "is read-only" in listed.stderr and "chmod" in listed.stderr
    assert {p.name: p.read_bytes() for p in small_tmpfs.iterdir()} == files
    subprocess.run(["mount", "-o", "remount,rw", str(small_tmpfs)], check=True)
    listed = cli_list(env)
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 1


async def test_a_full_disk(replay_ollama, typilot_home, small_tmpfs: Path) -> None:
    big = "".join(f"    value_{i} = {i} * {i}  # a long generated line\n" for i in range(400))
    replay_ollama.add_rule(match="add two numbers", reply=REPLY, tokens_per_second=400)
    replay_ollama.add_rule(match="big one", reply="def big():\n" + big, tokens_per_second=5000)
    path = small_tmpfs / "history.sqlite3"
    env = server_env(typilot_home, replay_ollama.url, {"TYPILOT_HISTORY_PATH": str(path)})
    # The big reply is longer than the default reply bound (gen.maxTokens): no bound here.
    editor = await start_editor(env, {"gen": {"maxTokens": 0}})
    filler = small_tmpfs / "filler"
    try:
        await gen_run(editor, "before.py")
        await wait_entries(editor, 1)
        fill(filler)
        since = len(editor.client.messages)
        doc = editor.open("big.py", "x = 0\n# gen: big one\n")
        await editor.run_line(doc, 1)
        message = await wait_message(editor, since, timeout=120)
        assert_actionable(message, "disk", "full")
        assert str(path) in message
        assert doc.text == "x = 0\ndef big():\n" + big  # the run itself was not hurt
        await assert_serving(editor)
        await assert_next_run_works(editor, replay_ollama.add_rule)
        assert len(history_warnings(editor)) == 1, history_warnings(editor)
    finally:
        await stop_editor(editor)
    filler.unlink()
    listed = cli_list(env)  # the store is not damaged: what was recorded before is there
    assert listed.returncode == 0, listed.stderr
    assert len(listed.stdout.splitlines()) >= 1
