"""From the code at hand to the definitions it uses in other files, ranked.

`ContextGatherer` lives as long as its host (the language server, `apply`) and keeps what it
parsed: a file's summary while its buffer version (or its mtime and size on disk) stays the
same. Nothing is read until a run asks, and then only the files its names lead to: the
modules it imports (found by path, a few `stat`s each), the other files of its Go package.
`gather` runs in a worker thread: parsing a large file never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import attrs

from typilot_lsp.context import syntax
from typilot_lsp.context.access import DiskCache, ExcludeRules, SourceText, WorkspaceFiles
from typilot_lsp.context.lang_go import GoLanguage
from typilot_lsp.context.lang_js import JS_EXTENSIONS, TS_EXTENSIONS, ScriptLanguage
from typilot_lsp.context.lang_python import PythonLanguage
from typilot_lsp.context.model import (
    ContextRequest,
    Definition,
    DefinitionKind,
    Rank,
    WorkspaceSnapshot,
)
from typilot_lsp.context.summary import (
    Binding,
    Chain,
    FileSummary,
    Language,
    Spans,
    Symbol,
    Usage,
)

MAX_DEFINITIONS = 40
MODULE_NAMES = 12
"""A module named alone brings at most this many of its names."""
MAX_DEPTH = 4
"""Re-exports and star imports followed at most this deep."""
WINDOW_LINES = 60
"""Lines above and below the prefix line looked at when the request names no window."""
DIRECT_LINES = 12
"""Around the prefix line, the lines whose names rank DIRECT (within the enclosing block)."""

_PYTHON = PythonLanguage()
_JAVASCRIPT = ScriptLanguage("javascript", typescript=False)
_TYPESCRIPT = ScriptLanguage("typescript", typescript=True)
LANGUAGES: dict[str, Language] = {
    "python": _PYTHON,
    "javascript": _JAVASCRIPT,
    "javascriptreact": ScriptLanguage("javascriptreact", typescript=False),
    "typescript": _TYPESCRIPT,
    "typescriptreact": ScriptLanguage("typescriptreact", typescript=True),
    "go": GoLanguage(),
}
"""languageId -> what finds its definitions; any other language gets none (as before)."""


def language_of_file(path: str) -> Language | None:
    """The language of a file another file's names lead to, by its extension."""
    if path.endswith((".py", ".pyi")):
        return _PYTHON
    if path.endswith(".go"):
        return LANGUAGES["go"]
    if path.endswith(TS_EXTENSIONS):
        return _TYPESCRIPT
    if path.endswith(JS_EXTENSIONS):
        return _JAVASCRIPT
    return None


@attrs.frozen
class ContextResult:
    definitions: tuple[Definition, ...] = ()
    refusals: Mapping[str, str] = attrs.field(factory=dict)
    """Files the code's names led to that were not used, and why (never read)."""


@attrs.frozen
class _Parsed:
    source: SourceText
    summary: FileSummary
    language: Language


@attrs.define
class _Found:
    parsed: _Parsed
    symbol: Symbol
    rank: Rank
    order: int
    used: set[str] = attrs.Factory(set)


@attrs.frozen
class _Scope:
    """A file names are resolved in: the request's own, or a found definition's."""

    path: str
    summary: FileSummary
    language: Language
    own_names: bool
    """Whether the file's own definitions count (not for the request's own file)."""


class ContextGatherer:
    """Finds the definitions a run's code uses; one per host, its caches shared by runs."""

    def __init__(self, limit: int = 1024) -> None:
        self.disk = DiskCache(limit)
        self.limit = limit
        self._summaries: OrderedDict[tuple[object, ...], FileSummary] = OrderedDict()
        self._requests: OrderedDict[tuple[object, ...], tuple[object, FileSummary]] = OrderedDict()
        self._rules: dict[tuple[str, ...], ExcludeRules] = {}
        self._lock = threading.Lock()
        self.parses = 0
        """Files parsed so far (the tests check what the caches save)."""

    async def gather(
        self, request: ContextRequest, snapshot: WorkspaceSnapshot, exclude: Sequence[str] = ()
    ) -> ContextResult:
        """`gather_now` in a worker thread."""
        return await asyncio.to_thread(self.gather_now, request, snapshot, exclude)

    def gather_now(
        self, request: ContextRequest, snapshot: WorkspaceSnapshot, exclude: Sequence[str] = ()
    ) -> ContextResult:
        language = LANGUAGES.get(request.language_id)
        if language is None or syntax.language(language.grammar_for(request.path)) is None:
            return ContextResult()
        files = WorkspaceFiles(snapshot, self.rules(exclude), self.disk)
        return _Gather(self, request, language, files).run()

    def rules(self, exclude: Sequence[str]) -> ExcludeRules:
        key = tuple(exclude)
        with self._lock:
            rules = self._rules.get(key)
            if rules is None:
                rules = self._rules[key] = ExcludeRules(key)
        return rules

    # -- parsing, cached ---------------------------------------------------------------
    def summary(self, language: Language, source: SourceText) -> FileSummary | None:
        grammar = language.grammar_for(source.path)
        key = (source.path, grammar, *source.key)
        with self._lock:
            found = self._summaries.get(key)
            if found is not None:
                self._summaries.move_to_end(key)
                return found
        data = source.text.encode("utf-8")
        root = syntax.parse(grammar, data)
        if root is None:
            return None
        summary = language.summarize(root, data)
        with self._lock:
            self.parses += 1
            self._summaries[key] = summary
            while len(self._summaries) > self.limit:
                self._summaries.popitem(last=False)
        return summary

    def request_tree(
        self, language: Language, request: ContextRequest
    ) -> tuple[object, FileSummary] | None:
        """The request document's syntax tree and summary, per version (as edited)."""
        text = "".join(request.lines)
        grammar = language.grammar_for(request.path)
        key = (request.path, grammar, request.version, hash(text))
        with self._lock:
            found = self._requests.get(key)
        if found is not None:
            return found
        data = text.encode("utf-8")
        root = syntax.parse(grammar, data)
        if root is None:
            return None
        parsed = (root, language.summarize(root, data))
        with self._lock:
            self.parses += 1
            self._requests[key] = parsed
            while len(self._requests) > 8:
                self._requests.popitem(last=False)
        return parsed


class _Gather:
    """One gather: resolves the code's names, then what their signatures name."""

    def __init__(
        self,
        owner: ContextGatherer,
        request: ContextRequest,
        language: Language,
        files: WorkspaceFiles,
    ) -> None:
        self.owner = owner
        self.request = request
        self.language = language
        self.files = files
        self.own_path = os.path.realpath(request.path)
        self.found: dict[tuple[str, str], _Found] = {}
        self._parsed: dict[str, _Parsed | None] = {}
        self._order = itertools.count()

    def run(self) -> ContextResult:
        tree = self.owner.request_tree(self.language, self.request)
        if tree is None:
            return ContextResult()
        root, summary = tree
        usage = self.language.usage(root, self._spans(root))  # type: ignore[arg-type]
        here = _Scope(self.request.path, summary, self.language, own_names=False)
        for chain, rank in usage.chains.items():
            self._resolve(here, chain, rank)
        self._package_methods(here, usage)
        used = {chain[0] for chain in usage.chains}
        for binding in summary.bindings.values():  # imported, not used yet: code to come may
            if binding.local not in used:
                self._resolve(here, (binding.local,), Rank.IMPORTED)
        for entry in self.found.values():
            entry.used.update(name for name in usage.members if name in entry.symbol.members)
        self._signatures()
        refusals = {path: reason.value for path, reason in self.files.refusals.items()}
        return ContextResult(self._definitions(), refusals)

    # -- the code at hand -----------------------------------------------------------------
    def _spans(self, root: object) -> Spans:
        request = self.request
        line = request.prefix_line
        last_line = max(len(request.lines) - 1, 0)
        if request.window is not None:
            window = request.window
        else:
            end = max(line, request.target[1] if request.target else line)
            window = (max(0, line - WINDOW_LINES), min(last_line, end + WINDOW_LINES))
        direct = [(line, line)]
        if request.target is not None:
            direct.append(request.target)
        enclosing = self.language.enclosing(root, line)  # type: ignore[arg-type]
        if enclosing is None:
            direct.append((line - 3, line + 3))
        else:
            first = max(enclosing[0], line - DIRECT_LINES)
            direct.append((first, min(enclosing[1], line + DIRECT_LINES)))
        return Spans(direct, window)

    # -- resolving names ------------------------------------------------------------------
    def _resolve(self, scope: _Scope, chain: Chain, rank: Rank) -> None:
        if not chain:
            return
        first = chain[0]
        symbol = scope.summary.symbol(first)
        if symbol is not None:
            if scope.own_names:
                parsed = self._parse(scope.path)
                if parsed is not None:
                    self._add(parsed, symbol, chain[1:], rank)
            return
        binding = scope.summary.bindings.get(first)
        if binding is not None:
            rest = _through(binding, chain)
            found = self._find(scope.language, binding.module, scope.path, rest, rank, 0)
            if not found and binding.name is None and len(chain) == 1:
                self._module_names(scope.language, binding.module, scope.path, rank)
            return
        if self._in_package(scope, chain, rank):
            return
        for module in scope.summary.stars:
            if self._find(scope.language, module, scope.path, chain, rank, 1):
                return

    def _in_package(self, scope: _Scope, chain: Chain, rank: Rank) -> bool:
        """Go: a name the package declares in another of its files."""
        for path in scope.language.package_files(scope.path, self.files):
            parsed = self._parse(path)
            if parsed is None or parsed.summary.package != scope.summary.package:
                continue
            symbol = parsed.summary.symbol(chain[0])
            if symbol is not None:
                self._add(parsed, symbol, chain[1:], rank)
                return True
        return False

    def _find(
        self, language: Language, module: str, importer: str, chain: Chain, rank: Rank, depth: int
    ) -> bool:
        """Find `chain[0]` in `module` (imported by `importer`), following re-exports."""
        if not chain or depth > MAX_DEPTH:
            return False
        name = chain[0]
        for path in language.module_files(module, importer, self.files):
            parsed = self._parse(path)
            if parsed is None:
                continue
            summary = parsed.summary
            symbol = summary.symbol(name)
            if symbol is not None:
                self._add(parsed, symbol, chain[1:], rank)
                return True
            binding = summary.bindings.get(name)
            if binding is not None:
                rest = _through(binding, chain)
                if self._find(parsed.language, binding.module, path, rest, rank, depth + 1):
                    return True
            for star in summary.stars:
                if self._find(parsed.language, star, path, chain, rank, depth + 1):
                    return True
        submodule = language.submodule(module, name)
        if submodule is not None and len(chain) > 1:
            return self._find(language, submodule, importer, chain[1:], rank, depth + 1)
        return False

    def _module_names(self, language: Language, module: str, importer: str, rank: Rank) -> None:
        """A module named alone (`limits` in Go, `import geo` in Python, code still to be
        written): its first public names, for the code about to use them."""
        for path in language.module_files(module, importer, self.files):
            parsed = self._parse(path)
            if parsed is None:
                continue
            public = [s for s in parsed.summary.symbols.values() if _public(parsed, s.name)]
            for symbol in public[:MODULE_NAMES]:
                self._add(parsed, symbol, (), rank)

    def _package_methods(self, here: _Scope, usage: Usage) -> None:
        """Go: methods the code calls that another file of the package declares."""
        local = {method.name for method in here.summary.methods}
        wanted = {name: rank for name, rank in usage.members.items() if name not in local}
        if not wanted:
            return
        for path in here.language.package_files(here.path, self.files):
            parsed = self._parse(path)
            if parsed is None or parsed.summary.package != here.summary.package:
                continue
            for method in parsed.summary.methods:
                if method.name in wanted:
                    self._add(parsed, method, (), wanted[method.name])

    def _signatures(self) -> None:
        """What the found definitions' signatures name (parameter types, bases): INDIRECT."""
        for entry in list(self.found.values()):
            if entry.rank >= Rank.INDIRECT:
                continue
            scope = _Scope(
                entry.parsed.source.path,
                entry.parsed.summary,
                entry.parsed.language,
                own_names=True,
            )
            refs = list(entry.symbol.refs)
            for name in entry.used:
                member = entry.symbol.members.get(name)
                if member is not None:
                    refs.extend(member.refs)
            for chain in refs:
                self._resolve(scope, chain, Rank.INDIRECT)

    # -- what was found -------------------------------------------------------------------
    def _parse(self, path: str) -> _Parsed | None:
        path = os.path.normpath(path)
        if path not in self._parsed:
            parsed = None
            language = language_of_file(path)
            source = self.files.read(path) if language is not None else None
            if language is not None and source is not None:
                summary = self.owner.summary(language, source)
                if summary is not None:
                    parsed = _Parsed(source, summary, language)
            self._parsed[path] = parsed
        return self._parsed[path]

    def _add(self, parsed: _Parsed, symbol: Symbol, members: Chain, rank: Rank) -> None:
        if parsed.source.path == self.own_path:
            return
        if symbol.kind is not DefinitionKind.METHOD and parsed.language.name == "go":
            symbol = self._with_methods(parsed, symbol)
        key = (parsed.source.path, f"{symbol.receiver}.{symbol.name}".lstrip("."))
        entry = self.found.get(key)
        if entry is None:
            entry = _Found(parsed, symbol, rank, next(self._order))
            self.found[key] = entry
        elif rank < entry.rank:
            entry.rank = rank
        if members:
            entry.used.add(members[0])

    def _with_methods(self, parsed: _Parsed, symbol: Symbol) -> Symbol:
        """A Go type with the methods its package declares on it, in any of its files."""
        if symbol.kind not in (DefinitionKind.STRUCT, DefinitionKind.TYPE):
            return symbol
        methods: dict[str, Symbol] = {}
        paths = [parsed.source.path, *parsed.language.package_files(parsed.source.path, self.files)]
        for path in paths:
            other = self._parse(path) if path != parsed.source.path else parsed
            if other is None or other.summary.package != parsed.summary.package:
                continue
            for method in other.summary.methods:
                if method.receiver == symbol.name:
                    methods.setdefault(method.name, method)
        if not methods:
            return symbol
        full = "\n\n".join([symbol.full, *(m.full for m in methods.values())])
        outline = "\n\n".join([symbol.full, *(m.outline for m in methods.values())])
        return attrs.evolve(symbol, full=full, outline=outline, header=symbol.full, members=methods)

    def _definitions(self) -> tuple[Definition, ...]:
        entries = list(self.found.values())
        # A Go method whose type is shown too goes inside the type's text.
        types = {(_package_of(e), e.symbol.name): e for e in entries if e.symbol.members}
        kept = []
        for entry in entries:
            owner = types.get((_package_of(entry), entry.symbol.receiver))
            if entry.symbol.receiver and owner is not None:
                owner.used.add(entry.symbol.name)
                owner.rank = min(owner.rank, entry.rank)
                continue
            kept.append(entry)
        kept.sort(key=lambda e: (e.rank, e.order))
        return tuple(self._definition(entry) for entry in kept[:MAX_DEFINITIONS])

    def _definition(self, entry: _Found) -> Definition:
        symbol = entry.symbol
        name = f"{symbol.receiver}.{symbol.name}" if symbol.receiver else symbol.name
        return Definition(
            path=entry.parsed.source.rel,
            language=entry.parsed.language.name,
            name=name,
            kind=symbol.kind,
            text=(text := symbol.render(frozenset(entry.used))),
            rank=entry.rank,
            from_buffer=entry.parsed.source.from_buffer,
            outline=symbol.outline if len(symbol.outline) < len(text) else "",
        )


def _public(parsed: _Parsed, name: str) -> bool:
    if parsed.language.name == "go":
        return name[:1].isupper()
    return not name.startswith("_")


def _through(binding: Binding, chain: Chain) -> Chain:
    """The chain to look up in the binding's module: `m.f` -> `f`; a module named alone
    (`const log = require("./log"); log(x)`) -> what the module exports as its default."""
    if binding.name is not None:
        return (binding.name, *chain[1:])
    return chain[1:] or ("default",)


def _package_of(entry: _Found) -> str:
    return os.path.dirname(entry.parsed.source.path)
