"""`typilot-lsp context FILE:LINE`, as a user runs it: a real process, its output read back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.context.workspace import SHOP, write_tree

CMD = [sys.executable, "-m", "typilot_lsp", "context"]
WORKSPACE = {**SHOP, "shop/.env": "SHOP_TOKEN=1\n"}


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CMD, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_it_prints_the_definitions_their_files_and_the_budget(
    tmp_path: Path, typilot_home: dict[str, str]
) -> None:
    write_tree(tmp_path, WORKSPACE)
    done = run(["shop/report.py:4"], tmp_path, typilot_home)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "StockItem (class) from shop/inventory.py" in out
    assert "budget: 3000 characters" in out and "of at most 1500" in out
    assert "# From shop/inventory.py\nclass StockItem:" in out
    assert "SHOP_TOKEN" not in out


def test_json_output_follows_the_settings(tmp_path: Path, typilot_home: dict[str, str]) -> None:
    write_tree(tmp_path, WORKSPACE)
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"typilot": {"context": {"maxChars": 200}}}))
    done = run(
        ["report.py:4", "--json", "--settings", str(settings), "--workspace", str(tmp_path)],
        tmp_path / "shop",
        typilot_home,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["budget"] == 200 and report["share"] == 100
    # The class does not fit half of 200 characters: left out whole, never cut.
    assert report["definitions"] == [] and report["text"] == ""
    assert [d["name"] for d in report["left_out"]] == ["StockItem"]
    assert report["left_out"][0]["chars"] > 100


def test_a_workspace_that_leaves_the_file_s_imports_outside(
    tmp_path: Path, typilot_home: dict[str, str]
) -> None:
    write_tree(tmp_path, WORKSPACE)
    done = run(
        ["report.py:4", "--json", "--workspace", str(tmp_path / "shop" / "sub")],
        tmp_path / "shop",
        typilot_home,
    )
    report = json.loads(done.stdout)
    assert report["definitions"] == [] and report["left_out"] == []


def test_bad_locations_say_what_is_expected(tmp_path: Path, typilot_home: dict[str, str]) -> None:
    write_tree(tmp_path, WORKSPACE)
    for location, message in (
        ("shop/report.py", "expected FILE:LINE"),
        ("shop/report.py:0", "expected FILE:LINE"),
        ("shop/report.py:99", "line 99 is past its end"),
        ("shop/missing.py:1", "cannot read"),
    ):
        done = run([location], tmp_path, typilot_home)
        assert done.returncode == 1 and message in done.stderr, (location, done.stderr)
