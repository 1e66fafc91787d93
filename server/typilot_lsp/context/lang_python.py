"""Python: `import` and `from ... import` the way Python finds modules.

A module `a.b` is `a/b.py`, `a/b/__init__.py` (or their `.pyi` stubs) under the importing
file's folder, each folder above it up to the workspace folder (a package's root), and the
workspace folder's `src/` (the src layout); `from .x import y` counts folders up from the
importing file. `from pkg import name` finds `name` in `pkg/__init__.py`, where it may be
imported from elsewhere (followed), or else takes it as the submodule `pkg/name.py`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from typilot_lsp.context import syntax
from typilot_lsp.context.model import DefinitionKind
from typilot_lsp.context.summary import (
    LONG_DECLARATION_CHARS,
    Binding,
    Chain,
    FileSummary,
    Spans,
    Symbol,
    Usage,
    read_usage,
)

if TYPE_CHECKING:
    from tree_sitter import Node

    from typilot_lsp.context.access import WorkspaceFiles

_DEFINITIONS = ("function_definition", "class_definition")
_NESTING: tuple[str, ...] = (
    "if_statement",
    "try_statement",
    "with_statement",
    "else_clause",
    "elif_clause",
)
_NESTING += ("except_clause", "finally_clause", "block")
_MODULE_SUFFIXES = (".py", os.sep + "__init__.py", ".pyi", os.sep + "__init__.pyi")


class PythonLanguage:
    name = "python"
    extensions: tuple[str, ...] = (".py", ".pyi")

    def grammar_for(self, path: str) -> str:
        return "python"

    # -- a file's definitions and imports ----------------------------------------------
    def summarize(self, root: Node, source: bytes) -> FileSummary:
        symbols: dict[str, Symbol] = {}
        bindings: dict[str, Binding] = {}
        stars: list[str] = []
        for node in _top_level(root):
            if node.type == "import_statement":
                _read_import(node, bindings)
            elif node.type == "import_from_statement":
                _read_from_import(node, bindings, stars)
            else:
                for symbol in _symbols(node, source):
                    symbols[symbol.name] = symbol
        return FileSummary(symbols=symbols, bindings=bindings, stars=tuple(stars))

    # -- what the code at hand uses ----------------------------------------------------
    def usage(self, root: Node, spans: Spans) -> Usage:
        return read_usage(root, spans, _used)

    def enclosing(self, root: Node, row: int) -> tuple[int, int] | None:
        return syntax.innermost(root, row, _DEFINITIONS)

    # -- finding modules ---------------------------------------------------------------
    def module_files(self, module: str, importer: str, files: WorkspaceFiles) -> list[str]:
        dots = len(module) - len(module.lstrip("."))
        parts = [p for p in module[dots:].split(".") if p]
        if dots:
            base = os.path.dirname(importer)
            for _ in range(dots - 1):
                base = os.path.dirname(base)
            roots = [base]
        else:
            roots = _search_roots(importer, files)
        for root in roots:
            stem = os.path.join(root, *parts)
            for suffix in _MODULE_SUFFIXES:
                if not parts and not suffix.startswith(os.sep):
                    continue  # `from . import x`: the package itself
                candidate = stem + suffix
                if files.is_file(candidate):
                    return [candidate]
        return []

    def submodule(self, module: str, name: str) -> str | None:
        return f"{module}{name}" if module.endswith(".") else f"{module}.{name}"

    def package_files(self, path: str, files: WorkspaceFiles) -> list[str]:
        return []


def _search_roots(importer: str, files: WorkspaceFiles) -> list[str]:
    """The importing file's folder, each folder above it inside the workspace, and src/."""
    roots: list[str] = []
    folder = os.path.dirname(importer)
    while files.inside(folder):
        roots.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    if roots:
        roots.append(os.path.join(roots[-1], "src"))
    return roots


def _top_level(root: Node) -> list[Node]:
    """Module-level statements, including those inside if/try/with at module level."""
    found: list[Node] = []
    stack = list(reversed(list(syntax.named_children(root))))
    while stack:
        node = stack.pop()
        if node.type in _NESTING:
            stack.extend(reversed(list(syntax.named_children(node))))
        else:
            found.append(node)
    return found


def _dotted(node: Node | None) -> str:
    return syntax.text(node).replace(" ", "")


def _read_import(node: Node, bindings: dict[str, Binding]) -> None:
    for name in node.children_by_field_name("name"):
        if name.type == "aliased_import":
            alias = syntax.text(name.child_by_field_name("alias"))
            bindings[alias] = Binding(alias, _dotted(name.child_by_field_name("name")), None)
        else:
            top = _dotted(name).split(".")[0]
            bindings[top] = Binding(top, top, None)


def _read_from_import(node: Node, bindings: dict[str, Binding], stars: list[str]) -> None:
    module = _dotted(node.child_by_field_name("module_name"))
    if any(child.type == "wildcard_import" for child in node.children):
        stars.append(module)
        return
    for name in node.children_by_field_name("name"):
        if name.type == "aliased_import":
            imported = _dotted(name.child_by_field_name("name"))
            local = syntax.text(name.child_by_field_name("alias"))
        else:
            imported = local = _dotted(name)
        bindings[local] = Binding(local, module, imported)


def _is_object_of_attribute(node: Node) -> bool:
    parent = node.parent
    return (
        parent is not None
        and parent.type == "attribute"
        and parent.child_by_field_name("object") == node
    )


def _is_plain_name(node: Node) -> bool:
    parent = node.parent
    if parent is None:
        return True
    if parent.type == "attribute":
        return False  # part of a chain, read from the attribute node
    if parent.type == "keyword_argument" and parent.child_by_field_name("name") == node:
        return False
    return parent.type not in ("dotted_name", "aliased_import")


def _attribute_chain(node: Node) -> tuple[Chain, list[str]]:
    """`a.b.c` -> (("a", "b", "c"), ["b", "c"]); a chain on a call or subscript has no head."""
    return syntax.member_chain(node, "attribute", "attribute", "object")


def _chains_in(node: Node | None) -> list[Chain]:
    """Names and dotted names inside a type annotation or a list of base classes."""
    if node is None:
        return []
    chains: list[Chain] = []
    for inner in syntax.walk(node):
        if inner.type == "attribute" and not _is_object_of_attribute(inner):
            chain, _members = _attribute_chain(inner)
            if chain:
                chains.append(chain)
        elif inner.type == "identifier" and _is_plain_name(inner):
            chains.append((syntax.text(inner),))
    return chains


# -- definitions -------------------------------------------------------------------------


def _symbols(node: Node, source: bytes) -> list[Symbol]:
    outer = node
    if node.type == "decorated_definition":
        definition = node.child_by_field_name("definition")
        if definition is None:
            return []
        node = definition
    if node.type == "function_definition":
        return [_function(outer, node, source, DefinitionKind.FUNCTION)]
    if node.type == "class_definition":
        return [_class(outer, node, source)]
    if node.type == "expression_statement":
        return _assignments(node, source)
    return []


def _docstring(body: Node | None) -> Node | None:
    if body is None or body.named_child_count == 0:
        return None
    first = body.named_children[0]
    is_string = first.named_child_count == 1 and first.named_children[0].type == "string"
    return first if first.type == "expression_statement" and is_string else None


def _signature(outer: Node, node: Node, source: bytes) -> tuple[str, str]:
    """(the lines before the body, the body's indentation) of a def or class."""
    body = node.child_by_field_name("body")
    start = syntax.line_start_byte(source, outer)
    if body is None:
        return syntax.source_slice(source, start, outer.end_byte), ""
    head = syntax.source_slice(source, start, body.start_byte).rstrip()
    indent_start = syntax.line_start_byte(source, body)
    indent = syntax.source_slice(source, indent_start, body.start_byte)
    return head, indent if not indent.strip() else "    "


def _function(outer: Node, node: Node, source: bytes, kind: DefinitionKind) -> Symbol:
    start = syntax.line_start_byte(source, outer)
    full = syntax.source_slice(source, start, outer.end_byte)
    head, indent = _signature(outer, node, source)
    doc = _docstring(node.child_by_field_name("body"))
    outline = head
    if doc is not None:
        outline += "\n" + indent + syntax.text(doc)
    outline += "\n" + indent + "..."
    refs = [*_chains_in(node.child_by_field_name("return_type"))]
    parameters = node.child_by_field_name("parameters")
    for parameter in syntax.named_children(parameters) if parameters else []:
        refs.extend(_chains_in(parameter.child_by_field_name("type")))
    name = syntax.text(node.child_by_field_name("name"))
    return Symbol(name, kind, full, outline, refs=tuple(refs))


def _class(outer: Node, node: Node, source: bytes) -> Symbol:
    start = syntax.line_start_byte(source, outer)
    full = syntax.source_slice(source, start, outer.end_byte)
    head, _indent = _signature(outer, node, source)
    body = node.child_by_field_name("body")
    header = [head]
    members: dict[str, Symbol] = {}
    refs = _chains_in(node.child_by_field_name("superclasses"))
    for statement in syntax.named_children(body) if body else []:
        inner = statement.child_by_field_name("definition") or statement
        if inner.type == "function_definition":
            method = _function(statement, inner, source, DefinitionKind.METHOD)
            members[method.name] = method
            if method.name == "__init__":
                refs.extend(method.refs)
        elif statement.type == "expression_statement":
            line = syntax.source_slice(
                source, syntax.line_start_byte(source, statement), statement.end_byte
            )
            header.append(line if len(line) <= 200 else line.split("\n")[0] + " ...")
            for assignment in syntax.named_children(statement):
                refs.extend(_chains_in(assignment.child_by_field_name("type")))
    name = syntax.text(node.child_by_field_name("name"))
    head_text = "\n".join(header)
    outline = "\n".join([head_text, *(m.outline for m in members.values())])
    return Symbol(
        name,
        DefinitionKind.CLASS,
        full,
        outline,
        header=head_text,
        members=members,
        refs=tuple(refs),
        always_whole=("__init__",),
    )


def _assignments(node: Node, source: bytes) -> list[Symbol]:
    found = []
    for assignment in syntax.named_children(node):
        if assignment.type != "assignment":
            continue
        left = assignment.child_by_field_name("left")
        if left is None or left.type != "identifier":
            continue
        name = syntax.text(left)
        full = syntax.text(node)
        if len(full) > LONG_DECLARATION_CHARS:
            full = full.split("\n")[0] + " ..."
        outline = full if len(full) <= 200 else full.split("\n")[0] + " ..."
        kind = DefinitionKind.CONSTANT if name.isupper() else DefinitionKind.VARIABLE
        refs = tuple(_chains_in(assignment.child_by_field_name("type")))
        found.append(Symbol(name, kind, full, outline, refs=refs))
    return found


def _used(node: Node) -> tuple[Chain, list[str]] | None:
    """A dotted name (read from its outermost `attribute`) or a plain name the code uses."""
    if node.type == "attribute" and not _is_object_of_attribute(node):
        return _attribute_chain(node)
    if node.type == "identifier" and _is_plain_name(node):
        return (syntax.text(node),), []
    return None
