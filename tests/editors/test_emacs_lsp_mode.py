"""A real Emacs (batch mode) with lsp-mode runs Typilot against the replay Ollama.

Emacs loads editors/emacs/typilot-lsp-mode.el exactly as a user would; lsp-mode
starts the real `typilot-lsp` as an add-on server, `typilot-lsp-run` runs the
`gen:` line, and the run's `$/progress` end (lsp-mode supports server-initiated
progress) says when it is over.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.editors.emacs_harness import GENERATE_PATHS as _GENERATE
from tests.editors.emacs_harness import (
    INSTALL_HINT,
    MODEL,
    coalescing_program,
    describe,
    emacs_missing_reason,
    run_completions,
    run_lsp_mode,
    run_requests,
)
from tests.editors.emacs_harness import editor_settings as _settings
from tests.prerequisites import needs
from tests.replay.ollama import ReplayOllama

pytestmark = needs(emacs_missing_reason("lsp-mode"), INSTALL_HINT)


def _file(tmp_path: Path, text: str) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    path = project / "example.py"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("glued", [False, True], ids=["as-is", "answers-glued"])
def test_gen_streams_until_the_progress_ends(
    tmp_path: Path, replay_ollama: ReplayOllama, typilot_home: dict[str, str], glued: bool
) -> None:
    """glued: every answer reaches Emacs in one read with the message after it, as on a loaded
    machine (coalescing_relay.py). lsp-mode's synchronous `lsp-request` drops what follows its
    answer in the same read: the run's progress "begin" was lost, and the run never showed."""
    reply = "def add(a, b):\n    return a + b\n"
    replay_ollama.add_rule(match="add two numbers", reply=reply, tokens_per_second=10)
    path = _file(tmp_path, "import math\n\n# gen: add two numbers\n\nprint(math.pi)\n")

    result = run_lsp_mode(
        tmp_path,
        typilot_home,
        file=path,
        line=3,
        settings=_settings(replay_ollama, tmp_path),
        mode="gen",
        **({"program": coalescing_program(tmp_path)} if glued else {}),
    )

    assert "error" not in result, describe(result)
    assert result["ended"] is True and result["endMessage"] == "done", describe(result)
    assert result["outcome"] == "done", describe(result)  # recorded: the round trip after it
    assert result["text"] == (
        "import math\n\ndef add(a, b):\n    return a + b\n\nprint(math.pi)\n"
    ), describe(result)
    assert result["applyOk"] >= 2, describe(result)
    assert result["progressEnds"] == 1, describe(result)
    kinds = [e.get("progress") for e in result["log"] if e["kind"] == "progress"]
    assert kinds[0] == "begin" and kinds[-1] == "end", describe(result)
    generations = run_requests(replay_ollama)
    assert len(generations) == 1, replay_ollama.events
    # ollama.host, ollama.model and ollama.keepAlive came from the config's settings.
    body = generations[0]["body"]
    assert (body["model"], body["keep_alive"]) == (MODEL, "7m"), body


def test_cancel_ends_the_progress_and_keeps_what_was_streamed(
    tmp_path: Path, replay_ollama: ReplayOllama, typilot_home: dict[str, str]
) -> None:
    head, tail = "import os\n\n", "\nprint(os.getcwd())\n"
    body = "".join(f"    print('line {i}')\n" for i in range(60))
    reply = f"def list_files(folder):\n{body}    return os.listdir(folder)\n"
    replay_ollama.add_rule(match="list the files", reply=reply, tokens_per_second=10)
    path = _file(tmp_path, f"{head}# gen: list the files in a folder\n{tail}")

    result = run_lsp_mode(
        tmp_path,
        typilot_home,
        file=path,
        line=3,
        settings=_settings(replay_ollama, tmp_path),
        mode="cancel",
    )

    assert "error" not in result, describe(result)
    assert result["ended"] is True and result["endMessage"] == "cancelled", describe(result)
    assert result["outcome"] == "cancelled", describe(result)
    replay_ollama.wait_for("disconnect", lambda e: e["path"] in _GENERATE, timeout=15)
    assert not run_completions(replay_ollama)
    text = result["text"]
    assert text.startswith(head) and text.endswith(tail), describe(result)
    written = text[len(head) : len(text) - len(tail)]
    assert written and written != reply, describe(result)
    assert reply.startswith(written.rstrip("\n")), describe(result)
    assert result["applyOk"] <= result["applyAtCancel"] + 1, describe(result)
