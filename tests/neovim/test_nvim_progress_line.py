"""What a user of a stock Neovim sees of a run: the progress line and the server's messages.

A UI is attached to the headless Neovim (tests/neovim/nvim_screen.py), so the screen is the one a
terminal would show. An `LspProgress` autocommand defined after the plugin's draws what is pending
and marks each `$/progress` of the server in the frame stream: "the last frame before the begin's
mark" is what the screen showed right after the plugin handled the begin, within a frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.neovim.nvim_harness import Nvim, find_server, setup_lua
from tests.neovim.nvim_screen import Mark, Screen
from tests.neovim.test_nvim_runs import ORIGINAL, REPLY, SLOW_REPLY, open_file, start_run
from tests.replay.ollama import ReplayOllama

MODEL = "qwen2.5-coder:1.5b"
HIT_ENTER = "Press ENTER"

MARK_PROGRESS = """
local chan = ...
vim.api.nvim_create_autocmd('LspProgress', { callback = function(ev)
  local client = vim.lsp.get_client_by_id(ev.data.client_id)
  local value = ev.data.params.value
  if client and client.name == 'typilot' and type(value) == 'table' then
    -- Draw what is pending first: the frame before the mark is the screen as the plugin left it.
    vim.api.nvim__redraw({ flush = true })
    vim.rpcnotify(chan, 'mark', value.kind, value.title or '', value.message or '')
  end
end })
"""


class Marks:
    """The progress marks of one screen, read in order."""

    def __init__(self, screen: Screen) -> None:
        self.screen = screen
        self.seen = 0

    def next(self, kind: str, timeout: float = 30.0) -> Mark:
        """The next mark of `kind` ('begin', 'report', 'end') after the ones already read."""
        while True:
            self.seen += 1
            mark = self.screen.wait_for_mark(self.seen, timeout=timeout, what=f"a {kind}")
            if mark.args[0] == kind:
                return mark


def readme_editor(nvim_factory: Callable[..., Nvim], replay_ollama: ReplayOllama) -> Nvim:
    """The README's one setup() call and nothing else: no statusline, no progress plugin."""
    return nvim_factory(
        setup_lua(find_server(), {"ollama": {"host": replay_ollama.url, "model": MODEL}})
    )


@pytest.fixture
def screen_of() -> Iterator[Callable[[Nvim], Screen]]:
    screens: list[Screen] = []

    def attach(nv: Nvim) -> Screen:
        screen = Screen.attach(nv.home / "nvim.sock")
        screens.append(screen)
        nv.lua(MARK_PROGRESS, screen.channel)
        screen.wait_for(lambda f: True, what="a first frame")
        return screen

    yield attach
    for screen in screens:
        # A failed test may leave Neovim in a hit-enter prompt, where it answers only fast calls:
        # nvim_input is one, so the teardown's :qall! is not left waiting.
        screen.request("nvim_input", "<CR>")
        screen.close()


def assert_keyboard_free(nv: Nvim, screen: Screen) -> None:
    """Neovim waits for no key: normal mode, not blocking, no hit-enter prompt on screen."""
    mode = nv.api.request("nvim_get_mode")
    frame = screen.current()
    assert mode == {"mode": "n", "blocking": False}, (mode, frame.text())
    assert HIT_ENTER not in frame.text(), frame.text()
    assert nv.lua("return vim.fn.mode(1)") == "n"


def test_progress_line_appears_at_begin_updates_and_clears_at_end(
    nvim_factory: Callable[..., Nvim],
    replay_ollama: ReplayOllama,
    screen_of: Callable[[Nvim], Screen],
) -> None:
    nv = readme_editor(nvim_factory, replay_ollama)
    replay_ollama.add_rule(
        match="add two numbers", reply=SLOW_REPLY[:600], tokens_per_second=40, first_token_delay=1.5
    )
    open_file(nv, ORIGINAL)
    screen = screen_of(nv)
    marks = Marks(screen)
    start_run(nv, 2)

    # Within a frame of the begin: the screen right after the plugin handled it.
    first = screen.frame_before(marks.next("begin"))
    assert first.bottom.startswith("Typilot: gen ("), first.text()
    assert "waiting for the model" in first.bottom
    assert first.bottom.rstrip().endswith(":Typilot cancel")
    assert nv.lua("return require('typilot.progress_line').active()") is True

    # Updated in place: the token count of the reports, with the model in the title.
    tokens = screen.wait_for(
        lambda f: " tokens" in f.bottom, timeout=30, what="the token count on the progress line"
    )
    assert tokens.bottom.startswith(f"Typilot: gen ({MODEL})"), tokens.text()
    assert tokens.bottom.rstrip().endswith(":Typilot cancel")

    # Gone with the end, within a frame, and nothing of it in :messages.
    gone = screen.frame_before(marks.next("end"))
    assert "Typilot" not in gone.bottom, gone.text()
    assert gone.bottom.strip() == ""
    assert "Typilot: gen" not in nv.messages()
    assert nv.lua("return require('typilot.progress_line').active()") is False
    assert_keyboard_free(nv, screen)


def test_long_server_message_takes_one_line_and_never_the_keyboard(
    nvim_factory: Callable[..., Nvim],
    replay_ollama: ReplayOllama,
    screen_of: Callable[[Nvim], Screen],
) -> None:
    """A settings warning three screen lines long (a real window/showMessage of the server)."""
    unknown = "aVeryLongMisspelledSettingName" * 8  # 240 characters: three rows of 80
    nv = nvim_factory(
        setup_lua(
            find_server(), {"ollama": {"host": replay_ollama.url, "model": MODEL}, unknown: 1}
        )
    )
    screen = screen_of(nv)
    # Only the screen is read until the keyboard is known to be free: in a hit-enter prompt
    # Neovim would leave every other call of this session unanswered.
    path = nv.home / "sample.py"
    path.write_text("\n".join(ORIGINAL) + "\n")
    nv.cmd(f"edit {path}")
    warning = screen.wait_for(
        lambda f: "Typilot settings" in f.bottom or HIT_ENTER in f.text(),
        timeout=30,
        what="the settings warning",
    )
    assert_keyboard_free(nv, screen)
    assert warning.bottom.rstrip().endswith("(:Typilot log)"), warning.text()
    assert "Typilot settings" not in warning.rows[-2], "the message took more than one row"
    # The full text is kept: :Typilot log has it, :messages has the line as it was shown.
    log = nv.lua("return require('typilot.echo').log()")
    assert any(unknown in entry["text"] and entry["level"] == "warning" for entry in log), log
    assert warning.bottom.rstrip() in nv.messages()

    nv.cmd("Typilot log")
    assert any(unknown in line for line in nv.buffer_lines())
    assert nv.lua("return vim.bo.buftype") == "nofile"


def test_length_limit_warning_of_a_run_leaves_the_editor_usable(
    nvim_factory: Callable[..., Nvim],
    replay_ollama: ReplayOllama,
    screen_of: Callable[[Nvim], Screen],
) -> None:
    """The run's own warning arrives just before its progress ends: it stays on screen (the end
    does not wipe it) on one line, and the keyboard stays the user's."""
    nv = readme_editor(nvim_factory, replay_ollama)
    replay_ollama.add_rule(
        match="add two numbers", reply=REPLY, tokens_per_second=60, done_reason="length"
    )
    open_file(nv, ORIGINAL)
    screen = screen_of(nv)
    marks = Marks(screen)
    start_run(nv, 2)
    at_end = screen.frame_before(marks.next("end"))
    assert_keyboard_free(nv, screen)  # first: a prompt would leave only fast calls answered
    # The server sends the warning before the progress ends (whatever its words: they change).
    warnings = [
        e for e in nv.lua("return require('typilot.echo').log()") if e["level"] == "warning"
    ]
    assert warnings, nv.messages()
    start = " ".join(warnings[-1]["text"].split())[:30]
    assert at_end.bottom.startswith(start), at_end.text()
    assert not any(start in row for row in at_end.rows[:-1]), at_end.text()
    # Still there once the end is handled: the progress line's clearing left it alone.
    assert screen.current().bottom.startswith(start), screen.current().text()


def test_progress_line_goes_when_the_server_dies_mid_run(
    nvim_factory: Callable[..., Nvim],
    replay_ollama: ReplayOllama,
    screen_of: Callable[[Nvim], Screen],
) -> None:
    """No `end` will come: the line must not stay on screen for good."""
    nv = readme_editor(nvim_factory, replay_ollama)
    replay_ollama.add_rule(match="add two numbers", reply=SLOW_REPLY, tokens_per_second=20)
    open_file(nv, ORIGINAL)
    screen = screen_of(nv)
    marks = Marks(screen)
    start_run(nv, 2)
    assert screen.frame_before(marks.next("begin")).bottom.startswith("Typilot: gen")
    nv.lua("vim.lsp.get_clients({ name = 'typilot' })[1]:stop(true)")
    gone = screen.wait_for(
        lambda f: "Typilot: gen" not in f.bottom, timeout=15, what="the line to go"
    )
    assert gone.bottom.strip() == "", gone.text()
    nv.wait_for(
        "return not require('typilot.progress_line').active()", what="the line's timer to stop"
    )
    assert nv.lua("return require('typilot').statusline()") == ""
    assert_keyboard_free(nv, screen)


def test_progress_line_can_be_turned_off(
    nvim_factory: Callable[..., Nvim],
    replay_ollama: ReplayOllama,
    screen_of: Callable[[Nvim], Screen],
) -> None:
    """`progress = false`: the message area stays the user's; statusline() still follows runs."""
    nv = nvim_factory(
        setup_lua(
            find_server(),
            {"ollama": {"host": replay_ollama.url, "model": MODEL}},
            extra="  progress = false,\n",
        )
    )
    replay_ollama.add_rule(match="add two numbers", reply=REPLY, tokens_per_second=30)
    open_file(nv, ORIGINAL)
    screen = screen_of(nv)
    marks = Marks(screen)
    start_run(nv, 2)
    marks.next("begin")
    status = nv.wait_for(
        "local s = require('typilot').statusline() return s ~= '' and s", what="progress"
    )
    assert status.startswith(f"Typilot: gen ({MODEL})")
    marks.next("end")
    assert not any("Typilot: gen" in f.bottom for f in screen.frames), screen.current().text()
    assert nv.lua("return require('typilot.progress_line').active()") is False
