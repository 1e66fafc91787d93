"""Parsing is cached per buffer version and file mtime, runs off the event loop, and a large
workspace costs nothing until a run needs one of its files."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from tests.context.workspace import by_name, gather, recorded_reads, write_tree
from typilot_lsp.context import syntax
from typilot_lsp.context.gather import ContextGatherer
from typilot_lsp.context.model import ContextRequest, OpenFile, WorkspaceSnapshot
from typilot_lsp.documents import split_lines

SHAPES = "def area(w: float, h: float) -> float:\n    return w * h\n"
MAIN = "from shapes import area\n\n# gen: the area of a 3 by 4 rectangle\n"


def test_a_file_on_disk_is_parsed_again_only_when_it_changes(tmp_path: Path) -> None:
    write_tree(tmp_path, {"shapes.py": SHAPES, "main.py": MAIN})
    gatherer = ContextGatherer()
    gather(tmp_path, "main.py", gatherer=gatherer)
    parses = gatherer.parses
    with recorded_reads() as reads:
        again = gather(tmp_path, "main.py", gatherer=gatherer)
    assert gatherer.parses == parses  # the same version of main.py, shapes.py unchanged
    assert str(tmp_path / "shapes.py") not in {path for _event, path in reads}
    assert "w * h" in by_name(again)["area"].text
    (tmp_path / "shapes.py").write_text(SHAPES.replace("w * h", "h * w  # changed"))
    os.utime(tmp_path / "shapes.py", ns=(1, 1))  # a different mtime whatever the clock
    changed = gather(tmp_path, "main.py", gatherer=gatherer)
    assert "changed" in by_name(changed)["area"].text
    assert gatherer.parses == parses + 1


def test_an_open_buffer_is_parsed_once_per_version(tmp_path: Path) -> None:
    write_tree(tmp_path, {"shapes.py": SHAPES, "main.py": MAIN})
    gatherer = ContextGatherer()
    request = ContextRequest(
        path=str(tmp_path / "main.py"),
        language_id="python",
        version=3,
        lines=split_lines(MAIN),
        prefix_line=2,
    )

    def snapshot(version: int, text: str) -> WorkspaceSnapshot:
        path = str(tmp_path / "shapes.py")
        buffer = OpenFile(path, version, "python", split_lines(text))
        return WorkspaceSnapshot((str(tmp_path),), {path: buffer})

    first = gatherer.gather_now(request, snapshot(1, SHAPES.replace("w * h", "w * h  # v1")))
    parses = gatherer.parses
    gatherer.gather_now(request, snapshot(1, SHAPES.replace("w * h", "w * h  # v1")))
    assert gatherer.parses == parses
    second = gatherer.gather_now(request, snapshot(2, SHAPES.replace("w * h", "w * h  # v2")))
    assert gatherer.parses == parses + 1
    assert "# v1" in by_name(first)["area"].text and "# v2" in by_name(second)["area"].text


def test_gather_parses_in_a_worker_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(tmp_path, {"shapes.py": SHAPES, "main.py": MAIN})
    threads: list[threading.Thread] = []
    real_parse = syntax.parse

    def parse(grammar: str, source: bytes) -> object:
        threads.append(threading.current_thread())
        return real_parse(grammar, source)

    monkeypatch.setattr(syntax, "parse", parse)
    request = ContextRequest(
        path=str(tmp_path / "main.py"),
        language_id="python",
        version=1,
        lines=split_lines(MAIN),
        prefix_line=2,
    )

    async def main() -> object:
        return await ContextGatherer().gather(request, WorkspaceSnapshot((str(tmp_path),)))

    result = asyncio.run(main())
    assert "area" in by_name(result)  # type: ignore[arg-type]
    assert threads and threading.main_thread() not in threads


def test_a_large_workspace_costs_nothing_until_a_run_needs_a_file(tmp_path: Path) -> None:
    files = {f"pkg{n // 100}/mod{n}.py": f"def f{n}():\n    return {n}\n" for n in range(2000)}
    write_tree(tmp_path, {**files, "main.py": "from pkg3.mod345 import f345\n# gen: f345()\n"})
    with recorded_reads() as reads:
        gatherer = ContextGatherer()
        snapshot = WorkspaceSnapshot((str(tmp_path),))
    assert reads == [] and gatherer.parses == 0 and snapshot.folders
    with recorded_reads() as reads:
        result = gather(tmp_path, "main.py", gatherer=gatherer)
    assert by_name(result)["f345"].path == "pkg3/mod345.py"
    opened = {os.path.relpath(path, tmp_path) for event, path in reads if event == "open"}
    assert opened <= {"main.py", "pkg3/mod345.py", ".gitignore", "pkg3/.gitignore"}
    assert gatherer.parses == 2  # main.py and the one module it imports
