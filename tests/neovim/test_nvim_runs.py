"""Runs in real headless Neovim against the real server (stdio) and the Ollama replay server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.neovim.nvim_harness import Nvim, find_server, setup_lua
from tests.replay.ollama import ReplayOllama

REPLY = (
    'def add(a, b):\n    """Return the sum of a and b."""\n    result = a + b\n    return result\n'
)
SLOW_REPLY = "".join(f"value_{i} = {i} * {i}\n" for i in range(200))

ORIGINAL = ["import os", "", "# gen: add two numbers", "", "print(os.name)"]


def open_file(nv: Nvim, lines: list[str], name: str = "sample.py") -> Path:
    path = nv.home / name
    path.write_text("\n".join(lines) + "\n")
    nv.cmd(f"edit {path}")
    nv.wait_for(
        "local c = require('typilot.lsp').get_client(0)"
        " return c ~= nil and c.initialized and c.server_capabilities ~= nil",
        what="the typilot client to attach and initialize",
    )
    return path


def start_run(nv: Nvim, line: int, kind: str = "gen") -> None:
    """Cursor on `line` (0-based), then the usual vim.lsp.buf.code_action(), applying ours."""
    nv.lua("vim.api.nvim_win_set_cursor(0, { ... + 1, 0 })", line)
    nv.lua(
        "local kind = ... vim.lsp.buf.code_action({ apply = true, filter = function(a)"
        " return vim.startswith(a.title, 'Typilot: ' .. kind) end })",
        kind,
    )


def run_add_two_numbers(nv: Nvim, replay_ollama: ReplayOllama, reply: str, tps: int) -> None:
    """ORIGINAL opened and its `gen: add two numbers` run started, answered with `reply` at
    `tps` tokens a second."""
    replay_ollama.add_rule(match="add two numbers", reply=reply, tokens_per_second=tps)
    open_file(nv, ORIGINAL)
    start_run(nv, 2)


def last_run_stats(nv: Nvim) -> dict[str, int]:
    """The plugin's counts for the newest run (edits applied, refused, ...)."""
    run = nv.wait_for("local ids = require('typilot.lsp').run_ids() return ids[#ids]", what="a run")
    return dict(nv.lua("return require('typilot.lsp').run_stats(...)", run))


def lines_of(text: str) -> list[str]:
    """A reply's lines, as the buffer holds them."""
    return text.rstrip("\n").split("\n")


def with_reply(reply: str) -> list[str]:
    """ORIGINAL once the `gen:` line became `reply`."""
    return ["import os", "", *lines_of(reply), "", "print(os.name)"]


def wait_buffer(nv: Nvim, expected: list[str], what: str, timeout: float | None = None) -> None:
    """Until the current buffer's lines are `expected`."""
    extra = {} if timeout is None else {"timeout": timeout}
    nv.wait_for(
        "return vim.deep_equal(vim.api.nvim_buf_get_lines(0, 0, -1, false), ...)",
        expected,
        what=what,
        **extra,
    )


def wait_streamed(nv: Nvim, text: str, what: str = "some streamed lines") -> None:
    """Until `text` (a Lua pattern) is somewhere in the current buffer."""
    nv.wait_for(
        "return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\\n'):find(...) ~= nil",
        text,
        timeout=30,
        what=what,
    )


def wait_progress_end(nv: Nvim, what: str = "the run's progress to end") -> None:
    nv.wait_for("return require('typilot').statusline() == ''", what=what)


def wait_progress(nv: Nvim) -> str:
    """The statusline once a run's progress shows in it."""
    return str(
        nv.wait_for(
            "local s = require('typilot').statusline() return s ~= '' and s", what="progress"
        )
    )


def undo_in_normal_mode(nv: Nvim) -> None:
    """<Esc> (a run may leave Neovim in insert mode, as a visual selection does), then `u`."""
    nv.api.input("<Esc>")
    nv.wait_for("return vim.api.nvim_get_mode().mode == 'n'", what="normal mode")
    nv.cmd("normal! u")


def make_editor(
    nvim_factory: Callable[..., Nvim], replay_ollama: ReplayOllama, start_path: str = "enable"
) -> Nvim:
    """Neovim with setup() done; start_path "start" takes the Neovim 0.10 path (vim.lsp.start)."""
    before = "require('typilot.lsp').use_enable = false\n" if start_path == "start" else ""
    return nvim_factory(
        before
        + setup_lua(
            find_server(),
            {"ollama": {"host": replay_ollama.url, "model": "qwen2.5-coder:1.5b"}},
        )
    )


@pytest.fixture
def editor(nvim_factory: Callable[..., Nvim], replay_ollama: ReplayOllama) -> Nvim:
    return make_editor(nvim_factory, replay_ollama)


@pytest.mark.parametrize("start_path", ["enable", "start"])
def test_setup_starts_one_server_for_every_buffer(
    nvim_factory: Callable[..., Nvim], replay_ollama: ReplayOllama, start_path: str
) -> None:
    editor = make_editor(nvim_factory, replay_ollama, start_path)
    assert editor.lua("return vim.lsp.is_enabled('typilot')") is (start_path == "enable")
    open_file(editor, ["# gen: a"], "a.py")
    first = editor.lua("return require('typilot.lsp').get_client(0).id")
    open_file(editor, ["// gen: b"], "b.js")
    assert editor.lua("return require('typilot.lsp').get_client(0).id") == first
    assert editor.lua("return #vim.lsp.get_clients({ name = 'typilot' })") == 1
    # The server got the settings and the plugin's client options.
    info = editor.lua(
        "local c = require('typilot.lsp').get_client(0) return {"
        " debounce = c.flags.debounce_text_changes,"
        " host = c.settings.typilot.ollama.host,"
        " actions = c.server_capabilities.codeActionProvider ~= nil,"
        " commands = c.server_capabilities.executeCommandProvider.commands }"
    )
    assert info["debounce"] == 0
    assert info["actions"] is True
    assert "typilot.run" in info["commands"]
    assert "typilot.cancel" in info["commands"]


@pytest.mark.parametrize("start_path", ["enable", "start"])
def test_code_action_streams_reply_and_one_undo_restores_prefix(
    nvim_factory: Callable[..., Nvim], replay_ollama: ReplayOllama, start_path: str
) -> None:
    editor = make_editor(nvim_factory, replay_ollama, start_path)
    run_add_two_numbers(editor, replay_ollama, REPLY, 60)
    expected = with_reply(REPLY)
    wait_buffer(editor, expected, "the full reply in the buffer")
    replay_ollama.wait_for("complete")
    wait_progress_end(editor)
    stats = last_run_stats(editor)
    assert stats["applied"] >= 2, f"expected a streamed run (several edits), got {stats}"
    assert editor.buffer_lines() == expected

    editor.cmd("normal! u")
    assert editor.buffer_lines() == ORIGINAL
    editor.cmd("redo")
    assert editor.buffer_lines() == expected


def test_progress_shows_in_statusline_and_cancel_stops_the_run(
    editor: Nvim, replay_ollama: ReplayOllama
) -> None:
    run_add_two_numbers(editor, replay_ollama, SLOW_REPLY, 20)
    wait_streamed(editor, "value_3")
    status = wait_progress(editor)
    assert "Typilot" in status

    editor.cmd("Typilot cancel")
    disconnect = replay_ollama.wait_for("disconnect", timeout=15)
    assert disconnect is not None
    wait_progress_end(editor)
    lines = editor.buffer_lines()
    stats = last_run_stats(editor)
    assert stats["applied"] >= 2, f"expected several streamed edits before the cancel, got {stats}"
    # What streamed stays, contiguous, and the run stopped well before the end of the reply.
    assert lines[:2] == ["import os", ""]
    assert lines[-2:] == ["", "print(os.name)"]
    streamed = "\n".join(lines[2:-2])
    assert streamed, "nothing of the reply stayed in the buffer"
    assert SLOW_REPLY.startswith(streamed)
    assert "value_199" not in streamed
    # One undo still brings back the prefix line.
    editor.cmd("normal! u")
    assert editor.buffer_lines() == ORIGINAL


def test_typing_while_a_run_streams_keeps_every_keystroke(
    editor: Nvim, replay_ollama: ReplayOllama
) -> None:
    run_add_two_numbers(editor, replay_ollama, REPLY, 15)
    editor.wait_for(
        "return vim.api.nvim_buf_get_lines(0, 2, 3, false)[1]:find('def add') ~= nil",
        timeout=30,
        what="the first streamed text",
    )
    # The user edits above and below the region while it streams.
    editor.lua("vim.api.nvim_buf_set_lines(0, 0, 1, false, { 'import os, sys' })")
    editor.lua("vim.api.nvim_buf_set_lines(0, -1, -1, false, { 'print(sys.argv)' })")
    expected = [
        "import os, sys",
        "",
        *lines_of(REPLY),
        "",
        "print(os.name)",
        "print(sys.argv)",
    ]
    wait_buffer(editor, expected, "the full reply with the user's edits kept", timeout=30)


def test_edit_racing_a_keystroke_is_refused_and_recomputed(
    editor: Nvim, replay_ollama: ReplayOllama
) -> None:
    """A keystroke that lands between the server computing an edit and Neovim applying it makes
    the edit stale: the plugin answers applied=false (Neovim's default handler would answer true
    and drop the chunk) and the server sends it again against the new text."""
    replay_ollama.add_rule(match="add two numbers", reply=REPLY, tokens_per_second=40)
    open_file(editor, ORIGINAL)
    editor.lua(
        """
        local lsp = require('typilot.lsp')
        local apply = lsp.apply_run_edit
        local n = 0
        lsp.apply_run_edit = function(params, run_id, encoding)
          n = n + 1
          if n == 3 then
            -- The user's keystroke arrives first.
            vim.api.nvim_buf_set_lines(0, 0, 1, false, { 'import os, sys' })
          end
          return apply(params, run_id, encoding)
        end
        """
    )
    start_run(editor, 2)
    expected = ["import os, sys", "", *lines_of(REPLY), "", "print(os.name)"]
    wait_buffer(editor, expected, "the full reply, with the racing keystroke kept", timeout=30)
    replay_ollama.wait_for("complete")
    wait_progress_end(editor)
    assert editor.buffer_lines() == expected
    stats = last_run_stats(editor)
    assert stats["refused"] >= 1, stats


PICK_FIRST = """
_G.picks = {}
vim.ui.select = function(items, opts, on_choice)
  local labels = {}
  for _, item in ipairs(items) do
    table.insert(labels, opts.format_item and opts.format_item(item) or tostring(item))
  end
  table.insert(_G.picks, { prompt = opts.prompt, labels = labels })
  on_choice(items[1], 1)
end
"""


def test_history_shows_the_response_and_purge_empties_it(
    editor: Nvim, replay_ollama: ReplayOllama
) -> None:
    run_add_two_numbers(editor, replay_ollama, REPLY, 200)
    replay_ollama.wait_for("complete")
    wait_progress_end(editor)
    # The run is recorded just after its progress ends.
    editor.wait_for(
        "local r = require('typilot.lsp').get_client(0):request_sync('typilot/history', { limit = 5 })"
        " return r and r.result and #r.result.entries > 0",
        what="the run in the history",
    )
    editor.lua(PICK_FIRST)

    source = editor.lua("return vim.api.nvim_get_current_buf()")
    editor.cmd("Typilot history")
    scratch = editor.wait_for(
        "local b = vim.api.nvim_get_current_buf() return b ~= ... and b",
        source,
        what="the history scratch buffer",
    )
    picks = editor.lua("return _G.picks")
    assert picks[0]["prompt"] == "Typilot history"
    assert "gen: add two numbers (sample.py)" in picks[0]["labels"][0]
    assert editor.lua("return vim.api.nvim_buf_get_lines(..., 0, -1, false)", scratch) == (
        lines_of(REPLY)
    )
    assert editor.lua("return { vim.bo[...].buftype, vim.bo[...].filetype }", scratch, scratch) == [
        "nofile",
        "python",
    ]
    editor.cmd("close")

    editor.cmd("Typilot purge")
    editor.wait_for(
        "return vim.api.nvim_exec2('messages', { output = true }).output:find('deleted 1 history entry')",
        what="the purge message",
    )
    assert editor.lua("return _G.picks[2].prompt") == "Delete every stored prompt and response?"
    editor.cmd("Typilot history")
    editor.wait_for(
        "return vim.api.nvim_exec2('messages', { output = true }).output:find('no history yet')",
        what="an empty history",
    )


def test_plain_package_install_works(
    nvim_factory: Callable[..., Nvim], replay_ollama: ReplayOllama
) -> None:
    """The plugin linked into pack/*/start, setup() in init.lua, nothing else."""
    nv = nvim_factory(
        setup_lua(find_server(), {"ollama": {"host": replay_ollama.url}}), package=True
    )
    assert nv.lua("return vim.fn.exists(':Typilot')") == 2
    source = nv.lua("return vim.api.nvim_get_runtime_file('lua/typilot/init.lua', false)[1]")
    assert "/pack/typilot/start/typilot/" in source
    run_add_two_numbers(nv, replay_ollama, REPLY, 200)
    expected = with_reply(REPLY)
    wait_buffer(nv, expected, "the full reply in the buffer")


FIX_ORIGINAL = [
    "import os",
    "",
    "# fix: handle empty lists",
    "def mean(xs):",
    "    return sum(xs) / len(xs)",
    "",
    "print(mean([1, 2]))",
]
FIX_REPLY = "def mean(xs):\n    if not xs:\n        return 0.0\n    return sum(xs) / len(xs)\n"


def test_fix_replaces_prefix_and_block_in_one_undo_step(
    editor: Nvim, replay_ollama: ReplayOllama
) -> None:
    replay_ollama.add_rule(match="handle empty lists", reply=FIX_REPLY, tokens_per_second=60)
    open_file(editor, FIX_ORIGINAL)
    start_run(editor, 2, "fix")
    expected = ["import os", "", *lines_of(FIX_REPLY), "", "print(mean([1, 2]))"]
    wait_buffer(editor, expected, "the fixed block in place of the prefix line and the old block")
    wait_progress_end(editor)
    assert editor.buffer_lines() == expected
    editor.cmd("normal! u")
    assert editor.buffer_lines() == FIX_ORIGINAL


def test_sum_writes_a_comment_and_keeps_the_code(editor: Nvim, replay_ollama: ReplayOllama) -> None:
    original = ["-- sum:", "local function mean(xs)", "  return #xs", "end"]
    replay_ollama.add_rule(
        match="local function mean", reply="Counts the items of xs.", tokens_per_second=60
    )
    open_file(editor, original, "mean.lua")
    start_run(editor, 0, "sum")
    expected = ["-- Counts the items of xs.", *original[1:]]
    wait_buffer(editor, expected, "the summary comment")
    wait_progress_end(editor)
    undo_in_normal_mode(editor)
    assert editor.buffer_lines() == original


def test_multibyte_text_streams_intact(editor: Nvim, replay_ollama: ReplayOllama) -> None:
    reply = 'greeting = "héllo wörld 🎉 — ünïcode ✓"\nprint(greeting, "日本語")\n'
    original = ['title = "naïve café 🎉"', "# gen: print a greeting", "done = True"]
    replay_ollama.add_rule(match="print a greeting", reply=reply, tokens_per_second=40)
    open_file(editor, original)
    start_run(editor, 1)
    expected = [original[0], *lines_of(reply), "done = True"]
    wait_buffer(editor, expected, "the reply with its multibyte characters")
    wait_progress_end(editor)
    undo_in_normal_mode(editor)
    assert editor.buffer_lines() == original


def test_real_keystrokes_in_insert_mode_during_a_run(
    editor: Nvim, replay_ollama: ReplayOllama
) -> None:
    """Typed keys (nvim_input, as from a keyboard) on another line while the run streams."""
    run_add_two_numbers(editor, replay_ollama, REPLY, 15)
    wait_streamed(editor, "def add", "the first streamed text")
    # Open a line at the end of the file and type, in insert mode, while edits arrive.
    editor.api.input("Gocount = 0")
    for ch in " + 1  # typed during the run":
        editor.api.input(ch)
        editor.lua("vim.wait(30)")
    editor.api.input("<Esc>")
    expected = [
        "import os",
        "",
        *lines_of(REPLY),
        "",
        "print(os.name)",
        "count = 0 + 1  # typed during the run",
    ]
    wait_buffer(editor, expected, "the full reply and every typed key", timeout=30)
    replay_ollama.wait_for("complete")
    wait_progress_end(editor)
    assert editor.lua("return vim.api.nvim_get_mode().mode") == "n"
    assert editor.buffer_lines() == expected


def test_client_config_without_setup(
    nvim_factory: Callable[..., Nvim], replay_ollama: ReplayOllama
) -> None:
    """Started by other means (as nvim-lspconfig does) from client_config(): the run is still one
    undo step and its progress still reaches the statusline."""
    import json

    nv = nvim_factory()
    nv.lua(
        """
        local cmd, host = ...
        vim.api.nvim_create_autocmd('FileType', { callback = function(ev)
          local conf = vim.tbl_extend('force', require('typilot.lsp').client_config(), {
            cmd = vim.json.decode(cmd),
            settings = { typilot = { ollama = { host = host } } },
            root_dir = vim.fs.dirname(vim.api.nvim_buf_get_name(ev.buf)),
          })
          vim.lsp.start(conf, { bufnr = ev.buf })
        end })
        """,
        json.dumps(find_server()),
        replay_ollama.url,
    )
    run_add_two_numbers(nv, replay_ollama, SLOW_REPLY, 60)
    status = wait_progress(nv)
    assert "Typilot" in status
    wait_streamed(nv, "value_3")
    nv.cmd("Typilot cancel")
    replay_ollama.wait_for("disconnect", timeout=15)
    wait_progress_end(nv)
    nv.cmd("normal! u")
    assert nv.buffer_lines() == ORIGINAL


def test_crlf_file_streams_without_stray_carriage_returns(
    editor: Nvim, replay_ollama: ReplayOllama
) -> None:
    replay_ollama.add_rule(match="add two numbers", reply=REPLY, tokens_per_second=60)
    path = editor.home / "dos.py"
    path.write_bytes(("\r\n".join(ORIGINAL) + "\r\n").encode())
    editor.cmd(f"edit {path}")
    assert editor.lua("return vim.bo.fileformat") == "dos"
    editor.wait_for(
        "local c = require('typilot.lsp').get_client(0) return c ~= nil and c.initialized",
        what="the client",
    )
    start_run(editor, 2)
    expected = with_reply(REPLY)
    wait_buffer(editor, expected, "the reply, line by line, without \\r")
    wait_progress_end(editor)
    editor.cmd("write")
    assert path.read_bytes() == ("\r\n".join(expected) + "\r\n").encode()


def test_runs_in_two_buffers_are_independent_undo_steps(
    editor: Nvim, replay_ollama: ReplayOllama
) -> None:
    replay_ollama.add_rule(match="add two numbers", reply=REPLY, tokens_per_second=40)
    replay_ollama.add_rule(
        match="greet the user", reply="console.log('hi');\n", tokens_per_second=40
    )
    open_file(editor, ORIGINAL, "one.py")
    one = editor.lua("return vim.api.nvim_get_current_buf()")
    start_run(editor, 2)
    js = ["// gen: greet the user", "export {};"]
    open_file(editor, js, "two.js")
    two = editor.lua("return vim.api.nvim_get_current_buf()")
    start_run(editor, 0)
    expected_one = with_reply(REPLY)
    expected_two = ["console.log('hi');", "export {};"]
    editor.wait_for(
        "local a, b, ea, eb = ... return vim.deep_equal(vim.api.nvim_buf_get_lines(a, 0, -1, false), ea)"
        " and vim.deep_equal(vim.api.nvim_buf_get_lines(b, 0, -1, false), eb)",
        one,
        two,
        expected_one,
        expected_two,
        what="both runs complete",
    )
    wait_progress_end(editor, "both runs' progress to end")
    editor.cmd("normal! u")
    assert editor.buffer_lines() == js
    editor.cmd(f"buffer {one}")
    editor.cmd("normal! u")
    assert editor.buffer_lines() == ORIGINAL


def test_closing_the_buffer_cancels_its_run(editor: Nvim, replay_ollama: ReplayOllama) -> None:
    run_add_two_numbers(editor, replay_ollama, SLOW_REPLY, 20)
    wait_streamed(editor, "value_1")
    editor.cmd("bwipeout!")
    assert replay_ollama.wait_for("disconnect", timeout=15) is not None
    wait_progress_end(editor)


def test_fix_on_a_visual_selection_targets_only_the_selection(
    editor: Nvim, replay_ollama: ReplayOllama
) -> None:
    original = ["# fix: use integer division", "a = 7 / 2", "b = 9 / 2", "print(a, b)"]
    replay_ollama.add_rule(match="use integer division", reply="a = 7 // 2\n", tokens_per_second=60)
    open_file(editor, original)
    # Linewise visual selection of the prefix line and the first statement, then the code action
    # from visual mode, as `gra` would.
    editor.lua("vim.api.nvim_win_set_cursor(0, { 1, 0 })")
    editor.api.input("Vj")
    editor.wait_for("return vim.api.nvim_get_mode().mode == 'V'", what="visual mode")
    editor.lua(
        "vim.lsp.buf.code_action({ apply = true, filter = function(a)"
        " return vim.startswith(a.title, 'Typilot: fix') end })"
    )
    expected = ["a = 7 // 2", "b = 9 / 2", "print(a, b)"]
    wait_buffer(editor, expected, "only the selected statement rewritten")
    wait_progress_end(editor)
    undo_in_normal_mode(editor)
    assert editor.buffer_lines() == original
