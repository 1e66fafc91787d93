"""A `gen:` line in a Python function's or class's body, and a reply that rewrites all of it."""

from __future__ import annotations

import enum

from typilot_lsp.runs.output.classify import py_defined


class Unwrap(enum.Enum):
    """Where the unwrapper is in a reply."""

    LOOK = "look"  # before the reply's first line: may it be the enclosing `def`/`class`?
    SIGNATURE = "signature"  # in that definition's line(s), up to its `:`
    DOCSTRING = "docstring"  # before the body: a docstring is dropped
    BODY = "body"  # the body: it lands
    AFTER = "after"  # after the body: dropped
    PASS = "pass"  # another reply: it passes unchanged


class EnclosingUnwrapper:
    """A `gen:` line in a function's body, and the reply rewrites that whole function (its
    `def` line and docstring, then the body): only the body lands, since the signature and
    docstring are already in the file (landing them would nest a second copy of the function
    in itself). What follows the rewritten function (usage, a `__main__` block) is dropped;
    a fence line passes on, so the line shaper still sees fences. Any other reply passes
    through unchanged and still streams: a line is held only while it may start
    `def NAME(`."""

    def __init__(self, name: str | None) -> None:
        self._name = name
        self._state = Unwrap.LOOK if name else Unwrap.PASS
        self._line = ""  # the current line, held
        self._line_sent = 0  # how much of it has been passed on
        self._def_indent = 0
        self._quote = ""

    @property
    def past_body(self) -> bool:
        """The rewritten definition's body has ended: the rest of the reply is dropped."""
        return self._state is Unwrap.AFTER

    def feed(self, chunk: str) -> str:
        if self._state is Unwrap.PASS:
            return chunk
        out: list[str] = []
        for char in chunk:
            self._line += char
            if char == "\n":
                out.append(self._complete())
                self._line, self._line_sent = "", 0
            elif self._state is Unwrap.PASS:
                out.append(self._line[self._line_sent :])
                self._line_sent = len(self._line)
            else:
                out.append(self._partial())
        return "".join(out)

    def finish(self) -> str:
        if not self._line:
            return ""
        self._line += "\n"
        tail = self._complete()
        return tail[:-1] if tail.endswith("\n") else tail

    def _indent(self, text: str) -> int:
        expanded = text.expandtabs(4)
        return len(expanded) - len(expanded.lstrip())

    def _partial(self) -> str:
        """Part of an unfinished line that can go on already."""
        text = self._line.strip()
        if self._state is Unwrap.LOOK:
            if not text or text.startswith("`"):
                return ""
            target = f"def {self._name}("
            if any(
                full.startswith(text) or text.startswith(full)
                for full in (target, "async " + target, f"class {self._name}")
            ):
                return ""  # may still be (or is) the enclosing function's def line
            self._state = Unwrap.PASS
        elif self._state is Unwrap.BODY:
            if not text or self._indent(self._line) <= self._def_indent:
                return ""
        else:
            return ""
        sent, self._line_sent = self._line_sent, len(self._line)
        return self._line[sent:]

    def _complete(self) -> str:
        line, rest = self._line, self._line[self._line_sent :]
        text = line.strip()
        if text.startswith("```"):
            return rest  # fences pass on in every state
        if self._state is Unwrap.LOOK:
            if not text:
                return rest
            if py_defined(text) == self._name:
                self._def_indent = self._indent(line)
                self._state = Unwrap.DOCSTRING if text.endswith(":") else Unwrap.SIGNATURE
                return ""
            self._state = Unwrap.PASS
            return rest
        if self._state is Unwrap.SIGNATURE:
            if text.endswith(":"):
                self._state = Unwrap.DOCSTRING
            return ""
        if self._state is Unwrap.DOCSTRING:
            if not text:
                return ""
            if self._quote:
                if self._quote in text:
                    self._quote = ""
                    self._state = Unwrap.BODY
                return ""
            opener = text.lstrip("rRuUbB")
            for quote in ('"""', "'''"):
                if opener.startswith(quote):
                    if opener.count(quote) < 2:
                        self._quote = quote
                    else:
                        self._state = Unwrap.BODY
                    return ""
            self._state = Unwrap.BODY
        if self._state is Unwrap.BODY:
            if text and self._indent(line) <= self._def_indent:
                self._state = Unwrap.AFTER
                return ""
            return rest
        return ""  # after
