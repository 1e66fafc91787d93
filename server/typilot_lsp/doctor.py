"""``typilot-lsp doctor``: can a run work on this machine, and if not, what to do.

One line per check, each problem with its fix. Exit status 1 when a run could not work
(Ollama unreachable, the model missing or not local, the history store unusable); voice
problems are warnings, since voice is optional.

Settings come from ``--settings FILE`` (a ``typilot`` settings object, as in the editor),
then ``--host`` / ``--model``, with ``$OLLAMA_HOST`` and ``$TYPILOT_HISTORY_PATH`` as the
editor would see them. The privacy guards apply: a remote host is not contacted and a cloud
model is not queried unless the settings allow it.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes.util
import importlib.util
import json
import os
import pathlib
import sqlite3
import stat
import subprocess
import sys
from typing import Any

import attrs

from typilot_lsp.backends.host import host_name, resolve_host
from typilot_lsp.config import Config
from typilot_lsp.errors import InvalidHost, ModelNotFound, TypilotError
from typilot_lsp.privacy import (
    PrivacyPolicy,
    check_host,
    check_model_info,
    cloud_name_marker,
    is_loopback_host,
)
from typilot_lsp.user_settings import config_with_user_settings

__all__ = ["Check", "main", "run_checks"]

OK, WARN, FAIL = "ok", "warn", "FAIL"
_VOICE_INSTALL = "pip install 'typilot-lsp[voice]'"

# Runs in a child process: PortAudio prints ALSA chatter to fd 2 and may hang or crash on
# a broken audio setup; none of that should reach doctor's own output.
_MIC_PROBE = """
import json, sounddevice as sd
devices = [d for d in sd.query_devices() if d.get("max_input_channels", 0) > 0]
try:
    default = sd.query_devices(kind="input")["name"]
except Exception:
    default = None
print(json.dumps({"inputs": [d["name"] for d in devices], "default": default}))
"""


@attrs.frozen
class Check:
    name: str
    status: str  # ok | warn | FAIL
    message: str


def _load_settings(args: argparse.Namespace) -> tuple[Config, list[Check]]:
    checks: list[Check] = []
    data: dict[str, Any] = {}
    settings_file = getattr(args, "settings", None)
    if settings_file:
        try:
            loaded = json.loads(pathlib.Path(settings_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            checks.append(
                Check(
                    "settings",
                    FAIL,
                    f"cannot read settings file {settings_file} ({exc}): pass a JSON file "
                    'such as {"typilot": {"ollama": {"model": "qwen2.5-coder:1.5b"}}}',
                )
            )
            loaded = {}
        if isinstance(loaded, dict):
            data = (
                loaded.get("typilot", loaded) if isinstance(loaded.get("typilot"), dict) else loaded
            )
    # --settings over the user settings file (see typilot_lsp.user_settings).
    config, errors = config_with_user_settings(data)
    for error in errors:
        where = f" (in {settings_file})" if settings_file and "(in " not in error else ""
        checks.append(Check("settings", WARN, f"{error}{where}"))
    ollama = config.ollama
    if getattr(args, "host", None):
        ollama = attrs.evolve(ollama, host=args.host)
    if getattr(args, "model", None):
        ollama = attrs.evolve(ollama, model=args.model)
    return attrs.evolve(config, ollama=ollama), checks


async def _check_ollama(config: Config, host: str, policy: PrivacyPolicy) -> list[Check]:
    from typilot_lsp.backends.ollama import OllamaClient

    checks: list[Check] = []
    model = config.ollama.model
    try:
        check_host(host, policy.allow_remote_host)
    except TypilotError as exc:
        return [
            Check("ollama", FAIL, str(exc)),
            Check("model", FAIL, f"model {model} not checked: Ollama was not contacted"),
        ]
    client = OllamaClient(
        host,
        allow_remote_host=policy.allow_remote_host,
        connect_timeout=config.ollama.connect_timeout,
        request_timeout=max(config.ollama.connect_timeout, 10.0),
    )
    try:
        try:
            version = await client.version()
        except TypilotError as exc:
            return [
                Check("ollama", FAIL, str(exc)),
                Check("model", FAIL, f"model {model} not checked: Ollama is not reachable"),
            ]
        where = ""
        if not is_loopback_host(host_name(host)):
            where = " (a remote host, allowed by `typilot.privacy.allowRemoteHost`)"
        checks.append(Check("ollama", OK, f"Ollama {version} is running at {host}{where}"))

        marker = cloud_name_marker(model)
        if marker and not policy.allow_cloud_models:
            checks.append(
                Check(
                    "model",
                    FAIL,
                    f"model {model} is a cloud model (tagged {marker}): prompts would leave this "
                    "machine. Pick a local model in `typilot.ollama.model` (see `ollama list`), or "
                    "set `typilot.privacy.allowCloudModels` to true to allow it",
                )
            )
            return checks
        try:
            show = await client.show(model)
        except ModelNotFound as exc:
            local = await _local_models(client)
            hint = f" (installed: {', '.join(local[:8])})" if local else ""
            checks.append(Check("model", FAIL, f"{exc}{hint}"))
            return checks
        except TypilotError as exc:
            checks.append(Check("model", FAIL, str(exc)))
            return checks
        from typilot_lsp.backends.ollama import model_info_from_show

        info = model_info_from_show(model, show)
        try:
            check_model_info(info, policy.allow_cloud_models)
        except TypilotError as exc:
            checks.append(Check("model", FAIL, str(exc)))
            return checks
        if info.capabilities and "completion" not in info.capabilities:
            checks.append(
                Check(
                    "model",
                    FAIL,
                    f"model {model} cannot generate text (capabilities: "
                    f"{', '.join(info.capabilities)}): pick a chat or code model in "
                    "`typilot.ollama.model`",
                )
            )
            return checks
        if info.remote_host or info.remote_model or marker:
            checks.append(
                Check(
                    "model",
                    WARN,
                    f"model {model} runs on {info.remote_host or 'ollama.com'}: prompts leave this "
                    "machine (allowed by `typilot.privacy.allowCloudModels`)",
                )
            )
        else:
            context = f", context {info.context_length} tokens" if info.context_length else ""
            checks.append(Check("model", OK, f"model {model} is installed and local{context}"))
    finally:
        await client.aclose()
    return checks


async def _local_models(client: Any) -> list[str]:
    try:
        models = await client.tags()
    except TypilotError:
        return []
    return [
        str(m.get("name"))
        for m in models
        if m.get("name") and not m.get("remote_host") and not cloud_name_marker(str(m["name"]))
    ]


def _history_path(config: Config) -> pathlib.Path:
    if config.history.path:
        return pathlib.Path(config.history.path).expanduser()
    from typilot_lsp.history import default_history_path

    return default_history_path()


def _check_history(config: Config) -> list[Check]:
    if not config.history.enabled:
        return [Check("history", OK, "history is off (`typilot.history.enabled` = false)")]
    try:
        path = _history_path(config)
    except Exception as exc:  # an unusable platform dir, a bad import
        return [Check("history", FAIL, f"cannot work out the history path ({exc})")]
    fix_path = "set `typilot.history.path` (or $TYPILOT_HISTORY_PATH) to a file you own"
    if path.is_dir():
        return [Check("history", FAIL, f"history path {path} is a folder, not a file: {fix_path}")]
    if not path.exists():
        ancestor = path.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if ancestor.is_dir() and os.access(ancestor, os.W_OK | os.X_OK):
            return [Check("history", OK, f"history will be created at {path} (mode 0600)")]
        return [
            Check(
                "history",
                FAIL,
                f"history file {path} cannot be created: {ancestor} is not writable by you; "
                f"`chmod u+w '{ancestor}'`, or {fix_path}",
            )
        ]
    checks: list[Check] = []
    if not (os.access(path, os.R_OK | os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)):
        return [
            Check(
                "history",
                FAIL,
                f"history file {path} is not readable and writable by you: "
                f"`chmod 700 '{path.parent}' && chmod 600 '{path}'`, or {fix_path}",
            )
        ]
    try:
        uri = path.resolve().as_uri() + "?mode=ro"
        with sqlite3.connect(uri, uri=True, timeout=5) as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.close()
    except sqlite3.Error as exc:
        return [
            Check(
                "history",
                FAIL,
                f"history file {path} is not a usable SQLite database ({exc}): move it aside "
                f"(`mv '{path}' '{path}.bak'`) and a new one is created",
            )
        ]
    file_mode = stat.S_IMODE(path.stat().st_mode)
    dir_mode = stat.S_IMODE(path.parent.stat().st_mode)
    if file_mode & 0o077 or dir_mode & 0o077:
        checks.append(
            Check(
                "history",
                WARN,
                f"history at {path} can be read by other users (file {file_mode:04o}, folder "
                f"{dir_mode:04o}): `chmod 700 '{path.parent}' && chmod 600 '{path}'` "
                "(the server also tightens them when it opens the store)",
            )
        )
    else:
        checks.append(
            Check("history", OK, f"history at {path} (schema {version}, file 0600, folder 0700)")
        )
    return checks


def _voice_model_repo(model: str) -> str:
    """The Hugging Face repo faster-whisper fetches a model name from (without importing it)."""
    if "/" in model:
        return model
    if model in ("turbo", "large-v3-turbo"):
        return "mobiuslabsgmbh/faster-whisper-large-v3-turbo"
    if model.startswith("distil-"):
        return f"Systran/faster-distil-whisper-{model.removeprefix('distil-')}"
    return f"Systran/faster-whisper-{model}"


def _check_voice_model(model: str) -> Check:
    """Is the voice model on this machine? Typilot never downloads it by itself."""
    path = pathlib.Path(model).expanduser()
    if path.exists() or model.startswith((".", "/", "~")):
        if (path / "model.bin").is_file():
            return Check("voice model", OK, f"voice model folder {path}")
        return Check(
            "voice model",
            WARN,
            f"voice model folder {path} has no model.bin: point `typilot.voice.model` at a "
            "CTranslate2 Whisper model folder, or use a name such as tiny.en",
        )
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return Check("voice model", WARN, f"voice model {model} not checked (voice not installed)")
    found = try_to_load_from_cache(_voice_model_repo(model), "model.bin")
    if isinstance(found, str):
        return Check("voice model", OK, f"voice model {model} is on this machine")
    return Check(
        "voice model",
        WARN,
        f"voice model {model} is not downloaded, and Typilot never downloads by itself: run "
        f"`typilot-lsp voice --download-model {model}` once, or set `typilot.voice.model` to a "
        "local model folder",
    )


def _check_voice(config: Config) -> list[Check]:
    checks: list[Check] = []
    missing = [
        pkg for pkg in ("faster_whisper", "sounddevice") if importlib.util.find_spec(pkg) is None
    ]
    if missing:
        checks.append(
            Check(
                "voice",
                WARN,
                f"voice is off: {', '.join(m.replace('_', '-') for m in missing)} not installed "
                f"(voice is optional): `{_VOICE_INSTALL}`",
            )
        )
    else:
        checks.append(Check("voice", OK, "voice packages faster-whisper and sounddevice installed"))
        checks.append(_check_voice_model(config.voice.model))
    if ctypes.util.find_library("portaudio") is None and not _sounddevice_bundles_portaudio():
        checks.append(
            Check(
                "voice",
                WARN,
                "PortAudio library not found (needed to record): `sudo apt install "
                "libportaudio2` (Debian/Ubuntu), `brew install portaudio` (macOS)",
            )
        )
        return checks
    if "sounddevice" in missing:
        return checks
    checks.append(_check_microphone())
    return checks


def _sounddevice_bundles_portaudio() -> bool:
    """sounddevice wheels for macOS/Windows ship their own PortAudio."""
    spec = importlib.util.find_spec("_sounddevice_data")
    return spec is not None


def _check_microphone() -> Check:
    try:
        result = subprocess.run(
            [sys.executable, "-c", _MIC_PROBE],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        found = (
            json.loads(result.stdout.strip().splitlines()[-1]) if result.returncode == 0 else None
        )
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        found = None
    if found is None:
        return Check(
            "microphone",
            WARN,
            "could not list audio devices (PortAudio failed): check your sound setup "
            "(`arecord -l` on Linux); voice commands will not work until it does",
        )
    inputs = found.get("inputs") or []
    if not inputs:
        return Check(
            "microphone",
            WARN,
            "no microphone found: plug one in (or start PulseAudio/PipeWire); voice commands "
            "need one, the rest of Typilot does not",
        )
    default = found.get("default") or inputs[0]
    return Check("microphone", OK, f"microphone: {default} ({len(inputs)} input device(s))")


def run_checks(args: argparse.Namespace) -> list[Check]:
    config, checks = _load_settings(args)
    policy = PrivacyPolicy.from_config(config)
    try:
        host = resolve_host(config.ollama.host)
    except InvalidHost as exc:
        checks.append(Check("ollama", FAIL, str(exc)))
        checks.append(Check("model", FAIL, f"model {config.ollama.model} not checked"))
    else:
        checks.extend(asyncio.run(_check_ollama(config, host, policy)))
    for setting in policy.relaxed_settings():
        checks.append(
            Check("privacy", WARN, f"`{setting}` is on: prompts and code may leave this machine")
        )
    checks.extend(_check_history(config))
    checks.extend(_check_voice(config))
    return checks


def main(args: argparse.Namespace) -> int:
    checks = run_checks(args)
    failed = any(c.status == FAIL for c in checks)
    if getattr(args, "json", False):
        print(
            json.dumps({"ok": not failed, "checks": [attrs.asdict(c) for c in checks]}, indent=None)
        )
    else:
        for check in checks:
            print(f"{check.status:<5} {check.name:<11} {check.message}")
        if failed:
            print("\nRuns cannot work until the FAIL lines are fixed.")
        else:
            print(
                "\nTypilot is ready."
                + (" (see the warnings above)" if any(c.status == WARN for c in checks) else "")
            )
    return 1 if failed else 0
