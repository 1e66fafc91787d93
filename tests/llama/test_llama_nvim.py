"""A real model in real headless Neovim: the plugin, typilot-lsp and a real llama-server.

The same properties as over stdio (tests/llama/properties.py), seen in a Neovim buffer, and the
undo a user would press: one `u` brings back the file as it was before the run.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.llama.llama_server import LlamaServer
from tests.llama.properties import check_run
from tests.llama.test_llama_stdio import JS_SUM, PY_FIX, RUN_TIMEOUT, llama_settings
from tests.neovim.nvim_harness import Nvim, find_server, setup_lua

PY_GEN = (
    "import os\n\n\ndef main():\n    root = os.getcwd()\n"
    "    # gen: print every file name in the folder root, one per line\n    return root\n"
)


@pytest.fixture
def editor(nvim_factory: Callable[..., Nvim], llama: LlamaServer) -> Nvim:
    return nvim_factory(setup_lua(find_server(), llama_settings(llama, "auto")))


def run_in_buffer(nv: Nvim, name: str, text: str, line: int, kind: str) -> str:
    path = nv.home / name
    path.write_text(text)
    nv.cmd(f"edit {path}")
    nv.wait_for(
        "local c = require('typilot.lsp').get_client(0)"
        " return c ~= nil and c.initialized and c.server_capabilities ~= nil",
        what="the typilot client to attach and initialize",
    )
    nv.lua("vim.api.nvim_win_set_cursor(0, { ... + 1, 0 })", line)
    nv.lua(
        "local kind = ... vim.lsp.buf.code_action({ apply = true, filter = function(a)"
        " return vim.startswith(a.title, 'Typilot: ' .. kind) end })",
        kind,
    )
    nv.wait_for(
        "local ids = require('typilot.lsp').run_ids() return #ids > 0", what="the run to start"
    )
    nv.wait_for(
        "return require('typilot').statusline() == ''",
        timeout=RUN_TIMEOUT,
        what="the run's progress to end",
    )
    return "\n".join(nv.buffer_lines()) + "\n"


def test_gen_in_python_streams_and_one_undo_restores_the_file(editor: Nvim) -> None:
    after = run_in_buffer(editor, "walk.py", PY_GEN, 5, "gen")
    check_run(PY_GEN, after, command="gen", prefix_line=5)
    ids = editor.lua("return require('typilot.lsp').run_ids()")
    stats = editor.lua("return require('typilot.lsp').run_stats(...)", ids[-1])
    assert stats["applied"] >= 2, f"expected a streamed run (several edits), got {stats}"
    editor.cmd("normal! u")
    assert "\n".join(editor.buffer_lines()) + "\n" == PY_GEN
    editor.cmd("redo")
    assert "\n".join(editor.buffer_lines()) + "\n" == after


def test_fix_in_python_is_one_undo_step(editor: Nvim) -> None:
    after = run_in_buffer(editor, "stats.py", PY_FIX, 3, "fix")
    check_run(PY_FIX, after, command="fix", prefix_line=3, target_last=5)
    editor.cmd("normal! u")
    assert "\n".join(editor.buffer_lines()) + "\n" == PY_FIX


def test_sum_in_javascript_writes_comments(editor: Nvim) -> None:
    after = run_in_buffer(editor, "debounce.js", JS_SUM, 0, "sum")
    check_run(JS_SUM, after, command="sum", prefix_line=0, comment="//")
