"""Output hygiene applied while the reply streams.

Models wrap code in markdown fences, think aloud in `<think>` blocks, add a
sentence of prose before and after, and indent as they please. Everything
here works on arbitrary chunk boundaries (a fence or tag split over several
chunks), holding back only the few characters that might still turn into
one, so code shows in the buffer as soon as it is unambiguous.
"""

from __future__ import annotations

import re

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
FENCE = "```"

# First words that mark a chatty preamble rather than code.
_PROSE_START = re.compile(
    r"^(here|here's|sure|certainly|below|okay|ok|of course|absolutely|great|i'll|i will|i've|"
    r"this (code|function|snippet|implementation|is)|the (following|code|function|corrected|fixed)|"
    r"to (do|fix|implement|achieve)|let's|let me)\b",
    re.IGNORECASE,
)
_WORD_BOUNDARY = re.compile(r"[\s,.:;!?']")
# First words of those preambles: a first token that cannot begin one of them is code at once.
_PROSE_WORDS = (
    "here", "here's", "sure", "certainly", "below", "okay", "ok", "of", "absolutely", "great",
    "i'll", "i", "i've", "this", "the", "to", "let's", "let",
)  # fmt: skip


def _may_start_prose(partial: str) -> bool:
    word = partial.lower()
    return any(candidate.startswith(word) for candidate in _PROSE_WORDS)


def _partial_suffix(text: str, token: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `token`."""
    for size in range(min(len(token) - 1, len(text)), 0, -1):
        if token.startswith(text[-size:]):
            return size
    return 0


class ThinkStripper:
    """Removes `<think>...</think>` blocks, also when tags are split across chunks."""

    def __init__(self) -> None:
        self._held = ""
        self._inside = False
        self._just_closed = False

    def feed(self, chunk: str) -> str:
        text = self._held + chunk
        self._held = ""
        out: list[str] = []
        while text:
            if self._inside:
                end = text.find(THINK_CLOSE)
                if end < 0:
                    keep = _partial_suffix(text, THINK_CLOSE)
                    self._held = text[len(text) - keep :] if keep else ""
                    return "".join(out)
                text = text[end + len(THINK_CLOSE) :]
                self._inside = False
                self._just_closed = True
                continue
            if self._just_closed:
                stripped = text.lstrip()
                if not stripped:
                    return "".join(out)
                text = stripped
                self._just_closed = False
            start = text.find(THINK_OPEN)
            if start >= 0:
                out.append(text[:start])
                text = text[start + len(THINK_OPEN) :]
                self._inside = True
                continue
            keep = _partial_suffix(text, THINK_OPEN)
            out.append(text[: len(text) - keep])
            self._held = text[len(text) - keep :]
            break
        return "".join(out)

    def finish(self) -> str:
        held, self._held = self._held, ""
        return "" if self._inside else held


class LineShaper:
    """Fences, prose, indentation, comment wrapping and trailing blank lines.

    `mode` is `code` (gen/fix: re-indent to `indent`) or `comment` (sum: every
    line becomes a comment in the file's syntax). `eol` is the document's line
    break, so CRLF files stay CRLF.
    """

    def __init__(
        self,
        *,
        indent: str,
        mode: str = "code",
        eol: str = "\n",
        line_comment: str | None = None,
        block_comment: tuple[str, str] | None = None,
    ) -> None:
        self.indent = indent
        self.mode = mode
        self.eol = eol
        self.line_comment = line_comment
        self.block_comment = block_comment
        self._state = "start"  # start | prose | code | fence | after
        self._line = ""  # the current line's text not yet decided or emitted
        self._line_open = False  # whether the current line's head has been emitted
        self._pending_breaks = 0
        self._emitted_any = False
        self._base_indent: str | None = None
        self._held_lines: list[str] = []  # prose that may turn out to be the answer

    # -- public -------------------------------------------------------------
    def feed(self, chunk: str) -> str:
        out: list[str] = []
        text = chunk.replace("\r\n", "\n").replace("\r", "\n")
        while text:
            newline = text.find("\n")
            if newline < 0:
                self._line += text
                out.append(self._flush_partial())
                break
            self._line += text[:newline]
            text = text[newline + 1 :]
            out.append(self._complete_line())
        return "".join(out)

    def finish(self) -> str:
        out: list[str] = []
        if self._line:
            out.append(self._complete_line(final=True))
        if self._state == "prose" and self._held_lines:
            # No fence ever came: the "prose" was the answer.
            held, self._held_lines = self._held_lines, []
            self._state = "code"
            for line in held:
                out.append(self._emit_line_text(line, complete=True))
        if self._emitted_any and self.mode == "comment" and self.block_comment:
            out.append(" " + self.block_comment[1])
        return "".join(out)

    # -- lines --------------------------------------------------------------
    def _is_fence(self, line: str) -> bool:
        return line.strip().startswith(FENCE)

    def _complete_line(self, final: bool = False) -> str:
        line, self._line = self._line, ""
        was_open, self._line_open = self._line_open, False
        if was_open:
            # The head of this line is already in the buffer; the rest follows it.
            if not final:
                self._pending_breaks += 1
            return line
        if self._is_fence(line):
            self._on_fence()
            return ""
        if self._state == "start":
            if not line.strip():
                return ""
            if self.mode == "code" and _PROSE_START.match(line.strip()):
                self._state = "prose"
                self._held_lines.append(line)
                return ""
            self._state = "code"
        elif self._state == "prose":
            self._held_lines.append(line)
            return ""
        elif self._state == "after":
            return ""
        text = self._emit_line_text(line, complete=True)
        if text and not final:
            self._pending_breaks += 1
        return text

    def _on_fence(self) -> None:
        if self._state in ("start", "prose"):
            self._held_lines = []
            self._state = "fence"
        elif self._state == "fence":
            self._state = "after"
        elif self._state == "after":
            # A second fenced block: keep it, separated by a blank line.
            self._state = "fence"
            if self._emitted_any:
                self._pending_breaks = max(self._pending_breaks, 2)
        else:  # code, then a fence: what follows is fenced code
            self._state = "fence"

    def _flush_partial(self) -> str:
        """Emit the current partial line where nothing can change its meaning any more."""
        if self._line_open:
            rest, self._line = self._line, ""
            return rest
        line = self._line
        stripped = line.lstrip()
        if not stripped:
            return ""
        if FENCE.startswith(stripped[:3]) and stripped[:1] == "`":
            return ""  # may become a fence
        if self._state in ("prose", "after"):
            return ""
        if self._state == "start":
            if self.mode == "code":
                if not _WORD_BOUNDARY.search(stripped) and _may_start_prose(stripped):
                    return ""  # the first word decides prose or code
                if _PROSE_START.match(stripped):
                    return ""
            self._state = "code"
        self._line = ""
        self._line_open = True
        return self._emit_line_text(line, complete=False)

    def _emit_line_text(self, line: str, *, complete: bool) -> str:
        """The head of a line (its indentation decided) or a whole line."""
        if not line.strip():
            if self._emitted_any and complete:
                self._pending_breaks += 1
            return ""
        head = self._reindent(line)
        breaks = self._pending_breaks
        if self.mode == "comment":
            breaks = min(breaks, 1)  # no uncommented blank lines inside a comment
        prefix = self.eol * breaks
        self._pending_breaks = 0
        first = not self._emitted_any
        self._emitted_any = True
        if self.mode == "comment":
            head = self._as_comment(head, first)
        return prefix + head

    def _reindent(self, line: str) -> str:
        body = line.lstrip(" \t")
        lead = line[: len(line) - len(body)]
        if self._base_indent is None:
            self._base_indent = lead
        lead = lead[len(self._base_indent) :] if lead.startswith(self._base_indent) else ""
        if self.mode == "comment":
            return body
        return self.indent + lead + body

    def _as_comment(self, body: str, first: bool) -> str:
        for leader in filter(None, (self.line_comment, *(self.block_comment or ()))):
            if body.startswith(leader):
                body = body[len(leader) :].lstrip()
                break
        if self.line_comment:
            return f"{self.indent}{self.line_comment} {body}"
        assert self.block_comment is not None
        if first:
            return f"{self.indent}{self.block_comment[0]} {body}"
        pad = " " * (len(self.block_comment[0]) + 1)
        return f"{self.indent}{pad}{body}"


class OutputFilter:
    """ThinkStripper then LineShaper: feed raw model text, get buffer text."""

    def __init__(self, shaper: LineShaper) -> None:
        self._think = ThinkStripper()
        self._shaper = shaper

    def feed(self, chunk: str) -> str:
        return self._shaper.feed(self._think.feed(chunk))

    def finish(self) -> str:
        tail = self._shaper.feed(self._think.finish())
        return tail + self._shaper.finish()
