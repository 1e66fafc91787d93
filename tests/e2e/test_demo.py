"""The quick-start demo's editor session (scripts/demo_session.lua) with its scripted replies.

scripts/demo.sh sets up the environment and picks Ollama, llama.cpp's server with SmolLM2 or the
replay server; this runs the part that matters, the real headless Neovim session with the plugin
(gen:, fix:, sum:, an undo, a cancelled run), against the replay server loaded with
examples/demo-replay.json, and checks examples/demo.py comes out as the demo shows. The same
session against the real model: tests/llama/test_llama_demo.py.
It also catches prompt changes that would make the demo's replay rules stop matching.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.neovim.nvim_harness import require_nvim, require_server
from tests.replay.ollama import ReplayOllama, Rule

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = '''"""A small module to try Typilot on: each prefixed line below is one code action."""

from datetime import date


def parse_iso_date(text: str) -> date:
    """Parse a date written as YYYY-MM-DD."""
    year, month, day = (int(part) for part in text.strip().split("-"))
    return date(year, month, day)


def average(numbers):
    if not numbers:
        return 0.0
    return sum(numbers) / len(numbers)


# Counts how often each word occurs in the text (ignoring case) and
# returns word -> count.
def word_counts(text):
    counts = {}
    for word in text.lower().split():
        counts[word] = counts.get(word, 0) + 1
    return counts
'''


def test_demo_session_runs_gen_fix_sum(tmp_path: Path, typilot_home: dict[str, str]) -> None:
    nvim = require_nvim(rpc=False)
    server = require_server()
    rules = json.loads((ROOT / "examples" / "demo-replay.json").read_text())["rules"]
    demo = tmp_path / "demo.py"
    shutil.copy(ROOT / "examples" / "demo.py", demo)
    env = dict(typilot_home)
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env["TYPILOT_HISTORY_PATH"] = str(tmp_path / "history.sqlite3")
    with ReplayOllama(rules=[Rule.from_dict(r) for r in rules]) as replay:
        done = subprocess.run(
            [
                nvim,
                "--clean",
                "--headless",
                "-l",
                str(ROOT / "scripts" / "demo_session.lua"),
                str(ROOT / "neovim"),
                str(server),
                json.dumps({"ollama": {"host": replay.url, "model": "qwen2.5-coder:1.5b"}}),
                str(demo),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        prompts = [
            e
            for e in replay.events_of("request")
            if e.get("path") in ("/api/chat", "/api/generate")
        ]
        hang_ups = replay.events_of("disconnect")
    assert done.returncode == 0, done.stdout + done.stderr
    # The undo and the cancelled run left nothing behind: the file is what the three runs made.
    assert demo.read_text() == EXPECTED
    # The code-action menus sent their lines' prompts ahead (prewarm: one token, no stream);
    # each run then streamed its own.
    warms = [e for e in prompts if e["body"].get("stream") is False]
    runs = [e for e in prompts if e["body"].get("stream") is not False]
    assert all(e["body"]["options"]["num_predict"] == 1 for e in warms)
    assert len(runs) == 4
    # gen: (and the long gen: that is cancelled) by fill-in-the-middle (qwen2.5-coder has
    # `insert`), fix: and sum: by chat
    assert [e["path"] for e in runs].count("/api/generate") == 2
    for line in ("line 4  # gen:", "line 12  # fix:", "line 18  # sum:"):
        assert line in done.stdout
    assert done.stdout.count("-> done in") == 3
    assert "one `u` brings back the `# sum:` line" in done.stdout
    assert "the run cancelled, what streamed stays" in done.stdout
    assert "one `u` takes back the cancelled run" in done.stdout
    # The cancel reached the model server: it saw the client hang up mid-reply. (A warm
    # request of another line that a run started meanwhile may be hung up on too.)
    run_ids = {e["id"] for e in runs}
    assert len([h for h in hang_ups if h["id"] in run_ids]) == 1
