"""Go: the other files of the package, and the module's own packages through go.mod.

A Go file sees every name its package declares, in any file of its folder with the same
`package` clause (test files only from test files). An import path under the module path
that the nearest `go.mod` (up to the workspace folder) declares is the folder below that
`go.mod`; other imports (the standard library, dependencies) are not the workspace's code.
Methods belong to their receiver's type wherever they are declared.
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

_FUNCTIONS = ("function_declaration", "method_declaration", "func_literal", "type_declaration")
_CHAINS = ("selector_expression", "qualified_type")
_SPECS = ("type_spec", "type_alias", "const_spec", "var_spec")


class GoLanguage:
    name = "go"
    extensions: tuple[str, ...] = (".go",)

    def grammar_for(self, path: str) -> str:
        return "go"

    # -- a file's definitions and imports ----------------------------------------------
    def summarize(self, root: Node, source: bytes) -> FileSummary:
        symbols: dict[str, Symbol] = {}
        bindings: dict[str, Binding] = {}
        methods: list[Symbol] = []
        package = ""
        for node in syntax.named_children(root):
            if node.type == "package_clause":
                package = syntax.text(node.named_children[0]) if node.named_child_count else ""
            elif node.type == "import_declaration":
                _imports(node, bindings)
            elif node.type == "method_declaration":
                methods.append(_function(node, source, DefinitionKind.METHOD))
            elif node.type == "function_declaration":
                symbol = _function(node, source, DefinitionKind.FUNCTION)
                symbols[symbol.name] = symbol
            elif node.type in ("type_declaration", "const_declaration", "var_declaration"):
                for symbol in _declarations(node, source):
                    symbols[symbol.name] = symbol
        return FileSummary(
            symbols=symbols, bindings=bindings, methods=tuple(methods), package=package
        )

    # -- what the code at hand uses ----------------------------------------------------
    def usage(self, root: Node, spans: Spans) -> Usage:
        return read_usage(root, spans, _used)

    def enclosing(self, root: Node, row: int) -> tuple[int, int] | None:
        return syntax.innermost(root, row, _FUNCTIONS)

    # -- finding packages --------------------------------------------------------------
    def module_files(self, module: str, importer: str, files: WorkspaceFiles) -> list[str]:
        found = _go_mod(os.path.dirname(importer), files)
        if found is None:
            return []
        root, path = found
        if module != path and not module.startswith(path + "/"):
            return []  # the standard library or a dependency
        folder = os.path.join(root, *module[len(path) :].split("/"))
        return [f for f in files.list_dir(folder, (".go",)) if not f.endswith("_test.go")]

    def submodule(self, module: str, name: str) -> str | None:
        return None

    def package_files(self, path: str, files: WorkspaceFiles) -> list[str]:
        testing = path.endswith("_test.go")
        return [
            f
            for f in files.list_dir(os.path.dirname(path), (".go",))
            if f != os.path.normpath(path) and (testing or not f.endswith("_test.go"))
        ]


def _go_mod(folder: str, files: WorkspaceFiles) -> tuple[str, str] | None:
    """(the folder of the nearest go.mod, its module path), looking up to the workspace."""
    while files.inside(folder):
        candidate = os.path.join(folder, "go.mod")
        if files.is_file(candidate):
            source = files.read(candidate)
            if source is None:
                return None
            for line in source.text.splitlines():
                words = line.split()
                if len(words) >= 2 and words[0] == "module":
                    return folder, words[1].strip('"`')
            return None
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return None


def _imports(node: Node, bindings: dict[str, Binding]) -> None:
    for spec in syntax.walk(node):
        if spec.type != "import_spec":
            continue
        path_node = spec.child_by_field_name("path")
        path = syntax.text(path_node).strip('"`')
        alias = syntax.text(spec.child_by_field_name("name"))
        if alias in ("_", "."):
            continue
        local = alias or path.rsplit("/", 1)[-1]
        bindings[local] = Binding(local, path, None)


def _inside_chain(node: Node) -> bool:
    parent = node.parent
    if parent is None or parent.type not in _CHAINS:
        return False
    if parent.type == "qualified_type":
        return True
    return (
        parent.child_by_field_name("operand") == node or parent.child_by_field_name("field") == node
    )


def _chain(node: Node) -> tuple[Chain, list[str]]:
    """`pkg.Func`, `s.items.Get` -> the chain from an identifier, and the member names."""
    if node.type == "qualified_type":
        package = syntax.text(node.child_by_field_name("package"))
        name = syntax.text(node.child_by_field_name("name"))
        return (package, name), []
    return syntax.member_chain(node, "selector_expression", "field", "operand")


def _type_chains(node: Node | None) -> list[Chain]:
    if node is None:
        return []
    chains: list[Chain] = []
    for inner in syntax.walk(node):
        if inner.type == "qualified_type":
            chains.append(_chain(inner)[0])
        elif inner.type == "type_identifier" and not _inside_chain(inner):
            chains.append((syntax.text(inner),))
    return chains


def _whole(node: Node, source: bytes) -> str:
    doc = syntax.leading_comments(node)
    body = syntax.source_slice(source, syntax.line_start_byte(source, node), node.end_byte)
    return doc + "\n" + body if doc else body


def _receiver_type(node: Node) -> str:
    receiver = node.child_by_field_name("receiver")
    for inner in syntax.walk(receiver) if receiver is not None else []:
        if inner.type == "type_identifier":
            return syntax.text(inner)
    return ""


def _function(node: Node, source: bytes, kind: DefinitionKind) -> Symbol:
    full = _whole(node, source)
    body = node.child_by_field_name("body")
    doc = syntax.leading_comments(node)
    end = body.start_byte if body is not None else node.end_byte
    signature = syntax.source_slice(source, syntax.line_start_byte(source, node), end).rstrip()
    outline = (doc + "\n" if doc else "") + signature + (" { ... }" if body is not None else "")
    refs: list[Chain] = []
    for part in ("parameters", "result", "receiver"):
        refs.extend(_type_chains(node.child_by_field_name(part)))
    name = syntax.text(node.child_by_field_name("name"))
    receiver = _receiver_type(node) if kind is DefinitionKind.METHOD else ""
    return Symbol(name, kind, full, outline, refs=tuple(refs), receiver=receiver)


def _declarations(node: Node, source: bytes) -> list[Symbol]:
    """Each name of a `type`, `const` or `var` declaration (grouped or not)."""
    keyword = {"type_declaration": "type", "const_declaration": "const"}.get(node.type, "var")
    specs = [s for s in syntax.walk(node) if s.type in _SPECS]
    found = []
    for spec in specs:
        text = _whole(node, source) if len(specs) == 1 else f"{keyword} {syntax.text(spec)}"
        if len(text) > LONG_DECLARATION_CHARS:
            text = text[:LONG_DECLARATION_CHARS].rsplit("\n", 1)[0] + "\n\t// ...\n}"
        kind = _kind(keyword, spec)
        refs = tuple(_type_chains(spec.child_by_field_name("type")))
        for name_node in spec.children_by_field_name("name"):
            found.append(Symbol(syntax.text(name_node), kind, text, text, refs=refs))
    return found


def _kind(keyword: str, spec: Node) -> DefinitionKind:
    if keyword == "const":
        return DefinitionKind.CONSTANT
    if keyword == "var":
        return DefinitionKind.VARIABLE
    shape = spec.child_by_field_name("type")
    if shape is not None and shape.type == "struct_type":
        return DefinitionKind.STRUCT
    if shape is not None and shape.type == "interface_type":
        return DefinitionKind.INTERFACE
    return DefinitionKind.TYPE


def _used(node: Node) -> tuple[Chain, list[str]] | None:
    """`pkg.Name`, `x.field.Method` (from the outermost selector) or a plain name."""
    if _inside_chain(node):
        return None
    if node.type in _CHAINS:
        return _chain(node)
    if node.type in ("identifier", "type_identifier"):
        return (syntax.text(node),), []
    return None
