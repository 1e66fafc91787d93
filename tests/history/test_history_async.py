"""AsyncHistory: off the event loop, honours the settings, and a broken store never fails a run."""

from __future__ import annotations

import asyncio
import json
import pathlib
import sqlite3
import threading
import time

import attrs
import pytest

from tests.history.history_testutil import drop_root_prefix, file_bytes, make_record, run_python
from typilot_lsp.config import HistoryConfig
from typilot_lsp.history import AsyncHistory, HistoryStore, HistoryUnavailable
from typilot_lsp.history import store as store_module

DAY = 86400.0


class Warnings:
    """A warn callback that remembers what it was told and on which thread."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.threads: set[int] = set()

    def __call__(self, message: str) -> None:
        self.messages.append(message)
        self.threads.add(threading.get_ident())


async def test_record_and_list(db_path: pathlib.Path) -> None:
    warnings = Warnings()
    history = AsyncHistory(HistoryConfig(path=str(db_path)), warnings)
    try:
        for i in range(3):
            await history.record(make_record(instruction=f"task {i}"))
        entries = await history.list_recent(2)
        assert [e["instruction"] for e in entries] == ["task 2", "task 1"]
        assert entries[0]["prompt"] == make_record().prompt
        assert warnings.messages == []
    finally:
        await history.aclose()
    await history.record(make_record())  # after close: quietly nothing
    with HistoryStore(db_path) as store:
        assert store.count() == 3


async def test_a_slow_store_does_not_block_the_event_loop(db_path: pathlib.Path) -> None:
    HistoryStore(db_path).close()
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock: the insert has to wait
    history = AsyncHistory(HistoryConfig(path=str(db_path)), Warnings())
    try:
        task = asyncio.create_task(history.record(make_record(instruction="waited")))
        # The loop keeps running other work while the write waits for the lock: count the
        # turns it takes while the write is still pending. A write on the loop's own thread
        # would block it until SQLite's busy timeout and fail, ending the task first.
        ticks_while_waiting = 0
        for _ in range(50):
            await asyncio.sleep(0.01)
            ticks_while_waiting += not task.done()
        assert ticks_while_waiting == 50
        blocker.execute("COMMIT")
        await asyncio.wait_for(task, timeout=60)
        assert [e["instruction"] for e in await history.list_recent()] == ["waited"]
    finally:
        blocker.close()
        await history.aclose()


async def test_disabled_records_nothing_and_creates_no_file(db_path: pathlib.Path) -> None:
    history = AsyncHistory(HistoryConfig(enabled=False, path=str(db_path)), Warnings())
    await history.record(make_record())
    assert await history.list_recent() == []
    assert await history.apply_retention() == 0
    await history.aclose()
    assert not db_path.exists()


async def test_store_content_false_keeps_text_out(db_path: pathlib.Path) -> None:
    history = AsyncHistory(HistoryConfig(path=str(db_path), store_content=False), Warnings())
    try:
        await history.record(make_record(prompt="PROMPT-TEXT-X", response="RESPONSE-TEXT-X"))
        (entry,) = await history.list_recent()
        assert (entry["prompt"], entry["response"]) == ("", "")
        assert entry["instruction"] == "parse an ISO date"
        assert not any(b"TEXT-X" in data for data in file_bytes(db_path).values())
    finally:
        await history.aclose()


async def test_purge_all_works_even_when_recording_is_off(db_path: pathlib.Path) -> None:
    with HistoryStore(db_path) as store:
        for _ in range(4):
            store.record(make_record(response="OLD-RESPONSE-TEXT"))
    history = AsyncHistory(HistoryConfig(enabled=False, path=str(db_path)), Warnings())
    try:
        assert await history.purge_all() == 4
    finally:
        await history.aclose()
    assert not any(b"OLD-RESPONSE-TEXT" in data for data in file_bytes(db_path).values())


async def test_corrupt_file_warns_once_and_runs_go_on(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "bad" / "history.sqlite3"
    bad.parent.mkdir()
    bad.write_bytes(b"this is not a database at all\n" * 200)
    warnings = Warnings()
    history = AsyncHistory(HistoryConfig(path=str(bad)), warnings)
    try:
        for _ in range(5):
            await history.record(make_record())  # never raises
        assert len(warnings.messages) == 1
        message = warnings.messages[0]
        assert str(bad) in message
        assert "damaged" in message and "move it aside or delete it" in message
        assert "typilot.history.enabled" in message
        assert warnings.threads == {threading.get_ident()}  # called on the event loop's thread
        with pytest.raises(HistoryUnavailable, match="damaged"):
            await history.list_recent()
        history.update_settings(HistoryConfig(path=str(bad)))  # unchanged: still quiet
        await history.record(make_record())
        assert len(warnings.messages) == 1

        good = tmp_path / "good" / "history.sqlite3"
        history.update_settings(HistoryConfig(path=str(good)))
        await history.record(make_record(instruction="after the fix"))
        assert [e["instruction"] for e in await history.list_recent()] == ["after the fix"]
        assert len(warnings.messages) == 1
    finally:
        await history.aclose()
    assert bad.read_bytes() == b"this is not a database at all\n" * 200  # left for the user


async def test_a_file_damaged_while_in_use_warns_once(db_path: pathlib.Path) -> None:
    with HistoryStore(db_path) as store:
        for i in range(50):
            store.record(make_record(instruction=f"task {i}", response="x" * 2000))
    page_size = 4096
    data = bytearray(db_path.read_bytes())
    for offset in range(page_size, len(data), page_size):  # garble every page but the first
        data[offset : offset + page_size] = b"\xa5" * page_size
    db_path.write_bytes(bytes(data))

    warnings = Warnings()
    history = AsyncHistory(HistoryConfig(path=str(db_path)), warnings)
    try:
        for _ in range(3):
            await history.record(make_record())
        assert len(warnings.messages) == 1
        assert "damaged" in warnings.messages[0] and str(db_path) in warnings.messages[0]
    finally:
        await history.aclose()


async def test_locked_database_warns_once(
    db_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    HistoryStore(db_path).close()
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_S", 0.2)
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    warnings = Warnings()
    history = AsyncHistory(HistoryConfig(path=str(db_path)), warnings)
    try:
        await history.record(make_record())
        await history.record(make_record())
        assert len(warnings.messages) == 1
        assert "locked by another process" in warnings.messages[0]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        await history.aclose()


READ_ONLY_CHECK = r"""
import asyncio, json, sys
from typilot_lsp.config import HistoryConfig
from typilot_lsp.history import AsyncHistory
from typilot_lsp.history.store import RunRecord

async def main():
    warnings = []
    history = AsyncHistory(HistoryConfig(path=sys.argv[1]), warnings.append)
    rec = RunRecord(source="editor", command="gen", instruction="new", language_id="python",
                    uri="file:///x.py", model="m", host="h", prompt="p", response="r",
                    outcome="done")
    raised = []
    for _ in range(3):
        try:
            await history.record(rec)
        except BaseException as exc:
            raised.append(repr(exc))
    await history.aclose()
    print(json.dumps({"warnings": warnings, "raised": raised}))

asyncio.run(main())
"""


async def test_a_folder_that_cannot_be_created_warns_once(tmp_path: pathlib.Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    path = locked / "typilot" / "history.sqlite3"
    try:
        result = run_python(READ_ONLY_CHECK, str(path), prefix=drop_root_prefix())
    finally:
        locked.chmod(0o700)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["raised"] == []
    assert len(report["warnings"]) == 1, report
    message = report["warnings"][0]
    assert f"cannot create the Typilot history folder {locked / 'typilot'}" in message
    assert "mkdir -p -m 700" in message
    assert not (locked / "typilot").exists()


@pytest.mark.parametrize("what", ["file", "folder"])
async def test_read_only_database_warns_once_and_runs_go_on(
    tmp_path: pathlib.Path, what: str
) -> None:
    path = tmp_path / "ro" / "history.sqlite3"
    with HistoryStore(path) as store:
        store.record(make_record(instruction="kept"))
    before = path.read_bytes()
    if what == "file":
        path.chmod(0o400)
    else:
        path.parent.chmod(0o500)
    try:
        # As root, drop the capabilities that bypass file permissions, so that the check
        # sees the file as any user would.
        result = run_python(READ_ONLY_CHECK, str(path), prefix=drop_root_prefix())
    finally:
        path.parent.chmod(0o700)
        path.chmod(0o600)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["raised"] == []
    assert len(report["warnings"]) == 1, report
    message = report["warnings"][0]
    assert "read-only" in message and str(path) in message and "chmod" in message
    assert path.read_bytes() == before
    with HistoryStore(path) as store:
        assert [e["instruction"] for e in store.list_recent()] == ["kept"]


async def test_retention_runs_while_the_server_runs(db_path: pathlib.Path) -> None:
    now = [1_800_000_000.0]
    history = AsyncHistory(
        HistoryConfig(path=str(db_path), retention_days=30), Warnings(), clock=lambda: now[0]
    )
    task = asyncio.create_task(history.run_retention(interval_s=0.01))
    try:
        await history.record(make_record(instruction="older", created_at=now[0] - 20 * DAY))
        await history.record(make_record(instruction="newer", created_at=now[0] - 1 * DAY))
        assert len(await history.list_recent()) == 2
        now[0] += 15 * DAY  # "older" is now 35 days old
        deadline = time.monotonic() + 120  # the retention task runs every 10 ms
        while time.monotonic() < deadline:
            if [e["instruction"] for e in await history.list_recent()] == ["newer"]:
                break
            await asyncio.sleep(0.01)
        assert [e["instruction"] for e in await history.list_recent()] == ["newer"]
    finally:
        await history.aclose()
    with pytest.raises(asyncio.CancelledError):
        await task  # closing the history ends its retention loop


async def test_settings_change_applies_new_retention(db_path: pathlib.Path) -> None:
    now = 1_800_000_000.0
    settings = HistoryConfig(path=str(db_path), retention_days=30)
    history = AsyncHistory(settings, Warnings(), clock=lambda: now)
    try:
        await history.record(make_record(instruction="week old", created_at=now - 7 * DAY))
        # Kept under the 30 days it was recorded with: only the new retention removes it.
        assert [e["instruction"] for e in await history.list_recent()] == ["week old"]
        history.update_settings(attrs.evolve(settings, retention_days=3))
        assert await history.list_recent() == []  # reopened with the new retention
    finally:
        await history.aclose()
