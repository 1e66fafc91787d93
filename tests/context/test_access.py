"""What context never reads: secrets, files outside the workspace folders, gitignored files
(unless open), binary, minified and oversized files. Every file opened and folder listed is
recorded (Python's audit events, so nothing that bypasses the gate could hide)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.context.workspace import by_name, gather, recorded_reads, write_tree
from typilot_lsp.context.access import (
    MAX_FILE_BYTES,
    DiskCache,
    ExcludeRules,
    Refusal,
    WorkspaceFiles,
)
from typilot_lsp.context.gather import ContextGatherer
from typilot_lsp.context.model import WorkspaceSnapshot


@pytest.fixture(scope="module", autouse=True)
def _warm(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One gather per language first, so that loading the grammars (imports of Python
    modules) is not among the reads the tests record."""
    root = tmp_path_factory.mktemp("warm")
    write_tree(root, {"a.py": "# gen: x\n", "b.js": "// gen: x\n", "c.ts": "// gen: x\n"})
    write_tree(root, {"d.go": "package d\n// gen: x\n"})
    for name in ("a.py", "b.js", "c.ts", "d.go"):
        gather(root, name)


def _opened(reads: list[tuple[str, str]]) -> set[str]:
    return {os.path.realpath(path) for event, path in reads if event == "open"}


def _assert_all_inside(reads: list[tuple[str, str]], root: Path) -> None:
    real_root = os.path.realpath(root)
    outside = [path for _e, path in reads if not os.path.realpath(path).startswith(real_root)]
    assert outside == []


SECRETS = [
    ".env",
    "config/.env.production",
    "certs/server.pem",
    "id_rsa",
    "home/.ssh/id_ed25519",
    ".netrc",
    "aws/credentials.py",
    "secrets.py",
]


@pytest.mark.parametrize("secret", SECRETS)
def test_the_gate_never_opens_a_secret_file(tmp_path: Path, secret: str) -> None:
    write_tree(tmp_path, {secret: "API_KEY = 'hunter2'\n"})
    files = WorkspaceFiles(WorkspaceSnapshot((str(tmp_path),)), ExcludeRules(), DiskCache())
    with recorded_reads() as reads:
        assert files.read(str(tmp_path / secret)) is None
        assert not files.is_file(str(tmp_path / secret))
    assert reads == []
    assert files.refusals[str(tmp_path / secret)] is Refusal.EXCLUDED


@pytest.mark.parametrize("secret", ["secrets.py", "aws/credentials.py", "deploy/id_rsa.py"])
def test_an_import_of_a_secret_module_is_not_followed(tmp_path: Path, secret: str) -> None:
    module = secret.replace("/", ".").removesuffix(".py")
    write_tree(
        tmp_path,
        {secret: "API_KEY = 'hunter2'\n", "main.py": f"from {module} import API_KEY\n# gen: x\n"},
    )
    with recorded_reads() as reads:
        result = gather(tmp_path, "main.py")
    assert result.definitions == ()
    assert result.refusals[str(tmp_path / secret)] == Refusal.EXCLUDED.value
    assert os.path.realpath(tmp_path / secret) not in _opened(reads)


def test_a_secret_stays_unread_even_when_open_in_the_editor(tmp_path: Path) -> None:
    write_tree(tmp_path, {"main.js": "import { KEY } from './.env.js';\n// gen: use KEY\n"})
    result = gather(tmp_path, "main.js", open_files={".env.js": "export const KEY = 's3cret';\n"})
    assert result.definitions == ()
    assert result.refusals[str(tmp_path / ".env.js")] == Refusal.EXCLUDED.value


def test_context_exclude_adds_to_the_secret_patterns(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "generated/api.py": "def client():\n    pass\n",
            "keys.pem": "x\n",
            "main.py": "from generated.api import client\n# gen: call client()\n",
        },
    )
    assert "client" in by_name(gather(tmp_path, "main.py"))
    with recorded_reads() as reads:
        result = gather(tmp_path, "main.py", exclude=("generated/",))
    assert result.definitions == ()
    assert not [path for path in _opened(reads) if "generated" in path]


def test_files_outside_the_workspace_folders_are_never_opened(tmp_path: Path) -> None:
    root = tmp_path / "project"
    write_tree(
        tmp_path,
        {
            "outside.py": "def leak():\n    pass\n",
            "elsewhere/lib.js": "export function leak() {}\n",
            "project/app/__init__.py": "",
            "project/app/main.py": "from ...outside import leak\n# gen: call leak()\n",
            "project/main.js": "import { leak } from '../elsewhere/lib';\n// gen: call leak()\n",
        },
    )
    os.symlink(tmp_path / "outside.py", root / "linked.py")
    write_tree(root, {"uses_link.py": "from linked import leak\n# gen: call leak()\n"})
    for importer in ("app/main.py", "main.js", "uses_link.py"):
        with recorded_reads() as reads:
            result = gather(root, importer)
        assert result.definitions == (), importer
        _assert_all_inside(reads, root)
    assert Refusal.OUTSIDE.value in gather(root, "uses_link.py").refusals.values()


def test_gitignored_files_are_skipped_unless_open(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            ".gitignore": "build/\n*_local.py\n!keep_local.py\n",
            "build/gen.py": "def generated():\n    pass\n",
            "conf_local.py": "def local_conf():\n    pass\n",
            "keep_local.py": "def kept():\n    pass\n",
            "main.py": (
                "from build.gen import generated\n"
                "from conf_local import local_conf\nfrom keep_local import kept\n"
                "# gen: generated(), local_conf(), kept()\n"
            ),
        },
    )
    with recorded_reads() as reads:
        result = gather(tmp_path, "main.py")
    assert set(by_name(result)) == {"kept"}
    assert result.refusals[str(tmp_path / "conf_local.py")] == Refusal.GITIGNORED.value
    assert result.refusals[str(tmp_path / "build/gen.py")] == Refusal.GITIGNORED.value
    assert os.path.realpath(tmp_path / "build/gen.py") not in _opened(reads)
    opened = gather(
        tmp_path, "main.py", open_files={"build/gen.py": "def generated(x):\n    pass\n"}
    )
    generated = by_name(opened)["generated"]
    assert generated.from_buffer and "generated(x)" in generated.text


def test_a_nested_gitignore_and_git_info_exclude(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            ".git/info/exclude": "scratch.js\n",
            "lib/.gitignore": "out/\n",
            "lib/out/a.js": "export function a() {}\n",
            "scratch.js": "export function s() {}\n",
            "lib/ok.js": "export function ok() {}\n",
            "main.js": (
                "import { a } from './lib/out/a';\nimport { s } from './scratch';\n"
                "import { ok } from './lib/ok';\n// gen: a(), s(), ok()\n"
            ),
        },
    )
    result = gather(tmp_path, "main.js")
    assert set(by_name(result)) == {"ok"}
    assert result.refusals[str(tmp_path / "scratch.js")] == Refusal.GITIGNORED.value


def test_binary_minified_and_oversized_files_are_not_used(tmp_path: Path) -> None:
    long_line = "var a=" + ",".join(str(n) for n in range(600)) + ";\n"
    write_tree(
        tmp_path,
        {
            "blob.py": b"def f():\n    pass\n\x00\x01\x02",
            "latin.py": "def g():\n    return '\xe9'\n".encode("latin-1"),
            "dist/app.min.js": "export function m(){}\n",
            "dist/bundle.js": "export function b(){}\n" + long_line,
            "huge.py": "def h():\n    pass\n" + "# filler\n" * (MAX_FILE_BYTES // 9 + 1),
            "main.py": "from blob import f\nfrom latin import g\nfrom huge import h\n"
            "# gen: f(), g(), h()\n",
            "main.js": "import { m } from './dist/app.min.js';\nimport { b } from './dist/bundle';\n"
            "// gen: m(), b()\n",
        },
    )
    py = gather(tmp_path, "main.py")
    assert py.definitions == ()
    assert py.refusals[str(tmp_path / "blob.py")] == Refusal.BINARY.value
    assert py.refusals[str(tmp_path / "latin.py")] == Refusal.BINARY.value
    assert py.refusals[str(tmp_path / "huge.py")] == Refusal.TOO_LARGE.value
    with recorded_reads() as reads:
        js = gather(tmp_path, "main.js")
    assert js.definitions == ()
    assert js.refusals[str(tmp_path / "dist/app.min.js")] == Refusal.MINIFIED.value
    assert js.refusals[str(tmp_path / "dist/bundle.js")] == Refusal.MINIFIED.value
    assert os.path.realpath(tmp_path / "dist/app.min.js") not in _opened(reads)
    assert os.path.realpath(tmp_path / "huge.py") not in _opened(reads)  # stat says too large


def test_a_traced_gather_opens_only_workspace_files_it_needs(tmp_path: Path) -> None:
    """The privacy trace: a workspace full of bait around one import. Every file opened and
    folder listed lies inside the workspace, and is one the code's names lead to."""
    root = tmp_path / "ws"
    write_tree(
        tmp_path,
        {
            "secret_outside.py": "def tool():\n    pass\n",
            "ws/.gitignore": "venv/\n",
            "ws/.env": "TOKEN=1\n",
            "ws/id_rsa": "KEY\n",
            "ws/venv/tool.py": "def tool():\n    pass\n",
            "ws/pkg/__init__.py": "",
            "ws/pkg/tools.py": "def tool(n: int) -> int:\n    return n\n",
            **{f"ws/many/m{n}.py": f"def f{n}():\n    pass\n" for n in range(200)},
            "ws/main.py": "from pkg.tools import tool\n# gen: tool(3)\n",
        },
    )
    gatherer = ContextGatherer()
    with recorded_reads() as reads:
        result = gather(root, "main.py", gatherer=gatherer)
    assert by_name(result)["tool"].path == "pkg/tools.py"
    _assert_all_inside(reads, root)
    assert _opened(reads) <= {
        os.path.realpath(root / name)
        for name in ("main.py", "pkg/tools.py", "pkg/__init__.py", ".gitignore", "pkg/.gitignore")
    }
    assert [path for event, path in reads if event != "open"] == []  # no folder listed
