"""The user settings file: found where platformdirs says, merged under the editor's settings."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import server_env, start_editor, stop_editor
from typilot_lsp.user_settings import (
    config_with_user_settings,
    load_user_settings,
    merge_settings,
    user_settings_path,
)


def test_the_path_follows_xdg_and_the_env_override(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TYPILOT_SETTINGS", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    if sys.platform.startswith("linux"):
        assert user_settings_path() == tmp_path / "cfg" / "typilot" / "settings.json"
    monkeypatch.setenv("TYPILOT_SETTINGS", str(tmp_path / "mine.json"))
    assert user_settings_path() == tmp_path / "mine.json"


def test_editor_settings_win_key_by_key(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(
        json.dumps(
            {"history": {"retentionDays": 7, "storeContent": False}, "ollama": {"model": "a:1b"}}
        )
    )
    config, messages = config_with_user_settings(
        {"typilot": {"history": {"retentionDays": 90}}}, load_user_settings(path)
    )
    assert messages == []
    assert config.history.retention_days == 90  # the editor's
    assert config.history.store_content is False  # the file's, kept beside it
    assert config.ollama.model == "a:1b"


def test_a_missing_file_is_no_settings(tmp_path: Path) -> None:
    user = load_user_settings(tmp_path / "none.json")
    assert user.data == {} and user.problem is None
    config, messages = config_with_user_settings({}, user)
    assert messages == [] and config.history.retention_days == 30


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{oops", "not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        (b"\xff\xfe", "cannot read"),
    ],
)
def test_a_broken_file_is_named_and_skipped(tmp_path: Path, content: object, says: str) -> None:
    path = tmp_path / "settings.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(str(content))
    config, messages = config_with_user_settings(
        {"history": {"retentionDays": 3}}, load_user_settings(path)
    )
    assert config.history.retention_days == 3  # the editor's settings still apply
    assert len(messages) == 1 and says in messages[0] and str(path) in messages[0]


def test_a_bad_value_in_the_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"history": {"retentionDays": "thirty"}}))
    config, messages = config_with_user_settings(None, load_user_settings(path))
    assert config.history.retention_days == 30
    assert len(messages) == 1 and "retentionDays" in messages[0] and str(path) in messages[0]


def test_merge_is_deep_and_replaces_non_objects() -> None:
    base = {"a": {"b": 1, "c": [1]}, "d": 1}
    assert merge_settings(base, {"a": {"c": [2]}, "e": 2}) == {
        "a": {"b": 1, "c": [2]},
        "d": 1,
        "e": 2,
    }
    assert base == {"a": {"b": 1, "c": [1]}, "d": 1}


async def test_the_server_reads_the_file_under_the_editor_settings(
    replay_ollama, typilot_home: dict[str, str]
) -> None:
    path = Path(typilot_home["XDG_CONFIG_HOME"]) / "typilot" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"typilot": {"prefixes": {"gen": "make:", "fix": "mend:"}}}))
    editor = await start_editor(
        server_env(typilot_home, replay_ollama.url), {"prefixes": {"fix": "repair:"}}
    )
    try:
        doc = editor.open("p.py", "# make: a thing\n# repair: b\n# mend: c\n# gen: d\n")
        titles = [a.title for a in await editor.code_actions(doc, 0, 3)]
        # make: from the file; repair: from the editor, over the file's mend:.
        assert titles == ["Typilot: gen — a thing", "Typilot: fix — b"]
    finally:
        await stop_editor(editor)
