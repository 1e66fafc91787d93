"""`sum:` comments wrapped to the file's usual width as they stream."""

from __future__ import annotations

from collections.abc import Sequence


class CommentWrapper:
    """Wraps comment lines at `width` characters as they stream: a word is held until the
    character after it shows where it ends, and a word that would pass the width starts a
    new comment line (`continuation`: the indentation and leader, e.g. `    # `). A single
    word wider than the width stays whole."""

    def __init__(self, width: int, continuation: str, eol: str = "\n") -> None:
        self.width = width
        self.continuation = continuation
        self.eol = eol
        self._column = 0  # characters on the current output line so far
        self._space = ""  # spaces after the last word, not yet emitted
        self._word = ""  # the word being read, not yet emitted

    def feed(self, text: str) -> str:
        out: list[str] = []
        for char in text:
            if char in "\r\n":
                out.append(self._place())
                self._space = ""  # no trailing spaces
                out.append(char)
                if char == "\n":
                    self._column = 0
            elif char in " \t":
                if self._word:
                    out.append(self._place())
                if self._column == 0 and not self._word:
                    out.append(char)  # the line's indentation
                    self._column += 0 if char == "\t" else 1
                else:
                    self._space += char
            else:
                self._word += char
        return "".join(out)

    def finish(self) -> str:
        return self._place()

    def _place(self) -> str:
        word, space = self._word, self._space
        self._word = ""
        if not word:
            return ""
        self._space = ""
        fits = self._column + len(space) + len(word) <= self.width
        if fits or self._column <= len(self.continuation):
            self._column += len(space) + len(word)
            return space + word
        self._column = len(self.continuation) + len(word)
        return self.eol + self.continuation + word


def usual_width(lines: Sequence[str], *, low: int = 72, high: int = 120) -> int:
    """The width a file's lines keep to: the 95th percentile of its non-blank lines' lengths,
    within `low..high` (80 for a file of fewer than 5 such lines)."""
    lengths = sorted(len(line.rstrip("\r\n")) for line in lines if line.strip())
    if len(lengths) < 5:
        return 80
    p95 = lengths[(len(lengths) - 1) * 95 // 100]
    return max(low, min(high, p95))
