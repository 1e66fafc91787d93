"""Small workspaces on disk, and a gather at a prefix line in one of their files."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from typilot_lsp.comments import language_from_path
from typilot_lsp.context.gather import ContextGatherer, ContextResult
from typilot_lsp.context.model import ContextRequest, Definition, OpenFile, WorkspaceSnapshot
from typilot_lsp.documents import split_lines
from typilot_lsp.prefixes import PrefixMatcher
from typilot_lsp.runs.targets import find_target

SHOP: dict[str, str] = {
    "shop/__init__.py": "",
    "shop/inventory.py": (
        "class StockItem:\n"
        '    """One line of the inventory."""\n\n'
        "    def __init__(self, sku: str, quantity: int, unit_price: float) -> None:\n"
        "        self.sku = sku\n"
        "        self.quantity = quantity\n"
        "        self.unit_price = unit_price\n\n"
        "    def value(self) -> float:\n"
        "        return self.quantity * self.unit_price\n"
    ),
    "shop/report.py": (
        "from .inventory import StockItem\n\n\n"
        "# fix: it crashes\n"
        "def stock_value(items: list[StockItem]) -> float:\n"
        "    return sum(item.price * item.count for item in items)\n"
    ),
}
"""Issue 25's third workspace: a `fix:` of a function using a class from another module."""


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write `files` (relative path -> text or bytes) under `root`; returns `root`."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def gather(
    root: Path,
    rel: str,
    *,
    text: str | None = None,
    open_files: Mapping[str, str] | None = None,
    folders: tuple[Path, ...] | None = None,
    exclude: tuple[str, ...] = (),
    gatherer: ContextGatherer | None = None,
    window: tuple[int, int] | None = None,
) -> ContextResult:
    """Gather at the first prefixed line of `rel` (its text on disk, or `text` as edited),
    with `open_files` (relative path -> unsaved text) open in the editor."""
    path = root / rel
    source = text if text is not None else path.read_text(encoding="utf-8")
    language = language_from_path(str(path))
    lines = split_lines(source)
    matcher = PrefixMatcher.build(language, {"gen": "gen:", "fix": "fix:", "sum": "sum:"}, ())
    prefixed = [(n, m) for n, line in enumerate(lines) if (m := matcher.match(line))]
    assert prefixed, f"no prefixed line in {rel}"
    line, match = prefixed[0]
    target = None
    if match.command in ("fix", "sum"):
        found = find_target(lines, line, None)
        target = (found.first_line, found.last_line) if found else None
    buffers = {
        str(root / name): OpenFile(str(root / name), 7, language_from_path(name), split_lines(body))
        for name, body in (open_files or {}).items()
    }
    request = ContextRequest(
        path=str(path),
        language_id=language,
        version=1,
        lines=lines,
        prefix_line=line,
        target=target,
        window=window,
    )
    snapshot = WorkspaceSnapshot(tuple(str(f) for f in (folders or (root,))), buffers)
    return (gatherer or ContextGatherer()).gather_now(request, snapshot, exclude)


def by_name(result: ContextResult) -> dict[str, Definition]:
    return {d.name: d for d in result.definitions}


_reads: list[tuple[str, str]] = []
_recording = False


def _audit(event: str, args: tuple[object, ...]) -> None:
    if _recording and event in ("open", "os.scandir", "os.listdir") and args:
        target = args[0]
        if isinstance(target, bytes):
            target = os.fsdecode(target)
        if isinstance(target, str):
            _reads.append((event, target))


sys.addaudithook(_audit)


@contextlib.contextmanager
def recorded_reads() -> Iterator[list[tuple[str, str]]]:
    """Every file opened and folder listed (Python's audit events) inside the block."""
    global _recording
    found: list[tuple[str, str]] = []
    _reads.clear()
    _recording = True
    try:
        yield found
    finally:
        _recording = False
        found.extend(_reads)
        _reads.clear()
