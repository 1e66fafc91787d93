"""JavaScript and TypeScript (and JSX/TSX): `import`, `require`, `export ... from`.

A relative module (`./x`, `../y/z`) is found the way TypeScript and bundlers find it: the
path as written, then with each extension (`.ts`, `.tsx`, `.d.ts`, `.js`, ... in the order the
importing language prefers), then as a folder's `index` file; `./x.js` written in TypeScript
also finds `x.ts`. A re-export (`export { a } from`, `export * from`, an `index` barrel) is
followed. Bare package names (`react`, `@scope/pkg`) live in node_modules: not the
workspace's own code, never read.
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

TS_EXTENSIONS = (".ts", ".tsx", ".d.ts", ".mts", ".cts")
JS_EXTENSIONS = (".js", ".jsx", ".mjs", ".cjs")
_FUNCTIONS = (
    "function_declaration",
    "generator_function_declaration",
    "function_expression",
    "arrow_function",
    "method_definition",
    "class_declaration",
)
_NAME_TYPES = ("identifier", "type_identifier", "shorthand_property_identifier")
_DECLARATION_KINDS = {
    "function_declaration": DefinitionKind.FUNCTION,
    "generator_function_declaration": DefinitionKind.FUNCTION,
    "function_signature": DefinitionKind.FUNCTION,
    "class_declaration": DefinitionKind.CLASS,
    "abstract_class_declaration": DefinitionKind.CLASS,
    "interface_declaration": DefinitionKind.INTERFACE,
    "type_alias_declaration": DefinitionKind.TYPE,
    "enum_declaration": DefinitionKind.ENUM,
}


class ScriptLanguage:
    """JavaScript or TypeScript: the same rules, a different preference of extensions."""

    def __init__(self, name: str, typescript: bool) -> None:
        self.name = name
        self.typescript = typescript
        ordered = (
            (*TS_EXTENSIONS, *JS_EXTENSIONS) if typescript else (*JS_EXTENSIONS, *TS_EXTENSIONS)
        )
        self.extensions: tuple[str, ...] = ordered

    def grammar_for(self, path: str) -> str:
        if path.endswith(".tsx"):
            return "tsx"
        if path.endswith((".ts", ".mts", ".cts")):
            return "typescript"
        if self.name == "typescriptreact":
            return "tsx"
        return (
            "typescript" if self.typescript and not path.endswith(JS_EXTENSIONS) else "javascript"
        )

    # -- a file's definitions and imports ----------------------------------------------
    def summarize(self, root: Node, source: bytes) -> FileSummary:
        found = _Summary(source)
        for node in syntax.named_children(root):
            found.statement(node)
        return FileSummary(
            symbols=found.symbols,
            bindings=found.bindings,
            stars=tuple(found.stars),
            aliases=found.aliases,
        )

    # -- what the code at hand uses ----------------------------------------------------
    def usage(self, root: Node, spans: Spans) -> Usage:
        return read_usage(root, spans, _used)

    def enclosing(self, root: Node, row: int) -> tuple[int, int] | None:
        return syntax.innermost(root, row, _FUNCTIONS)

    # -- finding modules ---------------------------------------------------------------
    def module_files(self, module: str, importer: str, files: WorkspaceFiles) -> list[str]:
        if not module.startswith(("./", "../")) and module not in (".", ".."):
            return []  # a package from node_modules, or a path alias: not looked up
        base = os.path.normpath(os.path.join(os.path.dirname(importer), module))
        for candidate in self._candidates(base):
            if files.is_file(candidate):
                return [candidate]
        return []

    def _candidates(self, base: str) -> list[str]:
        candidates = []
        stem, ext = os.path.splitext(base)
        if ext in (*JS_EXTENSIONS, *TS_EXTENSIONS):
            candidates.append(base)
            if ext in JS_EXTENSIONS:  # TypeScript's ESM style: import "./x.js" means x.ts
                candidates.extend(stem + ts for ts in TS_EXTENSIONS)
        candidates.extend(base + extension for extension in self.extensions)
        candidates.extend(os.path.join(base, "index" + ext) for ext in self.extensions)
        return candidates

    def submodule(self, module: str, name: str) -> str | None:
        return None

    def package_files(self, path: str, files: WorkspaceFiles) -> list[str]:
        return []


def _inside_chain(node: Node) -> bool:
    """Part of a member chain read from its outermost node."""
    parent = node.parent
    if parent is None:
        return False
    if parent.type == "member_expression":
        return parent.child_by_field_name("object") == node
    return parent.type == "nested_type_identifier"


def _member_chain(node: Node) -> tuple[Chain, list[str]]:
    """`a.b.c` -> (("a", "b", "c"), ["b", "c"]); `this.x` or `f().x`: no head."""
    members: list[str] = []
    current: Node | None = node
    while current is not None and current.type in ("member_expression", "nested_type_identifier"):
        if current.type == "member_expression":
            members.append(syntax.text(current.child_by_field_name("property")))
            current = current.child_by_field_name("object")
        else:  # ns.Type: module, then name
            names = list(syntax.named_children(current))
            members.append(syntax.text(names[-1]))
            current = names[0] if len(names) > 1 else None
    members.reverse()
    if current is not None and current.type in ("identifier", "type_identifier"):
        return (syntax.text(current), *members), members
    return (), members


def _string_value(node: Node | None) -> str:
    if node is None:
        return ""
    for child in syntax.named_children(node):
        if child.type == "string_fragment":
            return syntax.text(child)
    return syntax.text(node).strip("'\"`")


def _require_of(node: Node | None) -> str | None:
    """The module of `require("...")`, if `node` is such a call."""
    if node is None or node.type != "call_expression":
        return None
    function = node.child_by_field_name("function")
    arguments = node.child_by_field_name("arguments")
    if syntax.text(function) != "require" or arguments is None:
        return None
    strings = [c for c in syntax.named_children(arguments) if c.type == "string"]
    return _string_value(strings[0]) if strings else None


def _type_chains(node: Node | None) -> list[Chain]:
    """Type names (and ns.Type) inside a signature part."""
    if node is None:
        return []
    chains: list[Chain] = []
    for inner in syntax.walk(node):
        if inner.type == "nested_type_identifier" and not _inside_chain(inner):
            chain, _ = _member_chain(inner)
            if chain:
                chains.append(chain)
        elif inner.type == "type_identifier" and not _inside_chain(inner):
            chains.append((syntax.text(inner),))
    return chains


class _Summary:
    """Reads a script's top-level statements into symbols, bindings and re-exports."""

    def __init__(self, source: bytes) -> None:
        self.source = source
        self.symbols: dict[str, Symbol] = {}
        self.bindings: dict[str, Binding] = {}
        self.stars: list[str] = []
        self.aliases: dict[str, str] = {}

    def statement(self, node: Node) -> None:
        if node.type == "import_statement":
            self._import(node)
        elif node.type == "export_statement":
            self._export(node)
        elif node.type in ("lexical_declaration", "variable_declaration"):
            self._variables(node, node)
        elif node.type == "expression_statement":
            self._exports_assignment(node)
        elif node.type == "ambient_declaration":
            for inner in syntax.named_children(node):
                self.declaration(inner, node)
        else:
            self.declaration(node, node)

    def _import(self, node: Node) -> None:
        module = _string_value(node.child_by_field_name("source"))
        clause = next((c for c in node.named_children if c.type == "import_clause"), None)
        if clause is None:
            return
        for part in syntax.named_children(clause):
            if part.type == "identifier":
                name = syntax.text(part)
                self.bindings[name] = Binding(name, module, "default")
            elif part.type == "namespace_import":
                for name_node in syntax.named_children(part):
                    name = syntax.text(name_node)
                    self.bindings[name] = Binding(name, module, None)
            elif part.type == "named_imports":
                for spec in syntax.named_children(part):
                    if spec.type != "import_specifier":
                        continue
                    imported = syntax.text(spec.child_by_field_name("name"))
                    local = syntax.text(spec.child_by_field_name("alias")) or imported
                    self.bindings[local] = Binding(local, module, imported)

    def _export(self, node: Node) -> None:
        source = node.child_by_field_name("source")
        declaration = node.child_by_field_name("declaration")
        value = node.child_by_field_name("value")
        is_default = any(c.type == "default" for c in node.children)
        clause = next((c for c in node.named_children if c.type == "export_clause"), None)
        if declaration is not None:
            names = self.declaration(declaration, node)
            if is_default and names:
                self.aliases["default"] = names[0]
        elif source is not None:
            self._reexport(node, _string_value(source), clause)
        elif clause is not None:
            for spec in syntax.named_children(clause):
                name = syntax.text(spec.child_by_field_name("name"))
                alias = syntax.text(spec.child_by_field_name("alias"))
                if alias:
                    self.aliases[alias] = name
        elif is_default and value is not None:
            if value.type == "identifier":
                self.aliases["default"] = syntax.text(value)
            else:
                self._add(self._plain("default", DefinitionKind.FUNCTION, node, node))

    def _reexport(self, node: Node, module: str, clause: Node | None) -> None:
        if clause is None:
            namespace = next((c for c in node.named_children if c.type == "namespace_export"), None)
            if namespace is None:
                self.stars.append(module)
            else:
                for name_node in syntax.named_children(namespace):
                    name = syntax.text(name_node)
                    self.bindings[name] = Binding(name, module, None)
            return
        for spec in syntax.named_children(clause):
            name = syntax.text(spec.child_by_field_name("name"))
            alias = syntax.text(spec.child_by_field_name("alias")) or name
            self.bindings[alias] = Binding(alias, module, name)

    def _exports_assignment(self, node: Node) -> None:
        """CommonJS: `exports.f = ...`, `module.exports.f = ...`, `module.exports = {...}`."""
        assignment = node.named_children[0] if node.named_child_count else None
        if assignment is None or assignment.type != "assignment_expression":
            return
        left = assignment.child_by_field_name("left")
        right = assignment.child_by_field_name("right")
        chain, _ = _member_chain(left) if left is not None else ((), [])
        if chain == ("module", "exports") and right is not None:
            self._module_exports(right, node)
        elif len(chain) >= 2 and chain[0] in ("exports", "module") and chain[-1] != "exports":
            if right is not None and right.type == "identifier":
                self._alias(chain[-1], syntax.text(right))  # `exports.f = f`: f is defined
                return
            kind = DefinitionKind.FUNCTION
            if right is None or right.type not in ("function_expression", "arrow_function"):
                kind = DefinitionKind.VARIABLE
            self._add(self._function_like(chain[-1], kind, right, node, node))

    def _module_exports(self, value: Node, node: Node) -> None:
        """`module.exports = f`, `= { a, b: c }`, `= function f() {}`: what `require` gets."""
        if value.type == "identifier":
            self._alias("default", syntax.text(value))
        elif value.type == "object":
            for part in syntax.named_children(value):
                if part.type == "shorthand_property_identifier":
                    self._alias(syntax.text(part), syntax.text(part))
                elif part.type == "pair":
                    key = syntax.text(part.child_by_field_name("key"))
                    local = part.child_by_field_name("value")
                    if local is not None and local.type == "identifier":
                        self._alias(key, syntax.text(local))
        elif value.type in ("function_expression", "arrow_function", "class"):
            self._add(self._function_like("default", DefinitionKind.FUNCTION, value, node, node))

    def _alias(self, exported: str, local: str) -> None:
        if exported != local:
            self.aliases[exported] = local

    def _variables(self, node: Node, outer: Node) -> list[str]:
        names = []
        for declarator in syntax.named_children(node):
            if declarator.type != "variable_declarator":
                continue
            name_node = declarator.child_by_field_name("name")
            value = declarator.child_by_field_name("value")
            module = _require_of(value)
            if module is not None:
                self._required(name_node, module)
                continue
            if name_node is None or name_node.type != "identifier":
                continue
            name = syntax.text(name_node)
            if value is not None and value.type in ("arrow_function", "function_expression"):
                kind = DefinitionKind.FUNCTION
            elif value is not None and value.type == "class":
                kind = DefinitionKind.CLASS
            else:
                const = syntax.text(node).startswith(("const", "export const"))
                kind = DefinitionKind.CONSTANT if const else DefinitionKind.VARIABLE
            self._add(self._function_like(name, kind, value, outer, declarator))
            names.append(name)
        return names

    def _required(self, pattern: Node | None, module: str) -> None:
        """`const x = require(m)`, `const { a, b: c } = require(m)`."""
        if pattern is None:
            return
        if pattern.type == "identifier":
            name = syntax.text(pattern)
            self.bindings[name] = Binding(name, module, None)
            return
        for part in syntax.named_children(pattern):
            if part.type == "shorthand_property_identifier_pattern":
                name = syntax.text(part)
                self.bindings[name] = Binding(name, module, name)
            elif part.type == "pair_pattern":
                key = syntax.text(part.child_by_field_name("key"))
                local = syntax.text(part.child_by_field_name("value"))
                self.bindings[local] = Binding(local, module, key)

    def declaration(self, node: Node, outer: Node) -> list[str]:
        """A declaration (`outer` is what wraps it: `export`, `declare`); the names it adds."""
        if node.type in ("lexical_declaration", "variable_declaration"):
            return self._variables(node, outer)
        if node.type == "ambient_declaration":  # `export declare function f(): T;`
            return [
                n for inner in syntax.named_children(node) for n in self.declaration(inner, outer)
            ]
        kind = _DECLARATION_KINDS.get(node.type)
        name = syntax.text(node.child_by_field_name("name"))
        if kind is None or not name:
            return []
        if kind is DefinitionKind.FUNCTION:
            symbol = self._function_like(name, kind, node, outer, outer)
        elif kind is DefinitionKind.CLASS:
            symbol = self._class(name, node, outer)
        else:
            symbol = self._plain(name, kind, node, outer)
        self._add(symbol)
        return [name]

    def _add(self, symbol: Symbol) -> None:
        self.symbols[symbol.name] = symbol

    def _whole(self, outer: Node) -> tuple[str, int]:
        """The text of `outer` with its doc comment and its line's indentation."""
        doc = syntax.leading_comments(outer)
        start = syntax.line_start_byte(self.source, outer)
        body = syntax.source_slice(self.source, start, outer.end_byte)
        return (doc + "\n" + body if doc else body), start

    def _plain(self, name: str, kind: DefinitionKind, node: Node, outer: Node) -> Symbol:
        full, _ = self._whole(outer)
        if len(full) > LONG_DECLARATION_CHARS:
            full = full[:LONG_DECLARATION_CHARS].rsplit("\n", 1)[0] + "\n  // ...\n}"
        refs: list[Chain] = []
        for part in ("value", "body", "type"):
            refs.extend(_type_chains(node.child_by_field_name(part)))
        refs.extend(_heritage(node))
        return Symbol(name, kind, full, full, refs=tuple(refs))

    def _function_like(
        self, name: str, kind: DefinitionKind, function: Node | None, outer: Node, head: Node
    ) -> Symbol:
        full, start = self._whole(outer)
        body = function.child_by_field_name("body") if function is not None else None
        doc = syntax.leading_comments(outer)
        if body is not None and body.type in ("statement_block", "class_body"):
            signature = syntax.source_slice(self.source, start, body.start_byte).rstrip()
            outline = (doc + "\n" if doc else "") + signature + " { ... }"
        else:
            outline = full if len(full) <= LONG_DECLARATION_CHARS else full.split("\n")[0] + " ..."
        refs: list[Chain] = []
        if function is not None:
            for part in ("parameters", "return_type", "type_parameters"):
                refs.extend(_type_chains(function.child_by_field_name(part)))
        return Symbol(name, kind, full, outline, refs=tuple(refs))

    def _class(self, name: str, node: Node, outer: Node) -> Symbol:
        full, start = self._whole(outer)
        body = node.child_by_field_name("body")
        doc = syntax.leading_comments(outer)
        if body is None:
            return Symbol(name, DefinitionKind.CLASS, full, full)
        head = syntax.source_slice(self.source, start, body.start_byte).rstrip() + " {"
        header = [(doc + "\n" if doc else "") + head]
        members: dict[str, Symbol] = {}
        refs = _heritage(node)
        for member in syntax.named_children(body):
            text = syntax.source_slice(
                self.source, syntax.line_start_byte(self.source, member), member.end_byte
            )
            member_name = syntax.text(member.child_by_field_name("name"))
            if member.type == "method_definition" and member_name:
                method = self._function_like(
                    member_name, DefinitionKind.METHOD, member, member, member
                )
                members[member_name] = method
                if member_name == "constructor":
                    refs.extend(method.refs)
            elif member.type != "comment":
                header.append(text if len(text) <= 200 else text.split("\n")[0] + " ...")
                refs.extend(_type_chains(member.child_by_field_name("type")))
        header_text = "\n".join(header)
        outline = "\n".join([header_text, *(m.outline for m in members.values()), "}"])
        return Symbol(
            name,
            DefinitionKind.CLASS,
            full,
            outline,
            header=header_text,
            footer="}",
            members=members,
            refs=tuple(refs),
            always_whole=("constructor",),
        )


def _heritage(node: Node) -> list[Chain]:
    """Base classes and implemented interfaces."""
    chains: list[Chain] = []
    for child in syntax.named_children(node):
        if child.type in ("class_heritage", "extends_type_clause", "extends_clause"):
            for inner in syntax.walk(child):
                if inner.type in ("identifier", "type_identifier") and not _inside_chain(inner):
                    chains.append((syntax.text(inner),))
                elif inner.type in ("member_expression", "nested_type_identifier") and not (
                    _inside_chain(inner)
                ):
                    chain, _ = _member_chain(inner)
                    if chain:
                        chains.append(chain)
    return chains


def _used(node: Node) -> tuple[Chain, list[str]] | None:
    """A member chain (`a.b.c`, `ns.Type`, from its outermost node) or a plain name."""
    if _inside_chain(node):
        return None
    if node.type in ("member_expression", "nested_type_identifier"):
        return _member_chain(node)
    if node.type in _NAME_TYPES:
        return (syntax.text(node),), []
    return None
