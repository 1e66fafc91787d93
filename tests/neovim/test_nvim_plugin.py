"""The plugin inside real Neovim, without a server: commands, options, the applyEdit handler."""

from __future__ import annotations

from collections.abc import Callable

from tests.neovim.nvim_harness import Nvim, setup_lua

TYPE_EDIT = r"""
local run_id, line, new_text, version = ...
local lsp = require('typilot.lsp')
local bufnr = vim.api.nvim_get_current_buf()
local uri = vim.uri_from_bufnr(bufnr)
if version == vim.NIL then version = lsp.buf_version(bufnr) end
return lsp.apply_run_edit({
  label = 'typilot:' .. run_id,
  edit = { documentChanges = { {
    textDocument = { uri = uri, version = version },
    edits = { {
      range = { start = { line = line, character = 0 }, ['end'] = { line = line + 1, character = 0 } },
      newText = new_text,
    } },
  } } },
}, run_id, 'utf-16')
"""


def start_buffer(nv: Nvim, lines: list[str]) -> None:
    nv.cmd(f"edit {nv.home / 'sample.py'}")
    nv.lua("vim.api.nvim_buf_set_lines(0, 0, -1, false, ...)", lines)
    # A user's change ends with the undo sequence broken, as leaving insert mode does.
    nv.lua("vim.o.undolevels = vim.o.undolevels")


def test_plugin_defines_command_and_no_keymaps(nvim: Nvim) -> None:
    assert nvim.lua("return vim.fn.exists(':Typilot')") == 2
    completions = nvim.lua("return vim.fn.getcompletion('Typilot ', 'cmdline')")
    assert completions == ["cancel", "history", "log", "purge", "start", "voice"]
    # No default keymaps mention typilot.
    maps = nvim.lua(
        "local out = {} for _, m in ipairs({'n','v','x','i'}) do"
        " for _, k in ipairs(vim.api.nvim_get_keymap(m)) do"
        " if (k.rhs or ''):lower():find('typilot') or (k.desc or ''):lower():find('typilot')"
        " then table.insert(out, k.lhs) end end end return out"
    )
    assert maps == []


def test_setup_registers_lsp_config(nvim_factory: Callable[..., Nvim]) -> None:
    nv = nvim_factory(setup_lua(["typilot-lsp", "--stdio"], {"ollama": {"model": "qwen3:1.7b"}}))
    conf = nv.lua(
        "local c = vim.lsp.config.typilot return {"
        " cmd = c.cmd, debounce = c.flags.debounce_text_changes,"
        " init = c.init_options, settings = c.settings,"
        " handler = c.handlers['workspace/applyEdit'] == require('typilot.lsp').apply_edit_handler,"
        " enabled = vim.lsp.is_enabled('typilot') }"
    )
    assert conf["cmd"] == ["typilot-lsp", "--stdio"]
    assert conf["debounce"] == 0
    assert conf["init"] == {"ollama": {"model": "qwen3:1.7b"}}
    assert conf["settings"] == {"typilot": {"ollama": {"model": "qwen3:1.7b"}}}
    assert conf["handler"] is True
    assert conf["enabled"] is True
    assert nv.lua("return require('typilot.config').base_cmd()") == ["typilot-lsp"]


def test_setup_rejects_bad_cmd(nvim: Nvim) -> None:
    ok, err = nvim.lua("return { pcall(require('typilot').setup, { cmd = 'typilot-lsp' }) }")
    assert ok is False
    assert "`cmd` must be a list" in err


def test_run_edits_join_into_one_undo_step(nvim: Nvim) -> None:
    start_buffer(nvim, ["import os", "# gen: add two numbers", "print(1)"])
    r1 = nvim.lua(TYPE_EDIT, "r1", 1, "def add(a, b):\n", None)
    assert r1 == {"applied": True}
    r2 = nvim.lua(
        TYPE_EDIT.replace("line + 1, character = 0", "line, character = 0"),
        "r1",
        2,
        "    return a + b\n",
        None,
    )
    assert r2 == {"applied": True}
    assert nvim.buffer_lines() == ["import os", "def add(a, b):", "    return a + b", "print(1)"]
    nvim.cmd("normal! u")
    assert nvim.buffer_lines() == ["import os", "# gen: add two numbers", "print(1)"]
    nvim.cmd("redo")
    assert nvim.buffer_lines() == ["import os", "def add(a, b):", "    return a + b", "print(1)"]


def test_separate_runs_are_separate_undo_steps(nvim: Nvim) -> None:
    start_buffer(nvim, ["# gen: one", "# gen: two"])
    assert nvim.lua(TYPE_EDIT, "a", 0, "one = 1\n", None) == {"applied": True}
    assert nvim.lua(TYPE_EDIT, "b", 1, "two = 2\n", None) == {"applied": True}
    assert nvim.buffer_lines() == ["one = 1", "two = 2"]
    nvim.cmd("normal! u")
    assert nvim.buffer_lines() == ["one = 1", "# gen: two"]
    nvim.cmd("normal! u")
    assert nvim.buffer_lines() == ["# gen: one", "# gen: two"]


def test_first_edit_of_a_run_starts_its_own_undo_step(nvim: Nvim) -> None:
    """Even when the user's change and the run's first edit land in the same event-loop tick."""
    start_buffer(nvim, ["a", "b"])
    nvim.lua("vim.bo.undolevels = 50")
    after = nvim.lua(
        "vim.api.nvim_buf_set_lines(0, 0, 1, false, { '# gen: x' })"
        " return loadstring(...)('r', 0, 'x = 1\\n', vim.NIL)",
        TYPE_EDIT,
    )
    assert after == {"applied": True}
    assert nvim.buffer_lines() == ["x = 1", "b"]
    nvim.cmd("normal! u")
    assert nvim.buffer_lines() == ["# gen: x", "b"]
    # The buffer's own 'undolevels' is left alone.
    assert nvim.lua("return vim.bo.undolevels") == 50


def test_failed_edit_is_reported_and_does_not_join_later_ones(nvim: Nvim) -> None:
    start_buffer(nvim, ["# gen: x", "tail"])
    nvim.lua("vim.bo.modifiable = false")
    result = nvim.lua(TYPE_EDIT, "r", 0, "x = 1\n", None)
    assert result["applied"] is False
    assert result["failureReason"] == "Buffer is not 'modifiable'"
    nvim.lua("vim.bo.modifiable = true")
    nvim.lua("vim.api.nvim_buf_set_lines(0, 1, 2, false, { 'tail2' })")
    assert nvim.lua(TYPE_EDIT, "r", 0, "x = 1\n", None) == {"applied": True}
    nvim.cmd("normal! u")
    assert nvim.buffer_lines() == ["# gen: x", "tail2"]


def test_edit_after_undo_does_not_join(nvim: Nvim) -> None:
    """undojoin fails right after an undo (E790); the handler still applies the edit."""
    start_buffer(nvim, ["# gen: x", "tail"])
    assert nvim.lua(TYPE_EDIT, "r", 0, "x = 1\n", None) == {"applied": True}
    nvim.cmd("normal! u")
    assert nvim.buffer_lines() == ["# gen: x", "tail"]
    assert nvim.lua(TYPE_EDIT, "r", 1, "tail2\n", None) == {"applied": True}
    assert nvim.buffer_lines() == ["# gen: x", "tail2"]


def test_stale_version_is_refused_not_skipped(nvim: Nvim) -> None:
    start_buffer(nvim, ["# gen: x", "keep"])
    old = nvim.lua("return require('typilot.lsp').buf_version(0)")
    nvim.lua("vim.api.nvim_buf_set_lines(0, 1, 2, false, {'typed by the user'})")
    result = nvim.lua(TYPE_EDIT, "r", 0, "x = 1\n", old)
    assert result["applied"] is False
    assert "newer than the edit" in result["failureReason"]
    assert nvim.buffer_lines() == ["# gen: x", "typed by the user"]
    # The same edit at the current version goes through.
    assert nvim.lua(TYPE_EDIT, "r", 0, "x = 1\n", None) == {"applied": True}
    assert nvim.buffer_lines() == ["x = 1", "typed by the user"]


def test_statusline_is_empty_when_idle(nvim_factory: Callable[..., Nvim]) -> None:
    nv = nvim_factory(setup_lua(["typilot-lsp"]))
    assert nv.lua("return require('typilot').statusline()") == ""
    assert nv.lua("return require('typilot').progress()") == []


def test_commands_without_server_say_what_to_do(nvim: Nvim) -> None:
    nvim.lua("require('typilot').setup({ cmd = { 'typilot-lsp' }, autostart = false })")
    nvim.cmd("enew")
    nvim.cmd("Typilot cancel")
    messages = nvim.messages()
    assert "no server attached to this buffer" in messages
    assert "checkhealth typilot" in messages


def test_help_file_has_valid_tags(nvim: Nvim, tmp_path) -> None:
    import shutil

    from tests.neovim.nvim_harness import PLUGIN_DIR

    doc = tmp_path / "doc"
    shutil.copytree(PLUGIN_DIR / "doc", doc)
    nvim.cmd(f"helptags {doc}")
    tags = (doc / "tags").read_text()
    for tag in ("typilot", "typilot.setup()", ":Typilot", "typilot-health", "typilot-keymaps"):
        assert f"{tag}\t" in tags
    nvim.lua("vim.opt.runtimepath:prepend(...)", str(tmp_path))
    nvim.cmd("help typilot-undo-merge")
    assert nvim.lua("return vim.bo.filetype") == "help"
