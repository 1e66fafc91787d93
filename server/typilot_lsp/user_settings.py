"""The user settings file: the `typilot` settings every Typilot process on the machine reads.

``settings.json`` in the platform's user config folder (``$XDG_CONFIG_HOME/typilot`` on
Linux, ``~/Library/Application Support/typilot`` on macOS, ``%APPDATA%\\typilot`` on
Windows; ``$TYPILOT_SETTINGS`` names another file). It holds the same keys as the editor's
``typilot`` settings, either at the top level or under ``"typilot"``. The language server
reads it under whatever the editor sends (editor settings win, key by key); the command line
(``history``, ``apply``, ``doctor``) reads it too, so that ``typilot-lsp history list``
applies the same ``history.retentionDays`` as the server.

``load_settings`` is the command-line tools' loader: ``--settings FILE`` over this file, then
``--backend``, ``--host`` and ``--model``.

A missing file is no settings; a file that cannot be read or parsed costs only itself: the
caller gets a message that names the file and what to do, and the defaults stand.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import attrs
import platformdirs

from typilot_lsp.config import Config

__all__ = [
    "USER_SETTINGS_ENV",
    "LoadedSettings",
    "UserSettings",
    "config_with_user_settings",
    "load_settings",
    "load_user_settings",
    "merge_settings",
    "user_settings_path",
]

USER_SETTINGS_ENV = "TYPILOT_SETTINGS"


def user_settings_path() -> pathlib.Path:
    """``$TYPILOT_SETTINGS``, else ``settings.json`` in the platform's user config folder."""
    override = os.environ.get(USER_SETTINGS_ENV)
    if override:
        return pathlib.Path(override).expanduser()
    folder = platformdirs.user_config_dir("typilot", appauthor=False)
    return pathlib.Path(folder) / "settings.json"


@attrs.frozen
class UserSettings:
    path: pathlib.Path
    data: dict[str, Any]
    """The `typilot` section from the file (camelCase, as editors send it); {} when none."""
    problem: str | None = None
    """Why the file was not used (unreadable, not JSON, not an object); None when it was."""


def load_user_settings(path: pathlib.Path | None = None) -> UserSettings:
    path = path if path is not None else user_settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return UserSettings(path, {})
    except (OSError, UnicodeDecodeError) as exc:
        return UserSettings(path, {}, f"cannot read {path} ({exc}); its settings were skipped")
    if not text.strip():
        return UserSettings(path, {})
    try:
        loaded = json.loads(text)
    except ValueError as exc:
        return UserSettings(
            path,
            {},
            f"{path} is not valid JSON ({exc}); fix it or delete it. Its settings were skipped",
        )
    if isinstance(loaded, dict) and isinstance(loaded.get("typilot"), dict):
        loaded = loaded["typilot"]
    if not isinstance(loaded, dict):
        return UserSettings(
            path,
            {},
            f"{path} must hold a JSON object such as "
            '{"history": {"retentionDays": 7}}; its settings were skipped',
        )
    return UserSettings(path, loaded)


def merge_settings(base: Any, override: Any) -> Any:
    """`override` on top of `base`, key by key through nested objects (override wins)."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return override
    merged = dict(base)
    for key, value in override.items():
        merged[key] = merge_settings(merged[key], value) if key in merged else value
    return merged


def config_with_user_settings(
    editor: Any = None, user: UserSettings | None = None
) -> tuple[Config, list[str]]:
    """The Config from the user settings file with `editor` settings over it, and messages.

    Messages name their source: a problem with the file, or a bad value in it or in `editor`.
    """
    user = user if user is not None else load_user_settings()
    messages: list[str] = []
    if user.problem:
        messages.append(user.problem)
    file_errors: list[str] = []
    if user.data:
        _, file_errors = Config.from_dict(user.data)
        messages.extend(f"{error} (in {user.path})" for error in file_errors)
    data: Any = user.data
    if isinstance(editor, dict) and isinstance(editor.get("typilot"), dict):
        editor = editor["typilot"]  # some clients send the whole settings object
    if isinstance(editor, dict):
        data = merge_settings(user.data, editor)
    elif editor is not None:
        data = editor  # not an object: Config.from_dict says so
    config, errors = Config.from_dict(data)
    # A bad value in the file was reported with its source already.
    messages.extend(e for e in errors if e not in file_errors)
    return config, messages


@attrs.frozen
class LoadedSettings:
    """Settings for a command-line tool (`apply`, `doctor`), from `--settings FILE` and flags."""

    config: Config
    errors: list[str]
    """Bad keys in the file (each kept its default), already naming the file."""
    failure: str | None = None
    """Why the file could not be read at all (then every key has its default)."""


def load_settings(
    settings_file: str | None,
    *,
    backend: str | None = None,
    host: str | None = None,
    model: str | None = None,
) -> LoadedSettings:
    """The one settings-file loader: a JSON file holding the `typilot` section (or its
    content), then `--backend`, `--host` and `--model` on top (`Config.with_overrides`).
    Never raises: the caller decides whether a `failure` stops it."""
    data: Any = {}
    failure = None
    if settings_file:
        try:
            loaded = json.loads(pathlib.Path(settings_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            failure = (
                f"cannot read settings file {settings_file} ({exc}): pass a JSON file such as "
                '{"typilot": {"ollama": {"model": "qwen2.5-coder:1.5b"}}}'
            )
            loaded = {}
        if isinstance(loaded, dict) and isinstance(loaded.get("typilot"), dict):
            loaded = loaded["typilot"]
        data = loaded
    # --settings over the user settings file.
    config, errors = config_with_user_settings(data)
    where = f" (in {settings_file})" if settings_file else ""
    return LoadedSettings(
        config.with_overrides(backend=backend, host=host, model=model),
        [error if "(in " in error else f"{error}{where}" for error in errors],
        failure,
    )
