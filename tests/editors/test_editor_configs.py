"""The editor configs users copy from editors/: they parse, start `typilot-lsp`, and
use only settings and commands the server has.

Settings are checked against the config model itself (`typilot_lsp.config`), and
command names against what a real `typilot-lsp` advertises in `initialize`.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import client_capabilities
from pytest_lsp.client import make_test_lsp_client

from tests.editors.emacs_harness import (
    EGLOT_CONFIG,
    EMACS,
    INSTALL_HINT,
    LSP_MODE_CONFIG,
    REPO,
    TYPILOT_LSP,
    emacs_missing_reason,
)
from tests.prerequisites import needs
from typilot_lsp.config import Config, setting_keys

if sys.version_info >= (3, 11):
    import tomllib
else:  # the `test` extra installs tomli there
    import tomli as tomllib

EDITORS = REPO / "editors"
KNOWN_KEYS = frozenset(setting_keys())


def leaf_keys(section: dict[str, Any], path: str = "") -> list[str]:
    """Dotted camelCase keys of a `typilot` section, down to the model's own keys.

    Free-form values (`prefixes`, `commands`, `ollama.options`) count as one key.
    """
    keys = []
    for name, value in section.items():
        dotted = f"{path}{name}"
        if isinstance(value, dict) and dotted not in KNOWN_KEYS:
            keys.extend(leaf_keys(value, f"{dotted}."))
        else:
            keys.append(dotted)
    return keys


def assert_known_settings(section: Any) -> None:
    """Every key exists in the config model and every value is accepted as given."""
    assert isinstance(section, dict) and section, f"expected a `typilot` object, got {section!r}"
    keys = leaf_keys(section)
    unknown = sorted(set(keys) - KNOWN_KEYS)
    assert not unknown, (
        f"settings the server does not have: {unknown} (known: {sorted(KNOWN_KEYS)})"
    )
    config, errors = Config.from_dict(section)
    assert errors == [], errors
    wire = config.to_dict()
    for key in keys:
        node: Any = wire
        expected: Any = section
        for part in key.split("."):
            node, expected = node[part], expected[part]
        assert node == expected, (
            f"{key}: the server would use {node!r}, the config says {expected!r}"
        )


def test_leaf_keys_stop_at_free_form_settings() -> None:
    section = {"ollama": {"model": "m", "options": {"temperature": 0.2}}, "trace": True}
    assert leaf_keys(section) == ["ollama.model", "ollama.options", "trace"]
    with pytest.raises(AssertionError, match=r"ollama\.modle"):
        assert_known_settings({"ollama": {"modle": "typo"}})
    with pytest.raises(AssertionError, match="retentionDays"):
        assert_known_settings({"history": {"retentionDays": "thirty"}})


# -- the commands the configs call exist in the server ----------------------------------------


@pytest.fixture(scope="module")
def server_commands(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """executeCommandProvider.commands of a real typilot-lsp (over stdio)."""
    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if k != "OLLAMA_HOST"}
    env.update(HOME=str(home), TYPILOT_HISTORY_PATH=str(home / "history.sqlite3"))
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        env[var] = str(home / var.lower())

    async def ask() -> list[str]:
        client = make_test_lsp_client()
        await client.start_io(str(TYPILOT_LSP), "--stdio", env=env)
        try:
            result = await client.initialize_session(
                types.InitializeParams(capabilities=client_capabilities("visual-studio-code"))
            )
            provider = result.capabilities.execute_command_provider
            return list(provider.commands) if provider else []
        finally:
            await client.shutdown_session()

    return asyncio.run(ask())


def test_server_has_the_commands_the_configs_call(server_commands: list[str]) -> None:
    assert {"typilot.run", "typilot.cancel"} <= set(server_commands), server_commands


# -- Helix ------------------------------------------------------------------------------------


def test_helix_languages_toml() -> None:
    data = tomllib.loads((EDITORS / "helix" / "languages.toml").read_text(encoding="utf-8"))
    server = data["language-server"]["typilot"]
    assert server["command"] == "typilot-lsp"
    assert server["args"] == ["--stdio"]
    # `config` is both initializationOptions and the answer to workspace/configuration
    # (looked up by section name), so it holds the `typilot` section.
    assert set(server["config"]) == {"typilot"}
    assert_known_settings(server["config"]["typilot"])
    languages = data["language"]
    assert languages
    for language in languages:
        entries = language["language-servers"]
        typilot = [e for e in entries if isinstance(e, dict) and e.get("name") == "typilot"]
        assert len(typilot) == 1, language
        # Typilot only adds its code actions and commands next to the usual servers.
        assert sorted(typilot[0]["only-features"]) == ["code-action", "workspace-command"]
        assert len(entries) > 1, f"{language['name']}: keep Helix's default servers"


# -- Sublime Text -----------------------------------------------------------------------------


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_sublime_lsp_settings() -> None:
    data = _json(EDITORS / "sublime" / "LSP.sublime-settings")
    client = data["clients"]["typilot"]
    assert client["enabled"] is True
    assert client["command"] == ["typilot-lsp", "--stdio"]
    assert "source.python" in client["selector"]
    # Sublime LSP answers workspace/configuration from `settings` and sends it with
    # workspace/didChangeConfiguration.
    assert set(client["settings"]) == {"typilot"}
    assert_known_settings(client["settings"]["typilot"])


def test_sublime_commands_call_server_commands(server_commands: list[str]) -> None:
    entries = _json(EDITORS / "sublime" / "Typilot.sublime-commands")
    executes = [e for e in entries if e["command"] == "lsp_execute"]
    assert executes
    for entry in executes:
        assert entry["args"]["session_name"] == "typilot"  # the client name in LSP.sublime-settings
        assert entry["args"]["command_name"] in server_commands
    assert any(e["command"] == "lsp_code_actions" for e in entries)


# -- Kate -------------------------------------------------------------------------------------


def test_kate_lsp_client_settings() -> None:
    servers = _json(EDITORS / "kate" / "settings.json")["servers"]
    full = {name: s for name, s in servers.items() if "command" in s}
    assert list(full) == ["python"]
    python = full["python"]
    assert python["command"] == ["typilot-lsp", "--stdio"]
    assert python["highlightingModeRegex"] == "^Python$"
    # Kate answers workspace/configuration from `settings` (by section) and sends it
    # with workspace/didChangeConfiguration.
    assert set(python["settings"]) == {"typilot"}
    assert_known_settings(python["settings"]["typilot"])
    for name, server in servers.items():
        assert server.get("use", "python") in full, name
        assert server["highlightingModeRegex"], name


# -- Zed --------------------------------------------------------------------------------------


def test_zed_settings() -> None:
    data = _json(EDITORS / "zed" / "settings.json")
    lsp = data["lsp"]["typilot"]
    assert lsp["binary"] == {"path": "typilot-lsp", "arguments": ["--stdio"]}
    assert set(lsp["settings"]) == {"typilot"}
    assert_known_settings(lsp["settings"]["typilot"])
    for language, options in data["languages"].items():
        assert options["language_servers"][0] == "typilot", language
        assert "..." in options["language_servers"], f"{language}: keep Zed's other servers"


def test_zed_extension_registers_the_server_the_settings_configure() -> None:
    extension = EDITORS / "zed" / "extension"
    manifest = tomllib.loads((extension / "extension.toml").read_text(encoding="utf-8"))
    # The language server id is the key Zed looks up under `lsp` in settings.json.
    assert set(manifest["language_servers"]) == set(_json(EDITORS / "zed" / "settings.json")["lsp"])
    languages = manifest["language_servers"]["typilot"]["languages"]
    for language in _json(EDITORS / "zed" / "settings.json")["languages"]:
        assert language in languages
    cargo = tomllib.loads((extension / "Cargo.toml").read_text(encoding="utf-8"))
    assert cargo["lib"]["crate-type"] == ["cdylib"]
    assert "zed_extension_api" in cargo["dependencies"]
    source = (extension / cargo["lib"]["path"]).read_text(encoding="utf-8")
    assert '"typilot-lsp"' in source and '"--stdio"' in source


# -- Emacs: the configs load in a real Emacs and carry known settings -------------------------


def _emacs_eval(load: Path, form: str) -> str:
    assert EMACS is not None
    proc = subprocess.run(
        [EMACS, "--batch", "-q", "-L", str(load.parent), "-l", str(load), "--eval", form],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _byte_compile_warnings(path: Path, tmp_path: Path) -> str:
    assert EMACS is not None
    copy = tmp_path / path.name
    copy.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    proc = subprocess.run(
        [EMACS, "--batch", "-q", "-L", str(tmp_path), "-f", "batch-byte-compile", str(copy)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("Loading ")]
    return "\n".join(lines).strip()


@needs(emacs_missing_reason("eglot"), INSTALL_HINT)
def test_eglot_config(tmp_path: Path) -> None:
    assert _byte_compile_warnings(EGLOT_CONFIG, tmp_path) == ""
    out = _emacs_eval(
        EGLOT_CONFIG,
        """(princ (json-encode
                  (list (cons "settings" typilot-settings)
                        (cons "init" (typilot--initialization-options nil))
                        (cons "workspace" (typilot--workspace-configuration nil))
                        (cons "contact" (cdr (assoc '(python-mode :language-id "python")
                                                    eglot-server-programs)))
                        (cons "confirm" eglot-confirm-server-initiated-edits))))""",
    )
    data = json.loads(out)
    assert_known_settings(data["settings"])
    assert data["init"] == {"typilot": data["settings"]}
    assert data["workspace"] == {"typilot": data["settings"]}
    assert data["contact"][:2] == ["typilot-lsp", "--stdio"]
    assert data["contact"][2] == "initializationOptions"
    assert data["confirm"] is None  # streamed edits are applied without a prompt each


@needs(emacs_missing_reason("lsp-mode"), INSTALL_HINT)
def test_lsp_mode_config(tmp_path: Path) -> None:
    assert _byte_compile_warnings(LSP_MODE_CONFIG, tmp_path) == ""
    out = _emacs_eval(
        LSP_MODE_CONFIG,
        """(let* ((client (gethash 'typilot lsp-clients))
                  (command (typilot-lsp--command)))
             (princ (json-encode
                     (list (cons "settings" typilot-settings)
                           (cons "configuration"
                                 (gethash "typilot" (lsp-configuration-section "typilot")))
                           (cons "init" (funcall (lsp--client-initialization-options client)))
                           (cons "command" command)
                           (cons "addOn" (lsp--client-add-on? client))))))""",
    )
    data = json.loads(out)
    assert_known_settings(data["settings"])
    # What lsp-mode answers to workspace/configuration for the `typilot` section.
    assert data["configuration"] == data["settings"]
    assert data["init"] == {"typilot": data["settings"]}
    assert data["command"] == ["typilot-lsp", "--stdio"]
    assert data["addOn"] is True  # runs next to the buffer's usual language server


# -- every editor has its README --------------------------------------------------------------


@pytest.mark.parametrize(
    ("editor", "config"),
    [
        ("emacs", "typilot-eglot.el"),
        ("helix", "languages.toml"),
        ("sublime", "LSP.sublime-settings"),
        ("zed", "settings.json"),
        ("kate", "settings.json"),
    ],
)
def test_editor_readme(editor: str, config: str) -> None:
    readme = (EDITORS / editor / "README.md").read_text(encoding="utf-8")
    assert config in readme
    assert "typilot.cancel" in readme or "typilot-cancel" in readme
    for section in ("## Install", "## Run", "## Cancel", "## What"):
        assert section in readme, f"editors/{editor}/README.md lacks {section!r}"
    index = (REPO / "docs" / "editors.md").read_text(encoding="utf-8")
    assert f"editors/{editor}/" in index
