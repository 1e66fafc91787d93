"""Imports in a reply: they land with the file's imports, and only if the landed code uses them.

A model often opens its code with imports (`import pandas as pd`) that nothing it writes uses,
and a `gen:` line sits in the middle of a file: landed in place, they would sit mid-file. So the
output filter holds a reply's top-level imports back (`ImportCollector`) and, when the reply
ends, gives the ones the landed code uses and the file lacks; the run writes them after the
file's own imports (`import_insertion`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_IDENT = r"[A-Za-z_$][\w$]*"
_PY_IMPORT = re.compile(r"^import\s+(.+)$")
_PY_FROM = re.compile(r"^from\s+\S+\s+import\s+\(?([^)]*)\)?$")
_JS_IMPORT = re.compile(r"^import\s+(.+?)\s+from\s+['\"]")
_JS_REQUIRE = re.compile(r"^(?:const|let|var|local)\s+([\w{}\s,:]+?)\s*=\s*require\b")
_GO_IMPORT = re.compile(rf'^(?:import\s+)?(?:({_IDENT}|\.)\s+)?"([^"]+)"$')
_RUST_USE = re.compile(r"^(?:pub\s+)?use\s+([^;]+);?$")
_EXTERN_CRATE = re.compile(rf"^extern\s+crate\s+({_IDENT})(?:\s+as\s+({_IDENT}))?")
_ALIAS = re.compile(rf"^({_IDENT}(?:\.{_IDENT})*)(?:\s+as\s+({_IDENT}))?$")
_IMPORT = re.compile(
    r"^(?:import\s|import\(|from\s+\S+\s+import\s|#include\b|using\s|use\s|require\b|"
    r"(?:const|let|var|local)\s+[\w{}\s,]+=\s*require\(|package\s|extern crate\s)"
)
_FILE_HEADER = re.compile(r"^(?:#|//|/\*|\*|--|\"\"\"|''')")


def is_import(line: str) -> bool:
    return bool(_IMPORT.match(line.strip()))


def _split_names(text: str) -> Iterable[str]:
    for part in text.replace("{", ",").replace("}", ",").split(","):
        part = part.strip()
        if part:
            yield part


def _py_names(text: str) -> frozenset[str] | None:
    found = _PY_FROM.match(text)
    if found:
        names = set()
        for part in _split_names(found.group(1)):
            alias = _ALIAS.match(part)
            if alias is None:
                return None  # `import *`, or a form not known here
            names.add(alias.group(2) or alias.group(1))
        return frozenset(names)
    found = _PY_IMPORT.match(text)
    if found is None:
        return None
    names = set()
    for part in _split_names(found.group(1)):
        alias = _ALIAS.match(part)
        if alias is None:
            return None
        names.add(alias.group(2) or alias.group(1).split(".")[0])
    return frozenset(names)


def _js_names(text: str) -> frozenset[str] | None:
    found = _JS_IMPORT.match(text) or _JS_REQUIRE.match(text)
    if found is None:
        return None
    names = set()
    for part in _split_names(found.group(1).replace("* as ", "")):
        pieces = re.split(r"\s+as\s+|\s*:\s*", part)
        names.add(pieces[-1].strip())
    return frozenset(names)


def _other_names(text: str) -> frozenset[str] | None:
    found = _GO_IMPORT.match(text)
    if found:
        if found.group(1) == ".":
            return None
        return frozenset({found.group(1) or found.group(2).rsplit("/", 1)[-1]})
    found = _EXTERN_CRATE.match(text)
    if found:
        return frozenset({found.group(2) or found.group(1)})
    found = _RUST_USE.match(text)
    if found:
        path = found.group(1)
        if "{" in path:
            tail = path[path.index("{") + 1 : path.rindex("}")] if "}" in path else ""
            names = [re.split(r"\s+as\s+", p)[-1].split("::")[-1] for p in _split_names(tail)]
        else:
            names = [re.split(r"\s+as\s+", path)[-1].split("::")[-1]]
        return None if "*" in names or "self" in names else frozenset(names)
    return None


def import_names(line: str) -> frozenset[str] | None:
    """The names an import line binds (`import pandas as pd` → pd), or None when this cannot
    tell (`from m import *`, `#include`, `using`): such an import lands as the model wrote it."""
    text = line.strip().rstrip(";")
    for names_of in (_py_names, _js_names, _other_names):
        names = names_of(text)
        if names is not None:
            return names
    return None


class ImportCollector:
    """Collects a reply's top-level import lines instead of landing them where they come.

    A Go import block (`import (` ... `)`) is collected as one `import "x"` line per package,
    so that each can be judged (and placed) on its own."""

    def __init__(self, file_lines: Sequence[str], replaced: Sequence[str] = ()) -> None:
        self._in_file = {line.strip() for line in file_lines if line.strip()}
        self._replaced = {line.strip() for line in replaced if is_import(line)}
        """The imports of the code a `fix:` replaces: given back, they stay where they were."""
        self._file_package = any(line.startswith("package ") for line in file_lines)
        self._block = False  # inside a Go `import (` block
        self.lines: list[str] = []  # stripped, in the reply's order

    @property
    def in_block(self) -> bool:
        return self._block

    def takes(self, line: str, top_level: bool) -> bool:
        """Whether `line` is (part of) an import the collector keeps back."""
        text = line.strip()
        if self._block:
            if text == ")":
                self._block = False
            elif text:
                self.lines.append(f"import {text}")
            return True
        if not top_level or not is_import(text) or text in self._replaced:
            return False
        if text in ("import (", "import("):
            self._block = True
        elif text.startswith("package "):
            if not self._file_package:
                self.lines.append(text)
        else:
            self.lines.append(text)
        return True

    def needed(self, landed: Sequence[str]) -> list[str]:
        """The collected imports the landed code uses and the file lacks (all of them when
        nothing else landed: then they are the whole answer)."""
        body = "\n".join(landed)
        out: list[str] = []
        for text in self.lines:
            if text in self._in_file or text in out:
                continue
            names = import_names(text)
            used = names is None or any(re.search(rf"\b{re.escape(n)}\b", body) for n in names)
            if used or not landed or text.startswith("package "):
                out.append(text)
        return out


def _import_section_end(lines: Sequence[str]) -> tuple[int, bool]:
    """(the line after the file's leading imports, whether it has any). Without imports: the
    line after its header (comments, a module docstring)."""
    end, seen, header_end = 0, False, 0
    number, quote, paren = 0, "", False
    while number < len(lines):
        text = lines[number].strip()
        number += 1
        if quote:
            if quote in text:
                quote, header_end = "", number
            continue
        if paren:
            paren = ")" not in text
            end = number
            continue
        if not text or (_FILE_HEADER.match(text) and not seen):
            for opener in ('"""', "'''"):
                if text.startswith(opener) and text.count(opener) == 1:
                    quote = opener
            if text and not quote:
                header_end = number
            continue
        if text.startswith("#") or text.startswith("//"):
            continue
        if not is_import(text):
            break
        seen, end = True, number
        paren = text.endswith("(")
    return (end if seen else header_end), seen


def import_insertion(lines: Sequence[str], imports: Sequence[str], eol: str) -> tuple[int, str]:
    """Where the `imports` go in a file of `lines` and the text to insert there: after the
    file's own imports, or after its header with a blank line before its code."""
    at, has_imports = _import_section_end(lines)
    packages = [text for text in imports if text.startswith("package ")]
    if packages and not any(line.startswith("package ") for line in lines):
        at, has_imports = 0, False
    text = "".join(line + eol for line in imports)
    if has_imports:
        return at, text
    following = lines[at] if at < len(lines) else ""
    before = eol if at > 0 and lines[at - 1].strip() else ""
    after = eol if following.strip() else ""
    return at, before + text + after
