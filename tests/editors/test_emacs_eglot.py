"""A real Emacs (batch mode, Eglot) runs Typilot code actions against the replay Ollama.

Emacs loads editors/emacs/typilot-eglot.el exactly as a user would, Eglot starts
the real `typilot-lsp`, asks for code actions on the `gen:` line and runs
Typilot's; the text streams in through workspace/applyEdit, Eglot applies it
(checking versions) and reports it back with didChange.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.editors.emacs_harness import GENERATE_PATHS as _GENERATE
from tests.editors.emacs_harness import (
    INSTALL_HINT,
    MODEL,
    describe,
    emacs_missing_reason,
    run_completions,
    run_eglot,
    run_requests,
)
from tests.editors.emacs_harness import editor_settings as _settings
from tests.prerequisites import needs
from tests.replay.ollama import ReplayOllama

pytestmark = needs(emacs_missing_reason("eglot"), INSTALL_HINT)


def _prompt(body: dict[str, Any]) -> str:
    """The text a generate/chat request sent to the model."""
    if "prompt" in body:
        return str(body["prompt"])
    return "\n".join(str(m.get("content", "")) for m in body.get("messages", []))


def _project(tmp_path: Path, name: str, text: str) -> Path:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    path = project / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "before", "line", "region", "match", "reply", "title", "after"),
    [
        pytest.param(
            "example.py",
            "import math\n\n# gen: add two numbers\n\nprint(math.pi)\n",
            3,
            None,
            "add two numbers",
            "def add(a, b):\n    return a + b\n",
            "Typilot: gen — add two numbers",
            "import math\n\ndef add(a, b):\n    return a + b\n\nprint(math.pi)\n",
            id="gen-top-level",
        ),
        pytest.param(
            "example.py",
            "def main():\n    # gen: print a greeting\n    return 0\n",
            2,
            None,
            "print a greeting",
            "print('hello')\nprint('bye')\n",
            "Typilot: gen — print a greeting",
            "def main():\n    print('hello')\n    print('bye')\n    return 0\n",
            id="gen-indented",
        ),
        pytest.param(
            # A region from the prefix line: the selected lines are the target.
            "example.py",
            "# fix: multiply by ten\na = 1\nb = 2\nc = 3\n",
            1,
            4,
            "Code to fix:\na = 1\nb = 2\nCode after it",
            "a = 10\nb = 20\n",
            "Typilot: fix — multiply by ten",
            "a = 10\nb = 20\nc = 3\n",
            id="fix-region",
        ),
        pytest.param(
            # js-mode: the languageId from `typilot-major-modes' picks the comment syntax.
            "example.js",
            "    // sum:\n    function add(a, b) {\n      return a + b;\n    }\n",
            1,
            None,
            "Language: javascript",
            "Adds two numbers.\nReturns their sum.\n",
            "Typilot: sum",
            "    // Adds two numbers.\n    // Returns their sum.\n"
            "    function add(a, b) {\n      return a + b;\n    }\n",
            id="sum-javascript",
        ),
    ],
)
def test_code_action_streams_into_the_buffer(
    tmp_path: Path,
    replay_ollama: ReplayOllama,
    typilot_home: dict[str, str],
    name: str,
    before: str,
    line: int,
    region: int | None,
    match: str,
    reply: str,
    title: str,
    after: str,
) -> None:
    # Slow enough that the reply arrives in several edits, each one echoed by Eglot.
    replay_ollama.add_rule(match=match, reply=reply, tokens_per_second=10)
    path = _project(tmp_path, name, before)

    result = run_eglot(
        tmp_path,
        typilot_home,
        file=path,
        line=line,
        region=region,
        settings=_settings(replay_ollama, tmp_path),
        mode="gen",
        expect=after,
    )

    assert "error" not in result, describe(result)
    assert result["titles"] == [title], describe(result)
    assert result["serverWarning"] is None, describe(result)
    # The run ended (recorded as done) with the buffer as expected, nothing changed after.
    assert (result["ended"], result["outcome"]) == (True, "done"), describe(result)
    assert result["reached"] is True, describe(result)
    assert result["text"] == after, describe(result)
    # Streamed: several applyEdits, every one applied by Eglot's version check.
    assert result["applyOk"] >= 2, describe(result)
    assert result["applyFailed"] == 0, describe(result)
    # The text came from the replay server the settings point at, through the rule.
    generations = run_requests(replay_ollama)
    assert len(generations) == 1, replay_ollama.events
    body = generations[0]["body"]
    assert match in _prompt(body), generations[0]
    # ollama.host, ollama.model and ollama.keepAlive came from the config's settings.
    assert (body["model"], body["keep_alive"]) == (MODEL, "7m"), body
    assert run_completions(replay_ollama)
    # The file on disk is untouched: Typilot edits the buffer, the user saves.
    assert path.read_text(encoding="utf-8") == before


def test_send_settings_reaches_the_running_server(
    tmp_path: Path, replay_ollama: ReplayOllama, typilot_home: dict[str, str]
) -> None:
    """`M-x typilot-send-settings' after editing `typilot-settings' (no restart)."""
    replay_ollama.add_rule(match="add two numbers", reply="def add(a, b):\n    return a + b\n")
    before = "# gen: add two numbers\n"
    path = _project(tmp_path, "example.py", before)
    settings = _settings(replay_ollama, tmp_path)
    changed = {**settings, "ollama": {**settings["ollama"], "model": "qwen2.5-coder:1.5b"}}

    result = run_eglot(
        tmp_path,
        typilot_home,
        file=path,
        line=1,
        settings=settings,
        new_settings=changed,
        mode="gen",
        expect="def add(a, b):\n    return a + b\n",
    )

    assert "error" not in result, describe(result)
    assert (result["ended"], result["outcome"]) == (True, "done"), describe(result)
    assert result["reached"] is True, describe(result)
    generations = run_requests(replay_ollama)
    assert [g["body"]["model"] for g in generations] == ["qwen2.5-coder:1.5b"], generations


def test_cancel_stops_the_run_and_keeps_what_was_streamed(
    tmp_path: Path, replay_ollama: ReplayOllama, typilot_home: dict[str, str]
) -> None:
    head = "import os\n\n"
    prefix_line = "# gen: list the files in a folder\n"
    tail = "\nprint(os.getcwd())\n"
    body = "".join(f"    print('line {i}')\n" for i in range(60))
    reply = f"def list_files(folder):\n{body}    return os.listdir(folder)\n"
    # About 40 seconds of tokens: the run is still streaming when Emacs cancels it.
    replay_ollama.add_rule(match="list the files", reply=reply, tokens_per_second=10)
    path = _project(tmp_path, "files.py", head + prefix_line + tail)

    result = run_eglot(
        tmp_path,
        typilot_home,
        file=path,
        line=3,
        settings=_settings(replay_ollama, tmp_path),
        mode="cancel",
    )

    assert "error" not in result, describe(result)
    assert result["applyAtCancel"] >= 1, describe(result)
    assert (result["ended"], result["outcome"]) == (True, "cancelled"), describe(result)
    # Cancelling closed the connection to Ollama before the reply was complete.
    replay_ollama.wait_for("disconnect", lambda e: e["path"] in _GENERATE, timeout=15)
    assert not run_completions(replay_ollama)
    # The buffer keeps the part already streamed in place of the prefix line; the
    # lines around it are untouched.
    text = result["text"]
    assert text.startswith(head) and text.endswith(tail), describe(result)
    written = text[len(head) : len(text) - len(tail)]
    assert written, describe(result)
    assert reply.startswith(written) or reply.startswith(written.rstrip("\n")), describe(result)
    assert written != reply, describe(result)
    # Nothing kept streaming after the cancel (one edit may have been in flight), up to the
    # run's end and a round trip after it.
    assert result["applyOk"] <= result["applyAtCancel"] + 1, describe(result)


def test_typing_right_after_a_streamed_edit_keeps_both(
    tmp_path: Path, replay_ollama: ReplayOllama, typilot_home: dict[str, str]
) -> None:
    body = "".join(f"    print('line {i}')\n" for i in range(6))
    reply = f"def list_files(folder):\n{body}    return os.listdir(folder)\n"
    replay_ollama.add_rule(match="list the files", reply=reply, tokens_per_second=15)
    before = "import os\n\n# gen: list the files in a folder\n\nprint(os.getcwd())\n"
    typed = "# typed while the run streams\n"
    path = _project(tmp_path, "files.py", before)

    # Emacs types at the end of the buffer just after it reported the first streamed edit
    # (didChange), before its idle timer reports the typing: the server's next edit names
    # a version Eglot has already left.
    result = run_eglot(
        tmp_path,
        typilot_home,
        file=path,
        line=3,
        settings=_settings(replay_ollama, tmp_path),
        mode="type",
        typed=typed,
        expect=f"import os\n\n{reply}\nprint(os.getcwd())\n{typed}",
        deadline=60,
    )

    assert "error" not in result, describe(result)
    assert (result["ended"], result["outcome"]) == (True, "done"), describe(result)
    assert result["reached"] is True, describe(result)
    assert result["text"].endswith(typed), describe(result)


def test_typing_without_pause_during_a_run_loses_no_text(
    tmp_path: Path, replay_ollama: ReplayOllama, typilot_home: dict[str, str]
) -> None:
    """Eglot reports changes only when Emacs is idle: a user who keeps typing holds back the
    echo of Typilot's edits. Whatever the run does then, nothing typed or written is lost."""
    head, tail = "import os\n\n", "\nprint(os.getcwd())\n"
    body = "".join(f"    print('line {i}')\n" for i in range(30))
    reply = f"def list_files(folder):\n{body}    return os.listdir(folder)\n"
    replay_ollama.add_rule(match="list the files", reply=reply, tokens_per_second=10)
    path = _project(tmp_path, "files.py", f"{head}# gen: list the files in a folder\n{tail}")

    result = run_eglot(
        tmp_path,
        typilot_home,
        file=path,
        line=3,
        settings=_settings(replay_ollama, tmp_path),
        mode="type-continuously",
        typed="x",
        typing_seconds=5.0,
        expect=f"{head}{reply}{tail}",  # only reached if the run could finish
    )

    assert "error" not in result, describe(result)
    assert result["ended"] is True, describe(result)  # done, or stopped with a message
    text = result["text"]
    typed = len(text) - len(text.rstrip("x"))
    assert typed >= 10, describe(result)  # every keystroke is still there, at the end
    text = text[:-typed]
    assert text.startswith(head) and text.endswith(tail), describe(result)
    written = text[len(head) : len(text) - len(tail)]
    assert written and reply.startswith(written.rstrip("\n")), describe(result)
