"""The one document store: pygls's workspace, with Typilot's documents in it.

`TypilotWorkspace` is swapped in for pygls's `Workspace` when the client
initializes (`features.documents.DocumentsFeature`), so every didOpen/didChange is
applied once, by pygls's own dispatch, to a `TypilotDocument`: a pygls
`TextDocument` that keeps a line array spliced incrementally (pygls's own
rebuilds the whole source on every change) and an index of prefixed lines, so
a code action on a 100k-line file looks at a handful of indexed lines and
running streams can follow every change exactly (`ChangeListener`). Columns
are code points internally; the client's position encoding is converted at the
edge. The full text (`source`) is joined only when asked for.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol
from urllib.parse import unquote

from lsprotocol import types
from pygls.workspace import TextDocument, Workspace
from pygls.workspace.position_codec import PositionCodec

from typilot_lsp.prefixes import PrefixMatch, PrefixMatcher
from typilot_lsp.pygls_adapter import DocumentFactoryWorkspace, sync_kind_of

_LINE_BREAK = re.compile(r"\r\n|\n|\r")
# What str.splitlines also breaks on and LSP does not; each checked with `in` (a C search).
_OTHER_BREAKS = ("\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
"""What str.splitlines also splits on, and LSP does not."""


def split_lines(text: str) -> list[str]:
    """Split on LSP line breaks only (\\r\\n, \\n, \\r), keeping them; last item has none."""
    if not any(other in text for other in _OTHER_BREAKS):
        # str.splitlines is C speed, and without its other separators it splits as LSP does.
        lines = text.splitlines(keepends=True)
        if not lines or lines[-1].endswith(("\n", "\r")):
            lines.append("")
        return lines
    lines = []
    start = 0
    for m in _LINE_BREAK.finditer(text):
        lines.append(text[start : m.end()])
        start = m.end()
    lines.append(text[start:])
    return lines


def encoding_name(encoding: Any) -> str:
    """ "utf-8" / "utf-16" / "utf-32" from a PositionEncodingKind, a string or None."""
    value = getattr(encoding, "value", encoding)
    return str(value) if value in ("utf-8", "utf-16", "utf-32") else "utf-16"


def content_length(line: str) -> int:
    if line.endswith("\r\n"):
        return len(line) - 2
    if line.endswith(("\n", "\r")):
        return len(line) - 1
    return len(line)


def units_to_col(line: str, units: int, encoding: str) -> int:
    """A column in the client's encoding -> code points, clamped to the line's content."""
    limit = content_length(line)
    if encoding == "utf-32":
        return min(units, limit)
    if encoding == "utf-8":
        count = 0
        for i, ch in enumerate(line[:limit]):
            if count >= units:
                return i
            count += len(ch.encode("utf-8"))
        return limit
    count = 0
    for i, ch in enumerate(line[:limit]):
        if count >= units:
            return i
        count += 2 if ord(ch) > 0xFFFF else 1
    return limit


def col_to_units(line: str, col: int, encoding: str) -> int:
    if encoding == "utf-32":
        return col
    head = line[:col]
    if encoding == "utf-8":
        return len(head.encode("utf-8"))
    return len(head) + sum(1 for ch in head if ord(ch) > 0xFFFF)


class ChangeListener(Protocol):
    def on_change(self, l1: int, c1: int, l2: int, c2: int, text: str) -> None:
        """One content change, positions in code points of the text before it."""

    def on_changes_applied(self, version: int) -> None:
        """All changes of one didChange have been applied."""


class TypilotDocument(TextDocument):
    """A pygls text document kept as a line array, with an index of its prefixed lines."""

    def __init__(
        self,
        uri: str,
        source: str | None,
        version: int | None,
        language_id: str | None,
        matcher: PrefixMatcher,
        *,
        position_codec: PositionCodec | None = None,
        sync_kind: types.TextDocumentSyncKind = types.TextDocumentSyncKind.Incremental,
    ) -> None:
        super().__init__(
            uri,
            source=None,
            version=version,
            language_id=language_id,
            sync_kind=sync_kind,
            position_codec=position_codec,
        )
        self.language_id: str = language_id or ""
        self.version: int = version or 0
        self._lines = split_lines(source or "")
        self.matcher = matcher
        self.prefixed: dict[int, PrefixMatch] = {}
        self.listeners: list[ChangeListener] = []
        self.reindex()

    # -- pygls's TextDocument -------------------------------------------------
    @property
    def lines(self) -> list[str]:
        """The lines, each with its line break (the last one has none)."""
        return self._lines

    @property
    def source(self) -> str:
        return "".join(self._lines)

    @property
    def encoding(self) -> str:
        return encoding_name(self.position_codec.encoding)

    def apply_change(self, change: types.TextDocumentContentChangeEvent) -> None:
        """pygls's entry point: one content change of a didChange, in the client's encoding."""
        if isinstance(change, types.TextDocumentContentChangePartial):
            rng = change.range
            self.apply_edit(
                (rng.start.line, rng.start.character),
                (rng.end.line, rng.end.character),
                change.text,
                self.encoding,
            )
        else:
            self.apply_edit(None, None, change.text, self.encoding)

    # -- prefix index -------------------------------------------------------
    def reindex(self, matcher: PrefixMatcher | None = None) -> None:
        if matcher is not None:
            self.matcher = matcher
        self.prefixed = {}
        for number in self._candidate_lines():
            found = self.matcher.match(self._lines[number])
            if found is not None:
                self.prefixed[number] = found

    def _candidate_lines(self) -> Iterator[int]:
        """The lines a prefix occurs on, from one scan of the whole (lower-cased) text."""
        lines = self._lines
        if not self.matcher.prefixes:
            return
        text = "".join(lines)
        lowered = text.lower()
        if len(lowered) != len(text):  # a character whose lower case is longer: no offsets
            yield from range(len(lines))
            return
        starts = list(itertools.accumulate(map(len, lines), initial=0))
        last = -1
        for offset in self.matcher.offsets(lowered):
            number = bisect.bisect_right(starts, offset) - 1
            if number != last:
                last = number
                yield number

    def prefixed_in(self, first: int, last: int) -> Iterator[tuple[int, PrefixMatch]]:
        for number in sorted(self.prefixed):
            if first <= number <= last:
                yield number, self.prefixed[number]

    # -- text access --------------------------------------------------------
    @property
    def text(self) -> str:
        return self.source

    @property
    def eol(self) -> str:
        first = self._lines[0]
        if first.endswith("\r\n"):
            return "\r\n"
        if first.endswith("\r"):
            return "\r"
        return "\n"

    def line_text(self, number: int) -> str:
        if 0 <= number < len(self._lines):
            line = self._lines[number]
            return line[: content_length(line)]
        return ""

    def starts_with_at(self, line: int, col: int, expected: str) -> bool:
        """Whether the text from (line, col) begins with `expected`, touching few lines."""
        if line < 0 or line >= len(self._lines):
            return expected == ""
        remaining = expected
        current = self._lines[line][col:]
        number = line
        while True:
            if len(remaining) <= len(current):
                return current.startswith(remaining)
            if not remaining.startswith(current):
                return False
            remaining = remaining[len(current) :]
            number += 1
            if number >= len(self._lines):
                return False
            current = self._lines[number]

    def end_of(self, line: int, col: int, text: str) -> tuple[int, int]:
        """Position just after `text` written starting at (line, col)."""
        pieces = split_lines(text)
        if len(pieces) == 1:
            return line, col + len(text)
        return line + len(pieces) - 1, len(pieces[-1])

    def slice(self, l1: int, c1: int, l2: int, c2: int) -> str:
        if l1 == l2:
            return self._lines[l1][c1:c2]
        parts = [self._lines[l1][c1:], *self._lines[l1 + 1 : l2], self._lines[l2][:c2]]
        return "".join(parts)

    # -- incremental sync ---------------------------------------------------
    def apply_edit(
        self, start: tuple[int, int] | None, end: tuple[int, int] | None, text: str, encoding: str
    ) -> None:
        if start is None or end is None:
            self._replace_all(text)
            return
        last = len(self._lines) - 1
        l1, l2 = min(start[0], last + 1), min(end[0], last + 1)
        if l1 > last:  # past the end: append
            l1, c1 = last, content_length(self._lines[last])
        else:
            c1 = units_to_col(self._lines[l1], start[1], encoding)
        if l2 > last:
            l2, c2 = last, content_length(self._lines[last])
        else:
            c2 = units_to_col(self._lines[l2], end[1], encoding)
        if (l2, c2) < (l1, c1):
            l1, c1, l2, c2 = l2, c2, l1, c1
        for listener in list(self.listeners):
            listener.on_change(l1, c1, l2, c2, text)
        merged = self._lines[l1][:c1] + text + self._lines[l2][c2:]
        first = l1
        if first > 0 and merged.startswith("\n") and self._lines[first - 1].endswith("\r"):
            # A lone \r before the change and a \n at its start are now one \r\n.
            first -= 1
            merged = self._lines[first] + merged
        new_lines = split_lines(merged)
        if l2 < last:
            # `merged` ends with the old line break of l2, so the split's last piece is "".
            new_lines.pop()
        self._lines[first : l2 + 1] = new_lines
        self._reindex_range(first, l2, len(new_lines))

    def finish_changes(self, version: int) -> None:
        self.version = version
        for listener in list(self.listeners):
            listener.on_changes_applied(version)

    def _replace_all(self, text: str) -> None:
        old = self.text
        if self.listeners:
            # Report a whole-document sync as the smallest change that explains it, so
            # running streams can follow it like any incremental change.
            head = 0
            limit = min(len(old), len(text))
            while head < limit and old[head] == text[head]:
                head += 1
            while head > 0 and old[head - 1] == "\r":  # never split a \r\n
                head -= 1
            tail = 0
            while tail < limit - head and old[-1 - tail] == text[-1 - tail]:
                tail += 1
            while (
                tail > 0
                and old[len(old) - tail] == "\n"
                and old[len(old) - tail - 1 : len(old) - tail] == "\r"
                and tail < len(old) - head
            ):
                tail -= 1
            l1, c1 = self._position_of(old, head)
            l2, c2 = self._position_of(old, len(old) - tail)
            for listener in list(self.listeners):
                listener.on_change(l1, c1, l2, c2, text[head : len(text) - tail])
        self._lines = split_lines(text)
        self.reindex()

    @staticmethod
    def _position_of(text: str, offset: int) -> tuple[int, int]:
        pieces = split_lines(text[:offset])
        return len(pieces) - 1, len(pieces[-1])

    def _reindex_range(self, first: int, old_last: int, new_count: int) -> None:
        delta = new_count - (old_last - first + 1)
        if self.prefixed:
            shifted: dict[int, PrefixMatch] = {}
            for number, found in self.prefixed.items():
                if number < first:
                    shifted[number] = found
                elif number > old_last:
                    shifted[number + delta] = found
            self.prefixed = shifted
        for number in range(first, first + new_count):
            match = self.matcher.match(self._lines[number])
            if match is not None:
                self.prefixed[number] = match


MatcherFor = Callable[[str], PrefixMatcher]
"""The prefix matcher for a languageId (it depends on the settings)."""


class TypilotWorkspace(DocumentFactoryWorkspace):
    """pygls's workspace holding `TypilotDocument`s (one store, each change applied once)."""

    def __init__(
        self,
        root_uri: str | None,
        sync_kind: types.TextDocumentSyncKind,
        workspace_folders: Sequence[types.WorkspaceFolder] | None,
        position_encoding: types.PositionEncodingKind | str | None,
        matcher_for: MatcherFor,
    ) -> None:
        super().__init__(root_uri, sync_kind, workspace_folders, position_encoding)
        self.matcher_for = matcher_for

    @classmethod
    def replacing(cls, old: Workspace, matcher_for: MatcherFor) -> TypilotWorkspace:
        """A Typilot workspace with the same root, folders and encoding as pygls's `old` one."""
        new = cls(
            old.root_uri,
            sync_kind_of(old),
            list(old.folders.values()),
            old.position_encoding,
            matcher_for,
        )
        for doc in old.text_documents.values():
            new.put_text_document(
                types.TextDocumentItem(
                    uri=doc.uri,
                    language_id=doc.language_id or "",
                    version=doc.version or 0,
                    text=doc.source,
                )
            )
        return new

    def create_document(
        self, uri: str, source: str | None, version: int | None, language_id: str | None
    ) -> TypilotDocument:
        return TypilotDocument(
            uri,
            source,
            version,
            language_id,
            self.matcher_for(language_id or ""),
            position_codec=self.position_codec,
            sync_kind=sync_kind_of(self),
        )

    def document(self, uri: str) -> TypilotDocument | None:
        """The open document at `uri` (None if the client has not opened it)."""
        doc = self.text_documents.get(unquote(uri))
        return doc if isinstance(doc, TypilotDocument) else None

    def documents(self) -> list[TypilotDocument]:
        return [d for d in self.text_documents.values() if isinstance(d, TypilotDocument)]
