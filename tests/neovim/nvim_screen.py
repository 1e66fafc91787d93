"""What a user sees: a headless Neovim's screen, read through a UI attached over msgpack-rpc.

`Screen.attach(socket)` opens a second connection to the Neovim under test and attaches it as a
UI (`nvim_ui_attach`, ext_linegrid) of a normal terminal size, so Neovim draws as it does for a
person: the message area, the mode line, the hit-enter prompt. A reader thread applies the
`redraw` batches to a grid and keeps every flushed frame, so a test can wait for a frame (on the
condition variable, never by sleeping) and can ask what the first frame after an event showed.

Lua in the editor can mark a point in the frame stream with `vim.rpcnotify(chan, 'mark', ...)`:
a notification leaves on the UI's channel in order with the redraw batches, so "the first frame
after the mark" is exactly what the screen showed next, and after `nvim__redraw({ flush = true })`
"the last frame before the mark" is what the screen showed at that moment.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

COLUMNS = 80
ROWS = 24


@dataclass(frozen=True)
class Frame:
    """The screen at one `flush`: its rows, the marks seen before it, the cursor position."""

    index: int
    rows: tuple[str, ...]
    marks: int
    """How many marks (`mark` notifications) had arrived before this flush."""
    at: float = field(compare=False)

    @property
    def bottom(self) -> str:
        """The last row: the message area (with 'cmdheight' 1)."""
        return self.rows[-1]

    def text(self) -> str:
        return "\n".join(row.rstrip() for row in self.rows)


@dataclass(frozen=True)
class Mark:
    """A `vim.rpcnotify(chan, 'mark', ...)` from the editor, and how many frames came before."""

    args: tuple[Any, ...]
    frames_before: int
    at: float = field(compare=False)


class Screen:
    """One UI client: a grid of `columns` x `rows` cells, rebuilt from the redraw events."""

    def __init__(self, sock: socket.socket, columns: int, rows: int) -> None:
        self._sock = sock
        self.columns = columns
        self.height = rows
        self._grid: list[list[str]] = [[" "] * columns for _ in range(rows)]
        self._cond = threading.Condition()
        self._frames: list[Frame] = []
        self._marks: list[Mark] = []
        self._responses: dict[int, tuple[Any, Any]] = {}
        self._next_id = 0
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="nvim-screen", daemon=True)
        self._reader.start()
        self.channel = int(self.request("nvim_get_api_info")[0])
        self.request("nvim_ui_attach", columns, rows, {"ext_linegrid": True, "rgb": True})

    @classmethod
    def attach(cls, path: Path | str, columns: int = COLUMNS, rows: int = ROWS) -> Screen:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(path))
        return cls(sock, columns, rows)

    # -- rpc ------------------------------------------------------------------------
    def request(self, method: str, *args: Any, timeout: float = 20.0) -> Any:
        with self._cond:
            msgid = self._next_id
            self._next_id += 1
        self._sock.sendall(msgpack.packb([0, msgid, method, list(args)]))
        with self._cond:
            if not self._cond.wait_for(lambda: msgid in self._responses or self._closed, timeout):
                raise TimeoutError(f"no answer to {method} within {timeout}s")
            if msgid not in self._responses:
                raise ConnectionError(f"the UI connection closed before {method} answered")
            error, result = self._responses.pop(msgid)
        if error is not None:
            raise RuntimeError(f"{method} failed: {error}")
        return result

    def _read(self) -> None:
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        try:
            while True:
                data = self._sock.recv(65536)
                if not data:
                    break
                unpacker.feed(data)
                for message in unpacker:
                    self._dispatch(message)
        except OSError:
            pass
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def _dispatch(self, message: list[Any]) -> None:
        kind = message[0]
        with self._cond:
            if kind == 1:
                self._responses[message[1]] = (message[2], message[3])
            elif kind == 2 and message[1] == "redraw":
                for batch in message[2]:
                    self._apply(batch[0], batch[1:])
            elif kind == 2 and message[1] == "mark":
                self._marks.append(Mark(tuple(message[2]), len(self._frames), time.monotonic()))
            self._cond.notify_all()

    # -- the grid -------------------------------------------------------------------
    def _apply(self, name: str, calls: list[list[Any]]) -> None:
        for args in calls:
            if name == "grid_resize" and args[0] == 1:
                self._resize(args[1], args[2])
            elif name == "grid_clear" and args[0] == 1:
                self._grid = [[" "] * self.columns for _ in range(self.height)]
            elif name == "grid_line" and args[0] == 1:
                self._line(args[1], args[2], args[3])
            elif name == "grid_scroll" and args[0] == 1:
                self._scroll(*args[1:7])
            elif name == "flush":
                rows = tuple("".join(row) for row in self._grid)
                self._frames.append(
                    Frame(len(self._frames), rows, len(self._marks), time.monotonic())
                )

    def _resize(self, columns: int, rows: int) -> None:
        self.columns, self.height = columns, rows
        self._grid = [[" "] * columns for _ in range(rows)]

    def _line(self, row: int, col: int, cells: list[list[Any]]) -> None:
        line = self._grid[row]
        for cell in cells:
            text = cell[0]
            repeat = cell[2] if len(cell) > 2 else 1
            for _ in range(repeat):
                if col < len(line):
                    line[col] = text
                col += 1

    def _scroll(self, top: int, bot: int, left: int, right: int, rows: int, _cols: int) -> None:
        span = range(top, bot - rows) if rows > 0 else range(bot - 1, top - rows - 1, -1)
        for r in span:
            self._grid[r][left:right] = self._grid[r + rows][left:right]

    # -- what tests ask -------------------------------------------------------------
    @property
    def frames(self) -> list[Frame]:
        with self._cond:
            return list(self._frames)

    @property
    def marks(self) -> list[Mark]:
        with self._cond:
            return list(self._marks)

    def current(self) -> Frame:
        with self._cond:
            if not self._frames:
                raise AssertionError("the UI has drawn nothing yet")
            return self._frames[-1]

    def wait_for(
        self, predicate: Callable[[Frame], bool], timeout: float = 20.0, what: str = ""
    ) -> Frame:
        """The first frame, from now on or already drawn last, that satisfies `predicate`."""
        with self._cond:
            start = max(len(self._frames) - 1, 0)
            seen = start

            def found() -> bool:
                nonlocal seen
                while seen < len(self._frames):
                    if predicate(self._frames[seen]):
                        return True
                    seen += 1
                return self._closed

            if self._cond.wait_for(found, timeout) and seen < len(self._frames):
                return self._frames[seen]
            last = self._frames[-1].text() if self._frames else "(nothing drawn)"
        raise AssertionError(f"no frame showed {what or predicate!r} within {timeout}s:\n{last}")

    def wait_for_mark(self, count: int, timeout: float = 20.0, what: str = "") -> Mark:
        """Waits until `count` marks have arrived; returns the last of them."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._marks) >= count, timeout):
                raise AssertionError(f"no mark {what or count} within {timeout}s")
            return self._marks[count - 1]

    def frame_after(self, mark: Mark, timeout: float = 20.0) -> Frame:
        """The first frame flushed after `mark`."""
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self._frames) > mark.frames_before, timeout)
            if not ok:
                raise AssertionError(f"no frame after the mark {mark.args} within {timeout}s")
            return self._frames[mark.frames_before]

    def frame_before(self, mark: Mark) -> Frame:
        """The last frame flushed before `mark`: what the screen showed when the editor sent it
        (with everything drawn first, e.g. by `nvim__redraw({ flush = true })` before the mark)."""
        with self._cond:
            if mark.frames_before == 0:
                raise AssertionError(f"nothing was drawn before the mark {mark.args}")
            return self._frames[mark.frames_before - 1]

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError, ConnectionError):
            self.request("nvim_ui_detach", timeout=5)
        with contextlib.suppress(OSError):
            self._sock.close()
        self._reader.join(timeout=5)
