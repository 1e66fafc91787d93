"""Fill the VS Code extension's ``bundled/libs`` with the server and its dependencies.

The .vsix then carries everything the server needs except a Python interpreter: the extension runs
``python -m typilot_lsp`` with ``PYTHONPATH=<extension>/bundled/libs`` (see
vscode-client/src/common/server.ts and docs/vscode.md).

The bundle must work on every platform and every Python the package declares (>= 3.10), so:

- dependencies are resolved for Python 3.10 (``--python-version 3.10``), which brings in the
  backports older Pythons need; they are inert on newer ones;
- compiled extension modules are removed. Each of them is an optional speed-up with a pure-Python
  fallback: SQLAlchemy's Cython extensions (``sqlalchemy.util._has_cy``) and MarkupSafe's
  ``_speedups`` (used by Mako, which alembic, which ``dataset`` imports);
- greenlet is left out: SQLAlchemy needs it only for its asyncio API, and the history store uses
  the synchronous SQLite driver (``check_bundle`` proves the server imports and runs without it);
- console scripts (``bin/``), C headers (``include/``) and byte-code caches are dropped.

Usage: python scripts/bundle_server.py [--wheel dist/typilot_lsp-X-py3-none-any.whl] [--out DIR]
(default: build the wheel from this checkout; DIR = vscode-client/bundled/libs).
"""

from __future__ import annotations

import argparse
import email.parser
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pip vendors it
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "vscode-client" / "bundled" / "libs"
OLDEST_PYTHON = "3.10"
NATIVE_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
# Distributions that are needed only on paths the server never takes (see the module docstring).
LEFT_OUT = ("greenlet",)
DROPPED_DIRS = ("bin", "include", "__pycache__")


def build_wheel(dest: pathlib.Path) -> pathlib.Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dest), str(ROOT)],
        check=True,
    )
    (wheel,) = dest.glob("typilot_lsp-*.whl")
    return wheel


def pip_install(requirements: list[str], out: pathlib.Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-compile",
            "--target",
            str(out),
            "--python-version",
            OLDEST_PYTHON,
            "--only-binary=:all:",
            *requirements,
        ],
        check=True,
    )


def installed(out: pathlib.Path) -> set[str]:
    return {canonicalize_name(p.name.split("-")[0]) for p in out.glob("*.dist-info")}


def missing_on_oldest(out: pathlib.Path) -> list[str]:
    """Requirements of the bundled distributions that only Python 3.10 needs (backports).

    pip evaluates environment markers for the interpreter that runs it, even with
    ``--python-version``; so a bundle built under Python 3.11+ would lack e.g. ``exceptiongroup``.
    """
    env = {"python_version": OLDEST_PYTHON, "python_full_version": f"{OLDEST_PYTHON}.0"}
    have = installed(out) | {canonicalize_name(n) for n in LEFT_OUT}
    wanted: dict[str, str] = {}
    for metadata in out.glob("*.dist-info/METADATA"):
        message = email.parser.Parser().parsestr(metadata.read_text(encoding="utf-8"))
        for line in message.get_all("Requires-Dist") or []:
            req = Requirement(line)
            name = canonicalize_name(req.name)
            if name in have or req.marker is None or not req.marker.evaluate({**env, "extra": ""}):
                continue
            req.marker = None
            wanted[name] = str(req)
    return sorted(wanted.values())


def install(wheel: pathlib.Path, out: pathlib.Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    pip_install([str(wheel)], out)
    # Add what Python 3.10 needs besides, until nothing is missing (a backport may need another).
    for _ in range(5):
        missing = missing_on_oldest(out)
        if not missing:
            return
        with tempfile.TemporaryDirectory(prefix="typilot-bundle-extra-") as extra:
            pip_install(missing, pathlib.Path(extra))
            for entry in pathlib.Path(extra).iterdir():
                if not (out / entry.name).exists():
                    shutil.move(str(entry), str(out / entry.name))
    raise SystemExit(f"bundle_server: still missing after 5 rounds: {missing_on_oldest(out)}")


def prune(out: pathlib.Path) -> list[str]:
    """Removes what the bundle must not carry; returns what was removed (relative paths)."""
    removed: list[str] = []
    for entry in sorted(out.iterdir()):
        dist = entry.name.split("-")[0].lower()
        if entry.name in DROPPED_DIRS or dist in LEFT_OUT:
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry.name)
    for path in sorted(out.rglob("*")):
        if path.is_dir() and path.name == "__pycache__":
            shutil.rmtree(path)
        elif path.is_file() and path.name.endswith(NATIVE_SUFFIXES):
            removed.append(str(path.relative_to(out)))
            path.unlink()
    return removed


def check_bundle(out: pathlib.Path) -> str:
    """The bundle alone (no site-packages) runs the server's CLI; returns its --version line."""
    env = {**os.environ, "PYTHONPATH": str(out), "PYTHONDONTWRITEBYTECODE": "1"}
    # -S: no site-packages, so nothing but the bundle (and the standard library) is importable.
    probe = (
        "import sqlalchemy.util._has_cy as cy, typilot_lsp.setup, dataset;"
        "assert not cy.HAS_CYEXTENSION;"
        "db = dataset.connect('sqlite:///:memory:'); db['t'].insert({'a': 1});"
        "assert db['t'].count() == 1"
    )
    subprocess.run([sys.executable, "-S", "-c", probe], check=True, env=env, cwd=out)
    version = subprocess.run(
        [sys.executable, "-S", "-m", "typilot_lsp", "--version"],
        check=True,
        env=env,
        cwd=out,
        capture_output=True,
        text=True,
    )
    return version.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=pathlib.Path, help="the typilot-lsp wheel to bundle")
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="typilot-bundle-") as tmp:
        wheel = args.wheel or build_wheel(pathlib.Path(tmp))
        install(wheel, args.out)
    removed = prune(args.out)
    version = check_bundle(args.out)
    dists = sorted(p.name.removesuffix(".dist-info") for p in args.out.glob("*.dist-info"))
    print(f"bundled {version} into {args.out}: {', '.join(dists)}")
    print(f"left out (native or unused): {', '.join(removed) or 'nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
