"""`typilot-lsp history ...` as a user runs it: a real process, user dirs in a tmp dir."""

from __future__ import annotations

import json
import pathlib
import stat
import subprocess
import sys
import time

import attrs

from tests.history.history_testutil import file_bytes, make_record
from typilot_lsp.history import HistoryStore

DAY = 86400.0


def typilot_lsp() -> list[str]:
    script = pathlib.Path(sys.executable).parent / "typilot-lsp"
    return [str(script)] if script.exists() else [sys.executable, "-m", "typilot_lsp"]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*typilot_lsp(), "history", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def default_file(env: dict[str, str]) -> pathlib.Path:
    return pathlib.Path(env["XDG_DATA_HOME"]) / "typilot" / "history.sqlite3"


def seed(path: pathlib.Path, count: int, **overrides: object) -> list[int]:
    with HistoryStore(path, retention_days=None) as store:
        return [
            store.record(
                make_record(
                    instruction=f"task number {i}",
                    prompt=f"PROMPT-{i}",
                    response=f"RESPONSE-{i}\nsecond line",
                    **overrides,  # type: ignore[arg-type]
                )
            )
            for i in range(count)
        ]


def test_list_on_a_new_machine_creates_a_private_store(isolated_env: dict[str, str]) -> None:
    result = cli(isolated_env, "list")
    assert result.returncode == 0, result.stderr
    path = default_file(isolated_env)
    assert result.stdout.strip() == f"No runs recorded yet ({path})."
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_list_show_and_export(isolated_env: dict[str, str]) -> None:
    ids = seed(default_file(isolated_env), 5)

    table = cli(isolated_env, "list", "--limit", "3")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == [
        "ID",
        "WHEN",
        "SOURCE",
        "COMMAND",
        "OUTCOME",
        "MODEL",
        "INSTRUCTION",
    ]
    assert [line.split()[0] for line in lines[1:]] == [str(i) for i in ids[::-1][:3]]
    assert lines[1].endswith("task number 4")
    assert "PROMPT-" not in table.stdout  # the table shows no content beyond the instruction

    as_json = cli(isolated_env, "list", "--json")
    entries = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [e["id"] for e in entries] == ids[::-1]
    assert entries[0]["response"] == "RESPONSE-4\nsecond line"

    shown = cli(isolated_env, "show", str(ids[1]))
    assert shown.returncode == 0, shown.stderr
    assert "instruction: task number 1" in shown.stdout
    assert "PROMPT-1" in shown.stdout and "RESPONSE-1\nsecond line" in shown.stdout
    assert "first token 120 ms, total 900 ms, 17 tokens" in shown.stdout

    missing = cli(isolated_env, "show", "999")
    assert missing.returncode == 1
    assert "no entry with id 999" in missing.stderr and "history list" in missing.stderr

    exported = cli(isolated_env, "export")
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [r["id"] for r in rows] == ids  # oldest first
    assert set(rows[0]) >= {"created_at", "source", "command", "prompt", "response", "outcome"}


def user_settings(env: dict[str, str], settings: dict[str, object]) -> pathlib.Path:
    path = pathlib.Path(env["XDG_CONFIG_HOME"]) / "typilot" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings), encoding="utf-8")
    return path


def test_purge_older_than_and_all(isolated_env: dict[str, str]) -> None:
    user_settings(isolated_env, {"history": {"retentionDays": 365}})
    path = default_file(isolated_env)
    seed(path, 3, created_at=time.time() - 40 * DAY)
    seed(path, 2)

    older = cli(isolated_env, "purge", "--older-than", "30")
    assert older.returncode == 0, older.stderr
    assert older.stdout.startswith("Purged 3 entries older than 30 days")

    everything = cli(isolated_env, "purge", "--all")
    assert everything.returncode == 0, everything.stderr
    assert everything.stdout.strip() == f"Purged all 2 entries from {path}."
    for name, data in file_bytes(path).items():
        assert b"RESPONSE-" not in data and b"PROMPT-" not in data, name
        assert b"task number" not in data, name
    assert cli(isolated_env, "export").stdout == ""

    neither = cli(isolated_env, "purge")
    assert neither.returncode == 2
    assert "--all" in neither.stderr and "--older-than" in neither.stderr


def test_the_cli_applies_the_default_retention(isolated_env: dict[str, str]) -> None:
    # "Kept 30 days": a run recorded 40 days ago is gone from every listing.
    seed(default_file(isolated_env), 1, created_at=time.time() - 40 * DAY)
    recent = seed(default_file(isolated_env), 1)
    listed = [json.loads(x) for x in cli(isolated_env, "list", "--json").stdout.splitlines()]
    assert [r["id"] for r in listed] == recent
    assert len(cli(isolated_env, "export").stdout.splitlines()) == 1


def test_the_cli_applies_the_user_settings_retention(isolated_env: dict[str, str]) -> None:
    user_settings(isolated_env, {"typilot": {"history": {"retentionDays": 60}}})
    old = seed(default_file(isolated_env), 1, created_at=time.time() - 40 * DAY)
    assert len(cli(isolated_env, "list", "--json").stdout.splitlines()) == 1
    user_settings(isolated_env, {"history": {"retentionDays": 7}})
    assert cli(isolated_env, "list", "--json").stdout == ""
    gone = cli(isolated_env, "show", str(old[0]))
    assert gone.returncode == 1 and "no entry" in gone.stderr


def test_the_user_settings_file_names_the_history_path(
    isolated_env: dict[str, str], tmp_path: pathlib.Path
) -> None:
    other = tmp_path / "mine" / "h.sqlite3"
    seed(other, 2)
    user_settings(isolated_env, {"history": {"path": str(other)}})
    assert len(cli(isolated_env, "export").stdout.splitlines()) == 2
    assert not default_file(isolated_env).exists()


def test_a_broken_user_settings_file_is_named_and_skipped(isolated_env: dict[str, str]) -> None:
    path = user_settings(isolated_env, {})
    path.write_text("{not json", encoding="utf-8")
    seed(default_file(isolated_env), 1)
    result = cli(isolated_env, "list", "--json")
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 1
    assert str(path) in result.stderr and "not valid JSON" in result.stderr
    bad_value = user_settings(isolated_env, {"history": {"retentionDays": "thirty"}})
    result = cli(isolated_env, "list", "--json")
    assert "retentionDays" in result.stderr and str(bad_value) in result.stderr
    assert len(result.stdout.splitlines()) == 1  # the default (30 days) stands


def test_history_path_env_override(isolated_env: dict[str, str], tmp_path: pathlib.Path) -> None:
    other = tmp_path / "elsewhere" / "mine.sqlite3"
    seed(other, 2)
    env = {**isolated_env, "TYPILOT_HISTORY_PATH": str(other)}
    assert len(cli(env, "export").stdout.splitlines()) == 2
    assert not default_file(isolated_env).exists()


def test_a_damaged_file_is_reported_with_what_to_do(isolated_env: dict[str, str]) -> None:
    path = default_file(isolated_env)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage, not sqlite\n" * 50)
    result = cli(isolated_env, "list")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert f"Typilot history at {path} is damaged" in result.stderr
    assert "move it aside or delete it" in result.stderr


def test_store_content_off_is_visible_in_show(isolated_env: dict[str, str]) -> None:
    path = default_file(isolated_env)
    with HistoryStore(path, store_content=False) as store:
        entry_id = store.record(attrs.evolve(make_record(), prompt="P", response="R"))
    shown = cli(isolated_env, "show", str(entry_id))
    assert shown.stdout.count("(not stored: history.storeContent was false)") == 2
