""":checkhealth typilot in real Neovim, with the real CLI, against the replay server or nothing."""

from __future__ import annotations

import socket
from collections.abc import Callable

from tests.neovim.nvim_harness import REPO, Nvim, find_server, lua_str, setup_lua
from tests.replay.ollama import ReplayOllama
from typilot_lsp import __version__


def checkhealth(nv: Nvim) -> str:
    nv.cmd("checkhealth typilot")
    return "\n".join(nv.buffer_lines())


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_health_reports_server_ollama_and_model(
    nvim_factory: Callable[..., Nvim], replay_ollama: ReplayOllama
) -> None:
    nv = nvim_factory(
        setup_lua(
            find_server(),
            {"ollama": {"host": replay_ollama.url, "model": "qwen2.5-coder:1.5b"}},
        )
    )
    report = checkhealth(nv)
    assert "setup() was called" in report
    assert "typilot-lsp " in report  # the --version line
    assert f"Ollama 0.12.6 is running at {replay_ollama.url}" in report
    assert "model qwen2.5-coder:1.5b is installed and local" in report
    assert "runs can work" in report
    assert "typilot: voice (optional)" in report
    # The health check asked the replay server, not some other Ollama.
    assert replay_ollama.events_of("request")


def test_health_says_how_to_fix_unreachable_ollama(nvim_factory: Callable[..., Nvim]) -> None:
    host = f"http://127.0.0.1:{closed_port()}"
    nv = nvim_factory(setup_lua(find_server(), {"ollama": {"host": host}}))
    report = checkhealth(nv)
    assert f"Ollama is not running at {host}: start it with `ollama serve`" in report
    assert "ERROR" in report
    assert "runs cannot work until the errors below are fixed" in report


def test_health_says_how_to_fix_missing_model(
    nvim_factory: Callable[..., Nvim], replay_ollama: ReplayOllama
) -> None:
    nv = nvim_factory(
        setup_lua(
            find_server(), {"ollama": {"host": replay_ollama.url, "model": "no-such-model:7b"}}
        )
    )
    report = checkhealth(nv)
    assert "ollama pull no-such-model:7b" in report
    assert "ERROR" in report


def test_health_reports_missing_server_executable(nvim_factory: Callable[..., Nvim]) -> None:
    nv = nvim_factory(setup_lua(["typilot-lsp-not-installed-here"]))
    report = checkhealth(nv)
    assert "`typilot-lsp-not-installed-here` not found on $PATH" in report
    assert "pipx install typilot-lsp" in report
    assert "pip install typilot-lsp in a virtual environment" in report
    # loaded from this repository: the server can be installed from the same clone
    assert f"from the clone the plugin came from: pipx install {REPO}" in report
    assert "typilot-lsp[voice]" in report


def test_health_of_a_default_setup_warns_about_nothing(
    nvim_factory: Callable[..., Nvim], replay_ollama: ReplayOllama
) -> None:
    """A new user's setup: only `cmd`, no settings (the host comes from $OLLAMA_HOST)."""
    nv = nvim_factory(
        f"require('typilot').setup({{ cmd = {{ {lua_str(find_server()[0])} }} }})\n",
        {"OLLAMA_HOST": replay_ollama.url},
    )
    report = checkhealth(nv)
    assert "unknown setting" not in report, report
    assert "runs can work" in report, report
    # voice is optional and depends on this machine's microphone: only its section may warn
    before_voice = report.split("typilot: voice (optional)")[0]
    assert "WARNING" not in before_voice and "ERROR" not in before_voice, before_voice
    assert f"plugin {__version__}" in report
    # How runs are seen in a stock Neovim, and how to turn it off.
    assert "progress: one line in the message area while a run works" in report
    assert "setup({ progress = false }) turns it off" in report
    assert "full text in :Typilot log" in report


def test_health_says_where_progress_shows_when_the_line_is_off(
    nvim_factory: Callable[..., Nvim], replay_ollama: ReplayOllama
) -> None:
    nv = nvim_factory(
        setup_lua(find_server(), {"ollama": {"host": replay_ollama.url}}, "  progress = false,\n")
        + "vim.o.statusline = '%f %{v:lua.require(\"typilot\").statusline()}'\n"
    )
    report = checkhealth(nv)
    assert "progress: no line in the message area (`progress = false`)" in report, report
    assert "shown by: the 'statusline'" in report


def test_health_warns_when_progress_shows_twice(
    nvim_factory: Callable[..., Nvim], replay_ollama: ReplayOllama
) -> None:
    nv = nvim_factory(
        setup_lua(find_server(), {"ollama": {"host": replay_ollama.url}})
        + "vim.o.statusline = '%f %{v:lua.require(\"typilot\").statusline()}'\n"
    )
    report = checkhealth(nv)
    assert "show it too" in report, report
    assert "setup({ progress = false }) to show it only there" in report


def test_health_passes_nested_empty_settings_as_objects(
    nvim_factory: Callable[..., Nvim], replay_ollama: ReplayOllama
) -> None:
    nv = nvim_factory(
        setup_lua(
            find_server(),
            {"ollama": {"host": replay_ollama.url, "options": {}}, "commands": {}},
        )
    )
    report = checkhealth(nv)
    assert "settings:" not in report.split("typilot: voice (optional)")[0], report
    assert "runs can work" in report


def test_health_warns_without_setup(nvim: Nvim) -> None:
    report = checkhealth(nvim)
    assert "setup() was not called" in report


def test_health_uses_the_running_clients_command_and_settings(
    nvim: Nvim, replay_ollama: ReplayOllama
) -> None:
    """A client started without setup() (as nvim-lspconfig does): its cmd and settings count."""
    nvim.lua(
        """
        local exe, host, file = ...
        local conf = vim.tbl_extend('force', require('typilot.lsp').client_config(), {
          cmd = { exe, '--stdio' },
          settings = { typilot = { ollama = { host = host } } },
        })
        vim.cmd.edit(file)
        vim.lsp.start(conf, { bufnr = 0 })
        """,
        find_server()[0],
        replay_ollama.url,
        str(nvim.home / "x.py"),
    )
    nvim.wait_for(
        "local c = require('typilot.lsp').get_client(0) return c ~= nil and c.initialized",
        what="the client",
    )
    report = checkhealth(nvim)
    assert "started without setup()" in report
    assert "setup() was not called" not in report
    assert f"({find_server()[0]})" in report
    assert f"Ollama 0.12.6 is running at {replay_ollama.url}" in report


def test_health_refuses_a_cloud_model(
    nvim_factory: Callable[..., Nvim], replay_ollama: ReplayOllama
) -> None:
    nv = nvim_factory(
        setup_lua(
            find_server(), {"ollama": {"host": replay_ollama.url, "model": "gpt-oss:120b-cloud"}}
        )
    )
    report = checkhealth(nv)
    assert "model gpt-oss:120b-cloud is a cloud model" in report
    assert "typilot.privacy.allowCloudModels" in report
    assert "runs cannot work until the errors below are fixed" in report
