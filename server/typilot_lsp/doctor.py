"""``typilot-lsp doctor``: can a run work on this machine, and if not, what to do.

One line per check, each problem with its fix. Exit status 1 when a run could not work
(the model server unreachable, the model missing or not local, the history store unusable); voice
problems are warnings, since voice is optional.

Settings come from ``--settings FILE`` (a ``typilot`` settings object, as in the editor),
then ``--backend`` / ``--host`` / ``--model``, with ``$OLLAMA_HOST`` and ``$TYPILOT_HISTORY_PATH`` as the
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

from typilot_lsp.backends.urls import host_name, resolve_ollama_host
from typilot_lsp.config import Config
from typilot_lsp.errors import ApiKeyMissing, InvalidHost, ModelNotFound, TypilotError
from typilot_lsp.privacy import (
    PrivacyPolicy,
    check_host,
    check_model_info,
    cloud_name_marker,
    is_loopback_host,
)
from typilot_lsp.user_settings import load_settings

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
    loaded = load_settings(
        getattr(args, "settings", None),
        backend=getattr(args, "backend", None),
        host=getattr(args, "host", None),
        model=getattr(args, "model", None),
    )
    checks = [Check("settings", FAIL, loaded.failure)] if loaded.failure else []
    checks += [Check("settings", WARN, error) for error in loaded.errors]
    return loaded.config, checks


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
        if config.gen.fim == "off":
            checks.append(Check("fim", OK, "fill-in-the-middle is off (`typilot.gen.fim`)"))
        elif "insert" in info.capabilities:
            checks.append(
                Check(
                    "fim", OK, f"fill-in-the-middle available: {model} has `insert`; gen: uses it"
                )
            )
        else:
            checks.append(
                Check(
                    "fim",
                    OK,
                    f"fill-in-the-middle not available ({model} lacks `insert`): gen: uses chat",
                )
            )
    finally:
        await client.aclose()
    return checks


async def _check_openai(config: Config, policy: PrivacyPolicy) -> list[Check]:
    """The OpenAI-compatible server: reachable, the model listed, FIM or not, the key variable."""
    from typilot_lsp.backends.openai import OpenAIBackend

    url = config.openai.base_url
    model = config.openai.model
    shown = model or "(the one it serves)"
    checks: list[Check] = []
    key_env = config.openai.api_key_env
    if key_env:
        if os.environ.get(key_env):
            checks.append(Check("api key", OK, f"API key from ${key_env} (set; not shown)"))
        else:
            checks.append(Check("api key", FAIL, str(ApiKeyMissing(key_env))))
            return checks
    backend = OpenAIBackend.from_config(config)
    client = backend.client
    client.request_timeout = max(config.openai.connect_timeout, 10.0)
    client.first_token_timeout = min(client.first_token_timeout, 30.0)
    try:
        try:
            client.guard()
            models = await backend.served_models()
        except TypilotError as exc:
            return [
                *checks,
                Check("server", FAIL, str(exc)),
                Check("model", FAIL, f"model {shown} not checked: the server was not reached"),
            ]
        where = ""
        if not is_loopback_host(host_name(url)):
            where = " (a remote host, allowed by `typilot.privacy.allowRemoteHost`)"
        listed = f", serving {len(models)} model(s)" if models is not None else ""
        checks.append(Check("server", OK, f"OpenAI-compatible server at {url}{where}{listed}"))
        try:
            info = await backend.prepare(model)
        except TypilotError as exc:
            checks.append(Check("model", FAIL, str(exc)))
            return checks
        context = f", context {info.context_length} tokens" if info.context_length else ""
        served = "is served" if models is not None else "is configured (the server lists none)"
        checks.append(Check("model", OK, f"model {info.name} {served}{context}"))
        if config.gen.fim == "off":
            checks.append(Check("fim", OK, "fill-in-the-middle is off (`typilot.gen.fim`)"))
        else:
            try:
                fim = await client.fim_supported()
            except TypilotError as exc:
                fim = None
                checks.append(Check("fim", WARN, f"fill-in-the-middle not checked: {exc}"))
            if fim is True:
                checks.append(
                    Check("fim", OK, "fill-in-the-middle available (/infill): gen: uses it")
                )
            elif fim is False:
                checks.append(
                    Check(
                        "fim",
                        OK,
                        "fill-in-the-middle not available for this model (no /infill, or no FIM "
                        "tokens): gen: uses chat",
                    )
                )
    finally:
        await backend.aclose()
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
    from typilot_lsp.history import history_path

    return history_path(config.history.path)


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
    if config.backend == "openai":
        checks.extend(asyncio.run(_check_openai(config, policy)))
    else:
        try:
            host = resolve_ollama_host(config.ollama.host)
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
