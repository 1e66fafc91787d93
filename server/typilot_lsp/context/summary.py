"""What one parsed file offers (its definitions, its imports) and what the code at hand uses.

Every language module turns a file into a `FileSummary` and the code around a prefix line
into a `Usage`; `gather` does the rest the same way for all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

import attrs

from typilot_lsp.context import syntax
from typilot_lsp.context.model import DefinitionKind, Rank

if TYPE_CHECKING:
    from tree_sitter import Node

    from typilot_lsp.context.access import WorkspaceFiles

SHORT_CHARS = 600
"""A definition (or member) this long or shorter is shown whole, body included."""
LONG_DECLARATION_CHARS = 2000
"""A declaration shown whole by nature (an interface, a struct) is cut past this."""

Chain = tuple[str, ...]
"""A name as the code writes it: ("f",), ("shapes", "Rect"), ("s", "items", "get")."""


@attrs.frozen
class Symbol:
    """One top-level definition of a file (a class's or struct's methods as its members)."""

    name: str
    kind: DefinitionKind
    full: str
    """The whole definition, its doc comment included."""
    outline: str
    """The same without bodies: signature, docstring, fields, members' signatures."""
    header: str = ""
    """A class's own part (signature, docstring, fields), without its members."""
    footer: str = ""
    """What closes a class after its members (`}` in braced languages)."""
    members: Mapping[str, Symbol] = attrs.field(factory=dict)
    refs: tuple[Chain, ...] = ()
    """Names its signature uses: parameter and return types, base classes, field types."""
    receiver: str = ""
    """A Go method's receiver type."""
    always_whole: tuple[str, ...] = ()
    """Members shown whole when short even if unused (Python's __init__: the fields)."""

    def render(self, used: frozenset[str] = frozenset()) -> str:
        """The text to show: whole when short; else the outline, with the members the code
        uses (and `always_whole`) whole when they are short."""
        if len(self.full) <= SHORT_CHARS:
            return self.full
        if not self.members or not self.header:
            return self.outline
        parts = [self.header]
        for name, member in self.members.items():
            whole = (name in used or name in self.always_whole) and len(member.full) <= SHORT_CHARS
            parts.append(member.full if whole else member.outline)
        if self.footer:
            parts.append(self.footer)
        return "\n".join(parts)


@attrs.frozen
class Binding:
    """A name a file binds by importing it."""

    local: str
    module: str
    """The module as written: "pkg.mod", ".sibling", "./shapes", "example.com/app/models"."""
    name: str | None
    """The imported name; None when the module itself is bound (import m, import * as ns)."""


@attrs.frozen
class FileSummary:
    symbols: Mapping[str, Symbol] = attrs.field(factory=dict)
    bindings: Mapping[str, Binding] = attrs.field(factory=dict)
    stars: tuple[str, ...] = ()
    """Modules whose every name this file imports or re-exports (`*`)."""
    aliases: Mapping[str, str] = attrs.field(factory=dict)
    """Exported name -> the local name it exports (`export { a as b }`, `export default a`)."""
    methods: tuple[Symbol, ...] = ()
    """Go: the methods this file declares (each names its receiver)."""
    package: str = ""
    """Go: the package clause."""

    def symbol(self, name: str) -> Symbol | None:
        found = self.symbols.get(name)
        if found is None and name in self.aliases:
            found = self.symbols.get(self.aliases[name])
        return found


@attrs.define
class Usage:
    """The names the code at hand uses, each with how directly."""

    chains: dict[Chain, Rank] = attrs.Factory(dict)
    members: dict[str, Rank] = attrs.Factory(dict)

    def add_chain(self, chain: Chain, rank: Rank) -> None:
        if chain and rank < self.chains.get(chain, Rank.IMPORTED + 1):
            self.chains[chain] = rank

    def add_member(self, name: str, rank: Rank) -> None:
        if rank < self.members.get(name, Rank.IMPORTED + 1):
            self.members[name] = rank


class Spans:
    """The lines of the code at hand: those used directly, and the whole window."""

    def __init__(self, direct: list[tuple[int, int]], window: tuple[int, int]) -> None:
        self.direct = direct
        self.window = window

    def rank_of(self, row: int) -> Rank:
        if any(first <= row <= last for first, last in self.direct):
            return Rank.DIRECT
        return Rank.NEARBY


UsedAt = Callable[["Node"], "tuple[Chain, list[str]] | None"]
"""A language's reading of one node: the name chain it uses and its member names, or None."""


def read_usage(root: Node, spans: Spans, used: UsedAt) -> Usage:
    """The names the nodes starting on the lines of `spans.window` use, ranked by line."""
    usage = Usage()
    first, last = spans.window
    for node in syntax.walk(root, first, last):
        row = node.start_point[0]
        found = used(node) if first <= row <= last else None
        if found is not None:
            chain, members = found
            rank = spans.rank_of(row)
            usage.add_chain(chain, rank)
            for member in members:
                usage.add_member(member, rank)
    return usage


class Language(Protocol):
    """What `gather` needs from a language."""

    name: str
    extensions: tuple[str, ...]

    def grammar_for(self, path: str) -> str:
        """The tree-sitter grammar for a file of this language."""

    def summarize(self, root: Node, source: bytes) -> FileSummary:
        """A file's top-level definitions and imports."""

    def usage(self, root: Node, spans: Spans) -> Usage:
        """The names used on the lines of `spans`."""

    def enclosing(self, root: Node, row: int) -> tuple[int, int] | None:
        """The lines of the innermost function or class around `row` (None: top level)."""

    def module_files(self, module: str, importer: str, files: WorkspaceFiles) -> list[str]:
        """The files a module written in `importer` is, the way the language finds them."""

    def submodule(self, module: str, name: str) -> str | None:
        """`name` as a module inside `module`, where the language has such (Python)."""

    def package_files(self, path: str, files: WorkspaceFiles) -> list[str]:
        """The other files whose names `path` sees without importing them (Go's package)."""
