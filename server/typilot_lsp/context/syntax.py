"""tree-sitter, loaded on first use: the grammars, parsing, and what every language needs.

The grammars are the tree-sitter project's own prebuilt wheels, one per language
(`tree-sitter-python`, `-javascript`, `-typescript`, `-go`): a few MB in all, bundled, and
nothing fetched at run time. (`tree-sitter-language-pack` 1.x downloads its grammars from the
network on first use, which Typilot must never do; its 0.x releases bundle 300 grammars in
180 MB.) A language whose grammar cannot be loaded gets no definitions: today's behaviour.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tree_sitter import Node, Parser

log = logging.getLogger(__name__)

GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
}
"""Grammar name -> (module, function that returns the language)."""

_languages: dict[str, Any] = {}
_failed: set[str] = set()
_lock = threading.Lock()
_local = threading.local()


def language(grammar: str) -> Any | None:
    """The tree-sitter Language of a grammar, or None if it cannot be loaded."""
    with _lock:
        if grammar in _languages:
            return _languages[grammar]
        if grammar in _failed or grammar not in GRAMMARS:
            return None
        module_name, function = GRAMMARS[grammar]
        try:
            import tree_sitter

            module = importlib.import_module(module_name)
            loaded = tree_sitter.Language(getattr(module, function)())
        except Exception as exc:  # not installed, or a grammar this tree-sitter cannot load
            log.warning("tree-sitter grammar %s unavailable: %s", grammar, exc)
            _failed.add(grammar)
            return None
        _languages[grammar] = loaded
        return loaded


def parser(grammar: str) -> Parser | None:
    """A parser for `grammar`, one per thread (a tree-sitter Parser is not thread-safe)."""
    parsers: dict[str, Any] = getattr(_local, "parsers", None) or {}
    _local.parsers = parsers
    if grammar not in parsers:
        lang = language(grammar)
        if lang is None:
            return None
        import tree_sitter

        parsers[grammar] = tree_sitter.Parser(lang)
    return parsers[grammar]


def parse(grammar: str, source: bytes) -> Node | None:
    """The root node of `source`, or None without a grammar."""
    found = parser(grammar)
    if found is None:
        return None
    return found.parse(source).root_node


def text(node: Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return node.text.decode("utf-8", errors="replace")


def named_children(node: Node) -> Iterator[Node]:
    for child in node.children:
        if child.is_named:
            yield child


def walk(node: Node, first: int = 0, last: int | None = None) -> Iterator[Node]:
    """Every node under `node` (itself included) that touches lines `first`..`last`."""
    stack = [node]
    while stack:
        current = stack.pop()
        if current.end_point[0] < first or (last is not None and current.start_point[0] > last):
            continue
        yield current
        stack.extend(reversed(current.children))


def member_chain(
    node: Node, link: str, member_field: str, object_field: str
) -> tuple[tuple[str, ...], list[str]]:
    """`a.b.c` read from its outermost `link` node (Python's `attribute`, Go's
    `selector_expression`): (("a", "b", "c"), ["b", "c"]); a chain that starts at a call or
    an index has no head: ((), ["b", "c"])."""
    members: list[str] = []
    current: Node | None = node
    while current is not None and current.type == link:
        members.append(text(current.child_by_field_name(member_field)))
        current = current.child_by_field_name(object_field)
    members.reverse()
    if current is not None and current.type == "identifier":
        return (text(current), *members), members
    return (), members


def leading_comments(node: Node, comment_type: str = "comment") -> str:
    """The comment lines right above `node` (a doc comment), joined with line breaks."""
    comments: list[str] = []
    row = node.start_point[0]
    sibling = node.prev_sibling
    while sibling is not None and sibling.type == comment_type and sibling.end_point[0] == row - 1:
        comments.append(text(sibling))
        row = sibling.start_point[0]
        sibling = sibling.prev_sibling
    return "\n".join(reversed(comments))


def source_slice(source: bytes, start: int, end: int) -> str:
    return source[start:end].decode("utf-8", errors="replace")


def line_start_byte(source: bytes, node: Node) -> int:
    """The byte where `node`'s first line starts (to keep its indentation)."""
    return source.rfind(b"\n", 0, node.start_byte) + 1


def innermost(root: Node, row: int, types: tuple[str, ...]) -> tuple[int, int] | None:
    """The lines of the innermost node of `types` that spans `row`."""
    found = None
    node: Node | None = root.descendant_for_point_range((row, 0), (row, 0))
    while node is not None:
        if node.type in types and node.start_point[0] < row <= node.end_point[0]:
            found = (node.start_point[0], node.end_point[0])
            break
        node = node.parent
    return found
