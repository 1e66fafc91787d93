"""`<think>` blocks out of a reply, also when a tag is split across chunks."""

from __future__ import annotations

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


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
