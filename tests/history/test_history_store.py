"""HistoryStore on a real SQLite file: round trip, retention, purge, permissions, schema."""

from __future__ import annotations

import os
import pathlib
import sqlite3
import stat
import threading

import attrs
import pytest

from tests.history.history_testutil import file_bytes, make_record
from typilot_lsp.history import HistoryStore, HistoryUnavailable, RunRecord, default_history_path
from typilot_lsp.history.store import SCHEMA_VERSION

DAY = 86400.0


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def mode(path: pathlib.Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_round_trip_keeps_every_field(db_path: pathlib.Path) -> None:
    rec = make_record(
        source="voice",
        command="fix",
        outcome="error",
        error="model qwen3:1.7b is not installed: run `ollama pull qwen3:1.7b`",
        first_token_ms=None,
        created_at=1_700_000_000.5,
        instruction="héllo – ünïcode ✓",
        prompt_tokens=412,
    )
    with HistoryStore(db_path, retention_days=None) as store:
        entry_id = store.record(rec)
        entry = store.get(entry_id)
    assert entry is not None
    assert entry.pop("id") == entry_id
    assert entry == {
        "created_at": 1_700_000_000.5,
        "source": "voice",
        "command": "fix",
        "instruction": "héllo – ünïcode ✓",
        "language_id": "python",
        "uri": "file:///work/project/dates.py",
        "model": "qwen2.5-coder:1.5b",
        "host": "http://127.0.0.1:11434",
        "prompt": rec.prompt,
        "response": rec.response,
        "outcome": "error",
        "error": rec.error,
        "first_token_ms": None,
        "total_ms": 900.0,
        "token_count": 17,
        "prompt_tokens": 412,
    }


def test_list_recent_is_newest_first_and_limited(db_path: pathlib.Path) -> None:
    with HistoryStore(db_path) as store:
        ids = [store.record(make_record(instruction=f"task {i}")) for i in range(7)]
        recent = store.list_recent(3)
        assert [e["id"] for e in recent] == ids[::-1][:3]
        assert [e["instruction"] for e in recent] == ["task 6", "task 5", "task 4"]
        assert store.list_recent(0) == []
        assert len(store.list_recent()) == 7
        assert store.get(10_000) is None


def test_export_streams_everything_oldest_first(db_path: pathlib.Path) -> None:
    with HistoryStore(db_path) as store:
        for i in range(1203):  # more than two export batches
            store.record(make_record(instruction=f"task {i}"))
        exported = list(store.export())
    assert len(exported) == 1203
    assert [e["instruction"] for e in exported[:2]] == ["task 0", "task 1"]
    assert exported[-1]["instruction"] == "task 1202"
    assert [e["id"] for e in exported] == sorted(e["id"] for e in exported)


def test_store_content_false_blanks_prompt_and_response(db_path: pathlib.Path) -> None:
    with HistoryStore(db_path, store_content=False) as store:
        entry = store.get(store.record(make_record(prompt="SECRET-P", response="SECRET-R")))
        assert entry is not None
        assert (entry["prompt"], entry["response"]) == ("", "")
        assert entry["instruction"] == "parse an ISO date"
        assert not any(b"SECRET-" in data for data in file_bytes(db_path).values())


def test_retention_with_a_controllable_clock(db_path: pathlib.Path) -> None:
    clock = Clock()
    with HistoryStore(db_path, retention_days=30, clock=clock) as store:
        ages = {"fresh": 0, "29 days": 29, "31 days": 31, "90 days": 90}
        for name, days in ages.items():
            store.record(make_record(instruction=name, created_at=clock.now - days * DAY))
        assert store.apply_retention() == 2
        assert sorted(e["instruction"] for e in store.list_recent()) == ["29 days", "fresh"]

        clock.now += 1.5 * DAY  # "29 days" is now 30.5 days old
        assert store.apply_retention() == 1
        assert [e["instruction"] for e in store.list_recent()] == ["fresh"]

        assert store.purge_older_than(0) == 1  # everything created before "now"
        assert store.count() == 0


def test_retention_is_applied_when_the_store_opens(db_path: pathlib.Path) -> None:
    clock = Clock()
    with HistoryStore(db_path, retention_days=None, clock=clock) as store:
        store.record(make_record(instruction="old", created_at=clock.now - 10 * DAY))
        store.record(make_record(instruction="new", created_at=clock.now - 1 * DAY))
    with HistoryStore(db_path, retention_days=7, clock=clock) as store:
        assert [e["instruction"] for e in store.list_recent()] == ["new"]
    clock.now += 7 * DAY
    with HistoryStore(db_path, retention_days=7, clock=clock) as store:
        assert store.list_recent() == []


def test_readers_never_show_what_retention_would_delete(db_path: pathlib.Path) -> None:
    # Between two retention passes (an hour in a server), an entry that ages past the limit
    # is already out of every listing, before anything deletes it.
    clock = Clock()
    with HistoryStore(db_path, retention_days=30, clock=clock) as store:
        old = store.record(make_record(instruction="old", created_at=clock.now - 29.5 * DAY))
        store.record(make_record(instruction="new", created_at=clock.now))
        assert store.count() == 2
        clock.now += 1 * DAY  # "old" is 30.5 days old; no retention pass has run
        assert [e["instruction"] for e in store.list_recent()] == ["new"]
        assert [e["instruction"] for e in store.export()] == ["new"]
        assert store.get(old) is None
        assert store.count() == 1
        assert store.apply_retention() == 1  # the row was still there, only hidden
    with HistoryStore(db_path, retention_days=None, clock=clock) as store:
        assert [e["instruction"] for e in store.list_recent()] == ["new"]


def _secret_record(i: int) -> RunRecord:
    # Long, distinct texts so that some spill onto overflow pages.
    return make_record(
        instruction=f"INSTR-SECRET-{i} " + "i" * 50,
        uri=f"file:///URI-SECRET-{i}.py",
        prompt=f"PROMPT-SECRET-{i} " + "p" * 3000,
        response=f"RESPONSE-SECRET-{i} " + "r" * 6000,
        error=f"ERROR-SECRET-{i}",
    )


def test_purge_all_leaves_no_content_in_any_file(db_path: pathlib.Path) -> None:
    store = HistoryStore(db_path)
    other = HistoryStore(db_path)  # a second connection keeps -wal and -shm in place
    try:
        for i in range(60):
            (store if i % 2 else other).record(_secret_record(i))
        before = file_bytes(db_path)
        assert {"history.sqlite3", "history.sqlite3-wal", "history.sqlite3-shm"} <= set(before)
        assert any(b"RESPONSE-SECRET-7" in data for data in before.values())

        assert store.purge_all() == 60
        after = file_bytes(db_path)
        for name, data in after.items():
            assert b"SECRET" not in data, f"content left in {name}"
            assert b"rrrrrrrrrrrrrrrr" not in data, f"response text left in {name}"
            assert b"pppppppppppppppp" not in data, f"prompt text left in {name}"
        assert after.get("history.sqlite3-wal", b"") == b""
        # The store keeps working after a purge, for both connections.
        assert other.record(make_record()) > 0
        assert store.count() == 1
    finally:
        store.close()
        other.close()


def test_purge_older_than_leaves_no_deleted_content(db_path: pathlib.Path) -> None:
    clock = Clock()
    with HistoryStore(db_path, retention_days=None, clock=clock) as store:
        for i in range(20):
            store.record(attrs.evolve(_secret_record(i), created_at=clock.now - 40 * DAY))
        store.record(make_record(instruction="KEEP-ME", created_at=clock.now))
        assert store.purge_older_than(30) == 20
        for name, data in file_bytes(db_path).items():
            assert b"SECRET" not in data, f"deleted content left in {name}"
        assert [e["instruction"] for e in store.list_recent()] == ["KEEP-ME"]


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_permissions_folder_0700_files_0600(tmp_path: pathlib.Path, umask: int) -> None:
    path = tmp_path / "nested" / "typilot" / "history.sqlite3"
    old = os.umask(umask)
    try:
        store = HistoryStore(path)
        store.record(make_record())
    finally:
        os.umask(old)
    try:
        wal = path.with_name(path.name + "-wal")
        shm = path.with_name(path.name + "-shm")
        assert wal.exists() and shm.exists()
        assert mode(path.parent) == 0o700
        assert mode(path.parent.parent) == 0o700  # folders we create are private too
        for file in (path, wal, shm):
            assert mode(file) == 0o600, f"{file.name} is {oct(mode(file))}"
    finally:
        store.close()


def test_loose_permissions_are_tightened_on_open(db_path: pathlib.Path) -> None:
    HistoryStore(db_path).close()
    db_path.chmod(0o664)
    db_path.parent.chmod(0o755)
    with HistoryStore(db_path) as store:
        store.record(make_record())
        assert mode(db_path) == 0o600
        assert mode(db_path.parent) == 0o700


def test_default_path_follows_xdg_and_env(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TYPILOT_HISTORY_PATH", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_history_path() == tmp_path / "xdg" / "typilot" / "history.sqlite3"
    monkeypatch.setenv("TYPILOT_HISTORY_PATH", str(tmp_path / "elsewhere.sqlite3"))
    assert default_history_path() == tmp_path / "elsewhere.sqlite3"
    with HistoryStore() as store:
        assert store.path == tmp_path / "elsewhere.sqlite3"


def test_wal_mode_and_schema_are_set_up(db_path: pathlib.Path) -> None:
    HistoryStore(db_path).close()
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(runs)")}
        assert "runs_created_at" in indexes
    finally:
        conn.close()


def test_a_schema_1_file_is_migrated_and_keeps_its_runs(db_path: pathlib.Path) -> None:
    # The file as typilot-lsp wrote it before prompt_tokens existed (schema 1).
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db_path)
    conn.executescript(
        """
        CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL,
            source TEXT NOT NULL, command TEXT NOT NULL, instruction TEXT NOT NULL DEFAULT '',
            language_id TEXT NOT NULL DEFAULT '', uri TEXT NOT NULL DEFAULT '',
            model TEXT NOT NULL DEFAULT '', host TEXT NOT NULL DEFAULT '',
            prompt TEXT NOT NULL DEFAULT '', response TEXT NOT NULL DEFAULT '',
            outcome TEXT NOT NULL, error TEXT, first_token_ms REAL, total_ms REAL,
            token_count INTEGER NOT NULL DEFAULT 0);
        CREATE INDEX runs_created_at ON runs (created_at);
        INSERT INTO runs (created_at, source, command, outcome) VALUES (1.0, 'cli', 'gen', 'done');
        PRAGMA user_version = 1;
        """
    )
    conn.close()
    with HistoryStore(db_path, retention_days=None) as store:
        new_id = store.record(make_record(prompt_tokens=321))
        entries = {e["id"]: e for e in store.export()}
    assert entries[1]["command"] == "gen" and entries[1]["prompt_tokens"] is None
    assert entries[new_id]["prompt_tokens"] == 321
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    finally:
        conn.close()


def test_a_newer_schema_is_refused_with_a_clear_message(db_path: pathlib.Path) -> None:
    HistoryStore(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(HistoryUnavailable, match="newer typilot-lsp"):
        HistoryStore(db_path)


def test_a_folder_as_path_is_refused_with_a_clear_message(tmp_path: pathlib.Path) -> None:
    with pytest.raises(HistoryUnavailable, match="is a folder, not a file"):
        HistoryStore(tmp_path)


def test_one_store_is_safe_across_threads(db_path: pathlib.Path) -> None:
    errors: list[BaseException] = []
    with HistoryStore(db_path) as store:

        def work(k: int) -> None:
            try:
                for i in range(100):
                    store.record(make_record(instruction=f"t{k}-{i}"))
                    if i % 10 == 0:
                        store.list_recent(5)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert {e["instruction"] for e in store.export()} == {
            f"t{k}-{i}" for k in range(4) for i in range(100)
        }


def test_a_users_own_folder_is_left_as_it_is(tmp_path: pathlib.Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    notes.chmod(0o755)
    with HistoryStore(notes / "typilot-history.sqlite3") as store:
        store.record(make_record())
        assert mode(notes) == 0o755
        assert mode(store.path) == 0o600
