"""The plugin-manager specs documented in neovim/README.md load the plugin from the repository.

The plugin lives in the repository's neovim/ folder, so a manager that clones the repository
must put that folder on 'runtimepath'. These tests take the Lua blocks from the README as they
are and do what the manager does around them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from nvim_harness import PLUGIN_DIR, REPO, Nvim, lua_str

README = PLUGIN_DIR / "README.md"


def documented_block(marker: str) -> str:
    """The ```lua block of neovim/README.md whose first line is `marker`."""
    for block in re.findall(r"```lua\n(.*?)```", README.read_text(encoding="utf-8"), re.S):
        if block.startswith(marker):
            return block
    raise AssertionError(f"no ```lua block starting with {marker!r} in {README}")


def assert_loaded(nv: Nvim, file: Path) -> None:
    """setup() ran, :Typilot exists (plugin/typilot.lua was sourced) and a buffer gets the server."""
    assert nv.lua("return require('typilot')._did_setup") is True
    assert nv.lua("return vim.fn.exists(':Typilot')") == 2
    loaded_from = nv.lua("return vim.api.nvim_get_runtime_file('lua/typilot/init.lua', false)[1]")
    assert Path(loaded_from).resolve() == (PLUGIN_DIR / "lua" / "typilot" / "init.lua").resolve()
    file.write_text("x = 1\n")
    nv.cmd(f"edit {file}")
    nv.wait_for(
        "local c = require('typilot.lsp').get_client(0) return c ~= nil and c.initialized",
        what="the server to attach",
        timeout=60,
    )


def test_the_documented_lazy_spec_loads_the_plugin(nvim_factory: Callable[..., Nvim]) -> None:
    spec = documented_block("-- lazy.nvim spec for Typilot")
    assert "plugin.dir .. '/neovim'" in spec
    # What lazy.nvim does for a plugin from a clone: plugin.dir is the clone (here: this
    # repository), put first on 'runtimepath'; its plugin/ files are sourced (the repository root
    # has none); then config(plugin, opts).
    init = (
        f"local spec = assert(loadstring({lua_str(spec)}))()\n"
        f"local plugin = vim.tbl_extend('force', spec, {{ dir = {lua_str(str(REPO))} }})\n"
        "vim.opt.rtp:prepend(plugin.dir)\n"
        "for _, f in ipairs(vim.fn.glob(plugin.dir .. '/plugin/**/*.lua', false, true)) do\n"
        "  vim.cmd.source(f)\n"
        "end\n"
        "spec.config(plugin, vim.deepcopy(spec.opts))\n"
    )
    nv = nvim_factory(init, rtp=False)
    assert not (REPO / "plugin").exists(), "the test assumes no plugin/ folder at the root"
    assert_loaded(nv, nv.home / "demo.py")


def test_the_documented_vim_pack_lines_load_the_plugin(nvim_factory: Callable[..., Nvim]) -> None:
    lines = documented_block("-- vim.pack lines for Typilot")
    assert "vim.pack.add(" in lines
    # vim.pack (Neovim 0.12) clones into stdpath('data')/site/pack/core/opt/<name> and :packadds
    # it. A stand-in does the same with a link to this repository (Neovim 0.11 has no vim.pack,
    # and the documented line has no real URL to clone).
    init = (
        "local dir = vim.fn.stdpath('data') .. '/site/pack/core/opt'\n"
        "vim.fn.mkdir(dir, 'p')\n"
        f"vim.uv.fs_symlink({lua_str(str(REPO))}, dir .. '/typilot')\n"
        "vim.opt.packpath:prepend(vim.fn.stdpath('data') .. '/site')\n"
        "vim.pack = { add = function(specs) for _, s in ipairs(specs) do vim.cmd.packadd(s.name) end end }\n"
        + lines
    )
    nv = nvim_factory(init, rtp=False)
    assert_loaded(nv, nv.home / "demo.py")
