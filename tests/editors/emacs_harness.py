"""Run a real `emacs --batch` with Eglot and editors/emacs/typilot-eglot.el against typilot-lsp.

The Emacs side is eglot_driver.el; this module writes its spec, runs it and
reads back what it saw (the buffer text, the code action titles, every
workspace/applyEdit Eglot applied or refused, the server's messages).
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DRIVER = HERE / "eglot_driver.el"
LSP_MODE_DRIVER = HERE / "lsp_mode_driver.el"
EGLOT_CONFIG = REPO / "editors" / "emacs" / "typilot-eglot.el"
LSP_MODE_CONFIG = REPO / "editors" / "emacs" / "typilot-lsp-mode.el"
# The server editors start: the console script next to the interpreter running the tests
# (an absolute path, as a user would put in `typilot-lsp-program`).
TYPILOT_LSP = Path(sys.executable).parent / "typilot-lsp"
EMACS = shutil.which("emacs")
INSTALL_HINT = (
    "`bash scripts/install-test-deps.sh` installs emacs-nox, elpa-eglot and elpa-lsp-mode"
)


# A model only the settings name: the replay server knows it, nothing else points at it.
MODEL = "typilot-editors-test:7b"
GENERATE_PATHS = ("/api/generate", "/api/chat")


def run_requests(replay: Any) -> list[dict[str, Any]]:
    """The generations the runs asked for: a prewarm asks for one token without a stream."""
    return [
        e
        for e in replay.events_of("request")
        if e["path"] in GENERATE_PATHS and e["body"].get("stream") is not False
    ]


def run_completions(replay: Any) -> list[dict[str, Any]]:
    """The runs' generations the replay server streamed to their end."""
    return [
        e
        for e in replay.events_of("complete")
        if e["path"] in GENERATE_PATHS and e.get("stream") is not False
    ]


def editor_settings(replay: Any, tmp_path: Path) -> dict[str, Any]:
    """The `typilot` section the editor config passes; Ollama is reached only through it."""
    replay.set_models([*(m["name"] for m in replay.models), MODEL])
    return {
        "ollama": {"host": replay.url, "model": MODEL, "keepAlive": "7m"},
        "history": {"path": str(tmp_path / "history.sqlite3")},
        "trace": False,
    }


@functools.cache
def emacs_missing_reason(*features: str) -> str | None:
    """What the Emacs tests lack here (None when nothing): for `prerequisites.needs`."""
    if EMACS is None:
        return "emacs (not on PATH)"
    if not TYPILOT_LSP.exists():
        return f"{TYPILOT_LSP} (the package's console script: `pip install -e .` first)"
    for feature in features:
        probe = subprocess.run(
            [EMACS, "--batch", "-q", "--eval", f"(require '{feature})"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if probe.returncode != 0:
            return f"Emacs' {feature} package (Emacs cannot load it: {probe.stderr.strip()[-300:]})"
    return None


def coalescing_program(tmp_path: Path) -> Path:
    """A `typilot-lsp` that delivers each response glued to the message after it
    (coalescing_relay.py), as a loaded machine may."""
    script = tmp_path / "typilot-lsp-coalesced"
    relay = HERE / "coalescing_relay.py"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{relay}" "{TYPILOT_LSP}" "$@"\n')
    script.chmod(0o755)
    return script


def run_eglot(
    tmp_path: Path,
    env: dict[str, str],
    **spec: Any,
) -> dict[str, Any]:
    """Run eglot_driver.el once (with editors/emacs/typilot-eglot.el); see `run_emacs`."""
    return run_emacs(DRIVER, EGLOT_CONFIG, tmp_path, env, **spec)


def run_lsp_mode(
    tmp_path: Path,
    env: dict[str, str],
    **spec: Any,
) -> dict[str, Any]:
    """Run lsp_mode_driver.el once (with editors/emacs/typilot-lsp-mode.el); see `run_emacs`."""
    return run_emacs(LSP_MODE_DRIVER, LSP_MODE_CONFIG, tmp_path, env, **spec)


def run_emacs(
    driver: Path,
    config: Path,
    tmp_path: Path,
    env: dict[str, str],
    *,
    file: Path,
    line: int,
    settings: dict[str, Any],
    mode: str,
    expect: str | None = None,
    deadline: float = 90.0,
    typing_seconds: float = 0.0,
    typed: str | None = None,
    region: int | None = None,
    new_settings: dict[str, Any] | None = None,
    program: Path = TYPILOT_LSP,
) -> dict[str, Any]:
    """Run one of the drivers in Emacs; return its result (see the driver for the keys).

    Adds `stderr` (Emacs' own messages) and `events` (the client's JSON-RPC log)
    for failure reports.
    """
    assert EMACS is not None
    out = tmp_path / f"{driver.stem}-result.json"
    events = tmp_path / f"{driver.stem}-events.log"
    spec = {
        "config": str(config),
        "program": str(program),
        "settings": settings,
        "file": str(file),
        "line": line,
        "mode": mode,
        "expect": expect,
        "deadline": deadline,
        "typingSeconds": typing_seconds,
        "typed": typed,
        "region": region,
        "newSettings": new_settings,
        "out": str(out),
        "events": str(events),
    }
    spec_path = tmp_path / f"{driver.stem}-spec.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    proc = subprocess.run(
        [EMACS, "--batch", "-q", "-l", str(driver)],
        env={**env, "TYPILOT_EMACS_SPEC": str(spec_path)},
        cwd=file.parent,
        capture_output=True,
        text=True,
        timeout=2 * deadline + typing_seconds + 60,
        check=False,
    )
    if not out.exists():
        raise AssertionError(
            f"emacs exited with {proc.returncode} without a result\n"
            f"--- stderr ---\n{proc.stderr[-4000:]}"
        )
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    result["exit"] = proc.returncode
    result["stderr"] = proc.stderr
    result["events"] = (
        events.read_text(encoding="utf-8", errors="replace") if events.exists() else ""
    )
    return result


def describe(result: dict[str, Any]) -> str:
    """A failure report: what Emacs saw, its messages and the tail of Eglot's event log."""
    seen = {k: v for k, v in result.items() if k not in ("stderr", "events")}
    return (
        f"{json.dumps(seen, indent=1, ensure_ascii=False)[:6000]}\n"
        f"--- emacs stderr ---\n{result['stderr'][-3000:]}\n"
        f"--- client events (tail) ---\n{result['events'][-6000:]}"
    )
