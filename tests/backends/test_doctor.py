"""`typilot-lsp doctor` as a user runs it: a subprocess against a running replay server, a
closed port, a cloud model, a broken history store."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests import prerequisites
from tests.replay.ollama import ReplayOllama
from tests.replay.openai import ReplayOpenAI
from typilot_lsp import doctor

TYPILOT = str(Path(sys.executable).with_name("typilot-lsp"))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def obey_permissions() -> list[str]:
    """A command prefix that makes root obey file permission bits (no DAC override)."""
    if os.geteuid() != 0:
        return []
    prerequisites.require_tools("setpriv", how="install util-linux (it drops root's DAC override)")
    setpriv = shutil.which("setpriv")
    return [
        setpriv,
        "--inh-caps=-all",
        "--bounding-set=-dac_override,-dac_read_search,-fowner",
        "--",
    ]


def run_doctor(
    env: dict[str, str], *args: str, prefix: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(prefix or []), TYPILOT, "doctor", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def lines_of(output: str, name: str) -> list[str]:
    return [line for line in output.splitlines() if line[6:].startswith(f"{name} ")]


def test_healthy_setup_exits_0(replay_ollama: ReplayOllama, typilot_home: dict[str, str]) -> None:
    typilot_home["OLLAMA_HOST"] = replay_ollama.url
    result = run_doctor(typilot_home)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert lines_of(out, "ollama") == [
        f"ok    ollama      Ollama {replay_ollama.version} is running at {replay_ollama.url}"
    ]
    (model_line,) = lines_of(out, "model")
    assert model_line.startswith("ok") and "qwen2.5-coder:1.5b is installed and local" in model_line
    (history_line,) = lines_of(out, "history")
    assert history_line.startswith("ok") and typilot_home["XDG_DATA_HOME"] in history_line
    assert "FAIL" not in out
    # doctor looks, it does not generate anything
    paths = {e["path"] for e in replay_ollama.events_of("request")}
    assert paths <= {"/api/version", "/api/show", "/api/tags"}


def test_host_flag_and_json_output(
    replay_ollama: ReplayOllama, typilot_home: dict[str, str]
) -> None:
    result = run_doctor(
        typilot_home, "--host", replay_ollama.url, "--model", "qwen3:1.7b", "--json"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    by_name = {c["name"]: c for c in report["checks"]}
    assert by_name["model"]["status"] == "ok" and "qwen3:1.7b" in by_name["model"]["message"]
    assert {c["status"] for c in report["checks"]} <= {"ok", "warn"}


def test_closed_port_exits_1_and_says_ollama_serve(typilot_home: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = run_doctor(typilot_home, "--host", url)
    assert result.returncode == 1
    (line,) = lines_of(result.stdout, "ollama")
    assert line == f"FAIL  ollama      Ollama is not running at {url}: start it with `ollama serve`"
    assert "Runs cannot work" in result.stdout


def test_missing_model_exits_1_and_says_ollama_pull(
    replay_ollama: ReplayOllama, typilot_home: dict[str, str]
) -> None:
    result = run_doctor(typilot_home, "--host", replay_ollama.url, "--model", "llama3.2:3b")
    assert result.returncode == 1
    (line,) = lines_of(result.stdout, "model")
    assert line.startswith("FAIL") and "run `ollama pull llama3.2:3b`" in line
    assert "qwen2.5-coder:1.5b" in line  # lists what is installed locally
    assert "gpt-oss:120b-cloud" not in line  # but not the cloud stubs


@pytest.mark.parametrize("model", ["gpt-oss:120b-cloud", "deepseek-v4-pro:cloud"])
def test_cloud_model_exits_1_unless_allowed(
    replay_ollama: ReplayOllama, typilot_home: dict[str, str], tmp_path: Path, model: str
) -> None:
    result = run_doctor(typilot_home, "--host", replay_ollama.url, "--model", model)
    assert result.returncode == 1
    (line,) = lines_of(result.stdout, "model")
    assert line.startswith("FAIL") and model in line
    assert "leave this machine" in line and "typilot.privacy.allowCloudModels" in line
    assert not [e for e in replay_ollama.events_of("request") if e["path"] == "/api/show"]

    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"typilot": {"privacy": {"allowCloudModels": True}}}))
    allowed = run_doctor(
        typilot_home, "--host", replay_ollama.url, "--model", model, "--settings", str(settings)
    )
    assert allowed.returncode == 0, allowed.stdout
    (line,) = lines_of(allowed.stdout, "model")
    assert line.startswith("warn") and "https://ollama.com:443" in line
    (privacy,) = lines_of(allowed.stdout, "privacy")
    assert privacy.startswith("warn") and "allowCloudModels" in privacy


def test_remote_model_by_show_exits_1(
    replay_ollama: ReplayOllama, typilot_home: dict[str, str]
) -> None:
    replay_ollama.set_models(
        [
            {
                "name": "team-coder:latest",
                "remote_host": "https://ollama.com:443",
                "remote_model": "x",
            }
        ]
    )
    result = run_doctor(typilot_home, "--host", replay_ollama.url, "--model", "team-coder:latest")
    assert result.returncode == 1
    (line,) = lines_of(result.stdout, "model")
    assert "runs on https://ollama.com:443" in line


def test_remote_host_refused_without_contacting_it(typilot_home: dict[str, str]) -> None:
    result = run_doctor(typilot_home, "--host", "http://192.0.2.10:11434")
    assert result.returncode == 1
    (line,) = lines_of(result.stdout, "ollama")
    assert "not a loopback address" in line and "typilot.privacy.allowRemoteHost" in line


@pytest.mark.parametrize("breakage", ["folder", "garbage", "parent-is-a-file"])
def test_unusable_history_exits_1(
    replay_ollama: ReplayOllama, typilot_home: dict[str, str], tmp_path: Path, breakage: str
) -> None:
    path = tmp_path / "hist" / "history.sqlite3"
    path.parent.mkdir(mode=0o700)
    if breakage == "folder":
        path.mkdir()
    elif breakage == "garbage":
        path.write_bytes(b"this is not sqlite" * 100)
        path.chmod(0o600)
    else:
        blocker = tmp_path / "hist" / "notes.txt"
        blocker.write_text("a file where a folder should be")
        path = blocker / "history.sqlite3"
    typilot_home["TYPILOT_HISTORY_PATH"] = str(path)
    result = run_doctor(typilot_home, "--host", replay_ollama.url)
    assert result.returncode == 1, result.stdout
    (line,) = lines_of(result.stdout, "history")
    assert line.startswith("FAIL") and str(path) in line


def test_read_only_history_exits_1(
    replay_ollama: ReplayOllama, typilot_home: dict[str, str], tmp_path: Path
) -> None:
    import sqlite3

    path = tmp_path / "ro" / "history.sqlite3"
    path.parent.mkdir(mode=0o700)
    sqlite3.connect(path).close()
    path.chmod(0o400)
    typilot_home["TYPILOT_HISTORY_PATH"] = str(path)
    result = run_doctor(typilot_home, "--host", replay_ollama.url, prefix=obey_permissions())
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = lines_of(result.stdout, "history")
    assert line.startswith("FAIL") and "not readable and writable" in line and "chmod 600" in line


def test_loose_history_permissions_warn(
    replay_ollama: ReplayOllama, typilot_home: dict[str, str], tmp_path: Path
) -> None:
    import sqlite3

    path = tmp_path / "shared" / "history.sqlite3"
    path.parent.mkdir()
    path.parent.chmod(0o755)
    sqlite3.connect(path).close()
    path.chmod(0o644)
    typilot_home["TYPILOT_HISTORY_PATH"] = str(path)
    result = run_doctor(typilot_home, "--host", replay_ollama.url)
    assert result.returncode == 0, result.stdout
    (line,) = lines_of(result.stdout, "history")
    assert line.startswith("warn") and "chmod 600" in line


def test_doctor_never_imports_faster_whisper(
    replay_ollama: ReplayOllama, typilot_home: dict[str, str]
) -> None:
    code = (
        "import sys\n"
        "from typilot_lsp.cli import main\n"
        f"rc = main(['doctor', '--host', {replay_ollama.url!r}])\n"
        "assert 'faster_whisper' not in sys.modules, 'faster_whisper was imported'\n"
        "assert 'ctranslate2' not in sys.modules\n"
        "sys.exit(rc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=typilot_home, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_missing_voice_packages_are_warnings_only(
    replay_ollama: ReplayOllama,
    typilot_home: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: object, **kw: object) -> object:
        if name in ("faster_whisper", "sounddevice"):
            return None
        return real_find_spec(name, *args, **kw)  # type: ignore[arg-type]

    for key in ("XDG_DATA_HOME", "HOME"):
        monkeypatch.setenv(key, typilot_home[key])
    monkeypatch.setattr(doctor.importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(doctor.ctypes.util, "find_library", lambda name: None)
    args = argparse.Namespace(host=replay_ollama.url, model=None, json=False, settings=None)
    assert doctor.main(args) == 0
    out = capsys.readouterr().out
    voice = lines_of(out, "voice")
    assert voice and all(line.startswith("warn") for line in voice)
    assert "pip install 'typilot-lsp[voice]'" in voice[0]
    assert any("libportaudio2" in line for line in voice)


def test_voice_model_presence_is_reported(
    replay_ollama: ReplayOllama, typilot_home: dict[str, str], tmp_path: Path
) -> None:
    env = dict(typilot_home, HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1")
    missing = run_doctor(env, "--host", replay_ollama.url)
    assert missing.returncode == 0, missing.stdout + missing.stderr  # voice is optional
    (line,) = lines_of(missing.stdout, "voice model")
    assert "typilot-lsp voice --download-model tiny.en" in line

    folder = tmp_path / "whisper"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"weights")
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"typilot": {"voice": {"model": str(folder)}}}))
    present = run_doctor(env, "--host", replay_ollama.url, "--settings", str(settings))
    (line,) = lines_of(present.stdout, "voice model")
    assert str(folder) in line and "ok" in line[:6].lower()


# --- the OpenAI-compatible backend ----------------------------------------------------------------


def openai_settings(tmp_path: Path, **openai: object) -> str:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"typilot": {"backend": "openai", "openai": openai}}))
    return str(path)


def test_openai_healthy_setup(
    replay_openai: ReplayOpenAI, typilot_home: dict[str, str], tmp_path: Path
) -> None:
    settings = openai_settings(tmp_path, baseUrl=replay_openai.base_url)
    result = run_doctor(typilot_home, "--settings", settings)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    (server,) = lines_of(out, "server")
    assert server.startswith("ok") and replay_openai.base_url in server
    (model,) = lines_of(out, "model")
    assert model.startswith("ok") and replay_openai.model in model and "2048 tokens" in model
    (fim,) = lines_of(out, "fim")
    assert fim.startswith("ok") and "not available" in fim and "gen: uses chat" in fim
    assert lines_of(out, "ollama") == []
    # doctor looks, it does not generate: no chat request
    assert {e["path"] for e in replay_openai.requests()} == {"/v1/models", "/infill"}


def test_openai_fim_available_and_flags(
    replay_openai: ReplayOpenAI, typilot_home: dict[str, str]
) -> None:
    replay_openai.fim = True
    result = run_doctor(
        typilot_home, "--backend", "openai", "--host", replay_openai.base_url, "--json"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    by_name = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert by_name["fim"]["status"] == "ok" and "available (/infill)" in by_name["fim"]["message"]


def test_openai_closed_port_says_start_llama_server(
    typilot_home: dict[str, str], tmp_path: Path
) -> None:
    port = closed_port()
    settings = openai_settings(tmp_path, baseUrl=f"http://127.0.0.1:{port}/v1")
    result = run_doctor(typilot_home, "--settings", settings)
    assert result.returncode == 1
    (line,) = lines_of(result.stdout, "server")
    assert line.startswith("FAIL") and f"llama-server -m MODEL.gguf --port {port}" in line


def test_openai_unknown_model_lists_the_served(
    replay_openai: ReplayOpenAI, typilot_home: dict[str, str], tmp_path: Path
) -> None:
    settings = openai_settings(tmp_path, baseUrl=replay_openai.base_url, model="qwen-coder-7b")
    result = run_doctor(typilot_home, "--settings", settings)
    assert result.returncode == 1
    (line,) = lines_of(result.stdout, "model")
    assert line.startswith("FAIL") and "qwen-coder-7b" in line and replay_openai.model in line


def test_openai_key_variable(
    replay_openai: ReplayOpenAI, typilot_home: dict[str, str], tmp_path: Path
) -> None:
    key = "sk-doctor-1a2b3c4d"
    replay_openai.required_key = key
    settings = openai_settings(tmp_path, baseUrl=replay_openai.base_url, apiKeyEnv="TEAM_KEY")
    unset = run_doctor(
        {k: v for k, v in typilot_home.items() if k != "TEAM_KEY"}, "--settings", settings
    )
    assert unset.returncode == 1
    (line,) = lines_of(unset.stdout, "api key")
    assert line.startswith("FAIL") and "$TEAM_KEY" in line
    assert replay_openai.requests() == []  # not contacted without the key
    result = run_doctor({**typilot_home, "TEAM_KEY": key}, "--settings", settings)
    assert result.returncode == 0, result.stdout
    (line,) = lines_of(result.stdout, "api key")
    assert line.startswith("ok") and "$TEAM_KEY" in line
    assert key not in result.stdout + result.stderr
