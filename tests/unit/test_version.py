"""One version: server/typilot_lsp/__init__.py. Everything that shows a version agrees with it.

The wheel and sdist take it from there (pyproject's [tool.hatch.version]); the CLI prints it and
the server reports it in initialize's serverInfo (tests/unit/test_cli.py,
tests/packaging/test_wheel.py); the VS Code extension's package.json and the Neovim plugin's
version.lua cannot import Python, so this test holds them to it.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from typilot_lsp import __version__

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]


def test_the_package_takes_its_version_from_the_module() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" in project["project"]["dynamic"]
    assert "version" not in project["project"]
    assert project["tool"]["hatch"]["version"]["path"] == "server/typilot_lsp/__init__.py"
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


def test_the_vscode_extension_has_the_same_version() -> None:
    package = json.loads((REPO / "vscode-client" / "package.json").read_text(encoding="utf-8"))
    assert package["version"] == __version__, (
        "vscode-client/package.json's version must be server/typilot_lsp/__init__.py's"
    )


def test_the_neovim_plugin_has_the_same_version() -> None:
    text = (REPO / "neovim" / "lua" / "typilot" / "version.lua").read_text(encoding="utf-8")
    found = re.findall(r"^return '([^']+)'$", text, re.M)
    assert found == [__version__], "neovim/lua/typilot/version.lua must return the server's version"
