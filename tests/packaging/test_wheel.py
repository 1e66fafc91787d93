"""The built wheel, installed into a clean virtual environment, is a working typilot-lsp.

scripts/test.sh builds the sdist and wheel with `python -m build` (and runs `twine check`) and
points $TYPILOT_DIST at them; without it this module builds the wheel itself. The wheel is then
installed with pip into a fresh venv (its dependencies come from the package index), and the
installed `typilot-lsp` — not this checkout — must print its version, pass `doctor` against the
Ollama replay server, and stream a `gen:` run over stdio.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from harness import start_editor, stop_editor

from typilot_lsp import __version__

REPO = Path(__file__).resolve().parents[2]


def _clean_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """No PYTHONPATH (it points at this checkout in development) and no active venv."""
    base = dict(os.environ if env is None else env)
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
        base.pop(name, None)
    return base


def _wheel(tmp: Path) -> Path:
    dist = os.environ.get("TYPILOT_DIST")
    if dist:
        wheels = sorted(Path(dist).glob(f"typilot_lsp-{__version__}-*.whl"))
        assert wheels, f"$TYPILOT_DIST={dist} holds no typilot_lsp-{__version__} wheel"
        return wheels[-1]
    out = tmp / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
        env=_clean_env(),
    )
    return next(out.glob("typilot_lsp-*.whl"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv with only the wheel (and its dependencies) installed; its bin/ folder."""
    tmp = tmp_path_factory.mktemp("wheel")
    wheel = _wheel(tmp)
    assert wheel.name == f"typilot_lsp-{__version__}-py3-none-any.whl"
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    bin_dir = env_dir / "bin"
    subprocess.run(
        [
            str(bin_dir / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            str(wheel),
        ],
        check=True,
        env=_clean_env(),
        timeout=600,
    )
    yield bin_dir


def test_the_installed_package_comes_from_the_wheel(installed: Path) -> None:
    where = subprocess.run(
        [str(installed / "python"), "-c", "import typilot_lsp; print(typilot_lsp.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        env=_clean_env(),
        cwd=installed,
    ).stdout.strip()
    assert Path(where).is_relative_to(installed.parent), where
    assert not Path(where).is_relative_to(REPO / "server"), where


def test_version(installed: Path) -> None:
    out = subprocess.run(
        [str(installed / "typilot-lsp"), "--version"],
        check=True,
        capture_output=True,
        text=True,
        env=_clean_env(),
    )
    assert out.stdout.strip() == f"typilot-lsp {__version__}"


def test_doctor_against_the_replay_server(
    installed: Path, replay_ollama, typilot_home: dict[str, str], tmp_path: Path
) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text(
        json.dumps(
            {"typilot": {"ollama": {"host": replay_ollama.url, "model": "qwen2.5-coder:1.5b"}}}
        )
    )
    out = subprocess.run(
        [str(installed / "typilot-lsp"), "doctor", "--json", "--settings", str(settings)],
        capture_output=True,
        text=True,
        env=_clean_env(typilot_home),
        timeout=120,
    )
    report = json.loads(out.stdout)
    failed = [c for c in report["checks"] if c["status"] == "FAIL"]
    assert out.returncode == 0 and report["ok"], failed or out.stderr
    messages = " | ".join(c["message"] for c in report["checks"])
    assert f"is running at {replay_ollama.url}" in messages
    assert "qwen2.5-coder:1.5b is installed and local" in messages
    assert replay_ollama.events_of("request"), "doctor asked the replay server"


async def test_a_gen_run_over_stdio(installed: Path, replay_ollama, typilot_home) -> None:
    reply = "def add(a, b):\n    return a + b\n"
    replay_ollama.add_rule(match="add two numbers", reply=reply, tokens_per_second=200)
    env = _clean_env(typilot_home)
    env["OLLAMA_HOST"] = replay_ollama.url
    editor = await start_editor(env, cmd=[str(installed / "typilot-lsp"), "--stdio"])
    try:
        assert editor.init_result is not None and editor.init_result.server_info is not None
        assert editor.init_result.server_info.name == "typilot-lsp"
        assert editor.init_result.server_info.version == __version__
        doc = editor.open("calc.py", "import math\n# gen: add two numbers\nprint(1)\n")
        actions = await editor.code_actions(doc, 1)
        assert [a.title for a in actions] == ["Typilot: gen — add two numbers"]
        await editor.execute(actions[0].command)
        await editor.wait_runs_done()
        assert doc.text == "import math\ndef add(a, b):\n    return a + b\nprint(1)\n"
        assert len(editor.applied_edits) >= 2, "the reply streamed in more than one edit"
    finally:
        await stop_editor(editor)
