"""A run's share of other files: ranked, cut to half the budget, off when the setting says so,
never failing the run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import attrs
import pytest

from tests.context.workspace import gather, write_tree
from typilot_lsp.config import ContextConfig
from typilot_lsp.context.for_run import block_chars, choose, gather_for_run, share_of, snapshot
from typilot_lsp.context.gather import ContextGatherer, ContextResult
from typilot_lsp.context.model import ContextRequest, Definition, DefinitionKind, Rank
from typilot_lsp.documents import split_lines


def definition(name: str, rank: Rank, body_chars: int) -> Definition:
    text = f"def {name}():\n    return '{'x' * body_chars}'\n"
    return Definition(f"{name}.py", "python", name, DefinitionKind.FUNCTION, text, rank)


def test_the_best_ranked_definitions_that_fit_half_the_budget() -> None:
    direct = definition("direct", Rank.DIRECT, 300)
    big = definition("big", Rank.NEARBY, 2000)
    small = definition("small", Rank.IMPORTED, 50)
    chosen = choose(ContextResult((direct, big, small)), budget=1200)
    assert chosen.share == 600 == share_of(1200)
    assert chosen.chosen == (direct, small) and chosen.left_out == (big,)
    assert len(chosen.text) < chosen.share
    assert len(chosen.text) == block_chars(direct) + block_chars(small) - 1
    assert chosen.text.index("def direct") < chosen.text.index("def small")


@attrs.frozen
class Doc:
    uri: str
    version: int | None
    language_id: str | None
    lines: list[str]


def test_a_snapshot_copies_open_buffers_and_skips_what_is_not_a_file(tmp_path: Path) -> None:
    lines = ["a = 1\n"]
    docs = [
        Doc((tmp_path / "a.py").as_uri(), 4, "python", lines),
        Doc("untitled:Untitled-1", 1, "python", ["b = 2\n"]),
    ]
    taken = snapshot([tmp_path.as_uri()], docs)
    lines.append("typed after the snapshot\n")
    assert taken.folders == (str(tmp_path),)
    assert list(taken.open_files) == [str(tmp_path / "a.py")]
    assert list(taken.open_files[str(tmp_path / "a.py")].lines) == ["a = 1\n"]


def _request(root: Path) -> ContextRequest:
    text = "from shapes import area\n# gen: area of 3 by 4\n"
    return ContextRequest(str(root / "main.py"), "python", 1, split_lines(text), 1)


def test_off_by_setting_and_a_failing_gather_costs_only_the_other_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path, {"shapes.py": "def area(w, h):\n    return w * h\n"})
    workspace = snapshot([str(tmp_path)], [])
    gatherer = ContextGatherer()

    def run(settings: ContextConfig, budget: int = 3000) -> str:
        found = gather_for_run(gatherer, settings, _request(tmp_path), workspace, budget)
        return asyncio.run(found).text

    assert "def area" in run(ContextConfig())
    assert run(ContextConfig(other_files=False)) == ""
    assert run(ContextConfig(), budget=1) == ""

    def broken(*args: object) -> ContextResult:
        raise RuntimeError("a grammar crashed")

    monkeypatch.setattr(gatherer, "gather_now", broken)
    assert run(ContextConfig()) == ""


def test_a_definition_too_long_for_the_share_goes_as_its_outline() -> None:
    big = attrs.evolve(definition("big", Rank.DIRECT, 2000), outline="def big():\n    ...\n")
    small = definition("small", Rank.NEARBY, 20)
    chosen = choose(ContextResult((big, small)), budget=400)
    assert [d.name for d in chosen.chosen] == ["big", "small"] and chosen.left_out == ()
    assert "def big():\n    ...\n" in chosen.text and "xxxx" not in chosen.text.split("small")[0]


def test_a_long_class_shows_every_signature_and_the_called_method_whole(tmp_path: Path) -> None:
    methods = "".join(
        f"    def step_{n}(self, value: int) -> int:\n"
        + "".join(f"        value += {k}\n" for k in range(12))
        + "        return value\n\n"
        for n in range(12)
    )
    write_tree(
        tmp_path,
        {
            "engine.py": f'class Engine:\n    """Runs steps."""\n\n{methods}',
            "main.py": "from engine import Engine\n\n# gen: run step_3 of an Engine on 1\n"
            "Engine().step_3(1)\n",
        },
    )
    result = gather(tmp_path, "main.py")
    chosen = choose(result, budget=3000)
    assert "class Engine:" in chosen.text and "def step_11(self, value: int) -> int:" in chosen.text
    assert "value += 5" in chosen.text  # step_3, the method the code calls, stays whole
    assert len(chosen.text) <= chosen.share
