"""The quick start with a real model: scripts/demo.sh's Neovim session against llama-server.

scripts/demo.sh picks llama.cpp's server with SmolLM2 when no Ollama answers and both are
installed; this runs the session it then runs (scripts/demo_session.lua with the same settings)
and checks what a user would: every run ends, no prefix line and no fence is left in the file,
the code around the runs is untouched, one undo takes a run back, and the long run is cancelled.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.llama.llama_server import LlamaServer
from tests.neovim.nvim_harness import require_nvim, require_server

ROOT = Path(__file__).resolve().parents[2]


def test_demo_session_with_the_real_model(
    tmp_path: Path, typilot_home: dict[str, str], llama: LlamaServer
) -> None:
    nvim = require_nvim(rpc=False)
    server = require_server()
    demo = tmp_path / "demo.py"
    shutil.copy(ROOT / "examples" / "demo.py", demo)
    env = dict(typilot_home)
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env["TYPILOT_HISTORY_PATH"] = str(tmp_path / "history.sqlite3")
    settings = {
        "backend": "openai",
        "openai": {"baseUrl": llama.base_url, "options": {"temperature": 0}},
    }
    done = subprocess.run(
        [
            nvim,
            "--clean",
            "--headless",
            "-l",
            str(ROOT / "scripts" / "demo_session.lua"),
            str(ROOT / "neovim"),
            str(server),
            json.dumps(settings),
            str(demo),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("-> done in") == 3, done.stdout
    assert "one `u` brings back the `# sum:` line" in done.stdout
    assert "one `u` takes back the cancelled run" in done.stdout
    after = demo.read_text()
    for prefix in ("# gen:", "# fix:", "# sum:"):
        assert prefix not in after
    assert "```" not in after
    # The module docstring above the runs and the code sum: describes are untouched.
    original = (ROOT / "examples" / "demo.py").read_text()
    assert after.startswith(original.split("\n\n\n")[0])
    assert after.endswith(original[original.index("def word_counts") :])
