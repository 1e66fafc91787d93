"""`typilot-lsp apply` as a user runs it: a subprocess against the Ollama replay server."""

from __future__ import annotations

import codecs
import json
import subprocess
import sys
from pathlib import Path

from tests.replay.ollama import ReplayOllama

APPLY = [sys.executable, "-m", "typilot_lsp", "apply"]

SOURCE = """import statistics

# gen: add two numbers

# fix: handle an empty list
def mean(xs):
    return sum(xs) / len(xs)

# sum:
def median(xs):
    return statistics.median(xs)
"""

ADD = "def add(a, b):\n    return a + b\n"
MEAN = "def mean(xs):\n    if not xs:\n        return 0.0\n    return sum(xs) / len(xs)\n"
SUMMARY = "Returns the median of a list of numbers."

EXPECTED = f"""import statistics

{ADD}
{MEAN}
# {SUMMARY}
def median(xs):
    return statistics.median(xs)
"""


def run_apply(
    env: dict[str, str], url: str | None, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = dict(env)
    if url is not None:
        full_env["OLLAMA_HOST"] = url
    return subprocess.run(
        [*APPLY, *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def script(replay: ReplayOllama, tps: float = 400) -> None:
    # Each prompt holds the whole file as context: match what only its own prompt says (gen:
    # goes by fill-in-the-middle, the default with a model that can: match the line at the gap).
    replay.add_rule(gap="gen: add two numbers", reply=ADD, tokens_per_second=tps)
    replay.add_rule(match="Task: handle an empty list", reply=f"```python\n{MEAN}```\n")
    replay.add_rule(match="Code to summarize:\ndef median", reply=SUMMARY + "\n")


def history(env: dict[str, str]) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "typilot_lsp", "history", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def test_apply_runs_every_prefix_and_writes_the_file(
    tmp_path: Path, replay_ollama: ReplayOllama, typilot_home: dict[str, str]
) -> None:
    script(replay_ollama)
    path = tmp_path / "stats.py"
    path.write_text(SOURCE)
    path.chmod(0o640)
    done = run_apply(typilot_home, replay_ollama.url, str(path))
    assert done.returncode == 0, done.stderr
    assert path.read_text() == EXPECTED
    assert path.stat().st_mode & 0o777 == 0o640
    assert done.stdout == ""
    # Progress on stderr, one line per run, bottom-up.
    assert "[1/3] line 9 sum ... done" in done.stderr
    assert "[2/3] line 5 fix: handle an empty list ... done" in done.stderr
    assert "[3/3] line 3 gen: add two numbers ... done" in done.stderr
    assert "wrote" in done.stderr
    # Every run went to Ollama once and is in the shared history as a CLI run.
    assert len(replay_ollama.events_of("complete")) == 3
    entries = history(typilot_home)
    assert sorted(e["command"] for e in entries) == ["fix", "gen", "sum"]
    assert {e["source"] for e in entries} == {"cli"}
    assert {e["outcome"] for e in entries} == {"done"}


def test_dry_run_prints_the_result_and_leaves_the_file(
    tmp_path: Path, replay_ollama: ReplayOllama, typilot_home: dict[str, str]
) -> None:
    script(replay_ollama)
    path = tmp_path / "stats.py"
    path.write_text(SOURCE)
    done = run_apply(typilot_home, replay_ollama.url, str(path), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout == EXPECTED
    assert path.read_text() == SOURCE


def test_streams_through_many_edits_at_a_slow_rate(
    tmp_path: Path, replay_ollama: ReplayOllama, typilot_home: dict[str, str]
) -> None:
    """The same coalescing engine as in an editor: several edits, the text in one piece."""
    body = "".join(f"    total += {i}\n" for i in range(40))
    reply = f"def total():\n    total = 0\n{body}    return total\n"
    replay_ollama.add_rule(match="sum the numbers", reply=reply, tokens_per_second=150)
    path = tmp_path / "t.py"
    path.write_text("class A:\n    # gen: sum the numbers\n    pass\n")
    done = run_apply(typilot_home, replay_ollama.url, str(path))
    assert done.returncode == 0, done.stderr
    indented = "".join("    " + line + "\n" for line in reply.splitlines())
    assert path.read_text() == f"class A:\n{indented}    pass\n"
    edits = int(done.stderr.split(" edits")[0].rsplit(" ", 1)[1])
    assert edits > 3


def test_keeps_crlf_bom_and_non_ascii(
    tmp_path: Path, replay_ollama: ReplayOllama, typilot_home: dict[str, str]
) -> None:
    replay_ollama.add_rule(match="greet", reply='def greet():\n    return "héllo 👋"\n')
    path = tmp_path / "crlf.py"
    text = '# café ☕\r\n# gen: greet in French 🇫🇷\r\nprint("fin")\r\n'
    path.write_bytes(codecs.BOM_UTF8 + text.encode("utf-8"))
    done = run_apply(typilot_home, replay_ollama.url, str(path))
    assert done.returncode == 0, done.stderr
    raw = path.read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)
    assert raw[3:].decode("utf-8") == (
        '# café ☕\r\ndef greet():\r\n    return "héllo 👋"\r\nprint("fin")\r\n'
    )


def test_utf16_file_stays_utf16(
    tmp_path: Path, replay_ollama: ReplayOllama, typilot_home: dict[str, str]
) -> None:
    replay_ollama.add_rule(match="answer", reply="ANSWER = 42\n")
    path = tmp_path / "u16.py"
    path.write_bytes("x = 'ü'\n# gen: the answer\n".encode("utf-16"))
    done = run_apply(typilot_home, replay_ollama.url, str(path))
    assert done.returncode == 0, done.stderr
    assert path.read_bytes().decode("utf-16") == "x = 'ü'\nANSWER = 42\n"


def test_ollama_down_exits_1_with_what_to_do(tmp_path: Path, typilot_home: dict[str, str]) -> None:
    path = tmp_path / "a.py"
    path.write_text(SOURCE)
    done = run_apply(typilot_home, "http://127.0.0.1:9", str(path))
    assert done.returncode == 1
    assert "Ollama is not running at http://127.0.0.1:9" in done.stderr
    assert "ollama serve" in done.stderr
    assert "Traceback" not in done.stderr
    assert path.read_text() == SOURCE


def test_missing_model_says_how_to_pull_it(
    tmp_path: Path, replay_ollama: ReplayOllama, typilot_home: dict[str, str]
) -> None:
    path = tmp_path / "a.py"
    path.write_text(SOURCE)
    done = run_apply(typilot_home, replay_ollama.url, str(path), "--model", "nosuch:7b")
    assert done.returncode == 1
    assert "ollama pull nosuch:7b" in done.stderr
    assert path.read_text() == SOURCE
    assert replay_ollama.events_of("complete") == []


def test_mid_stream_error_keeps_the_line_and_the_other_runs(
    tmp_path: Path, replay_ollama: ReplayOllama, typilot_home: dict[str, str]
) -> None:
    replay_ollama.add_rule(gap="gen: first thing", reply="FIRST = 1\n")
    replay_ollama.add_rule(
        gap="gen: second thing",
        reply="def second():\n    return 'a long reply that breaks'\n",
        error_after_tokens=5,
        error="an error was encountered while running the model: unexpected EOF",
    )
    path = tmp_path / "two.py"
    original = "# gen: first thing\n\n# gen: second thing\nend = True\n"
    path.write_text(original)
    done = run_apply(typilot_home, replay_ollama.url, str(path))
    assert done.returncode == 1
    assert "unexpected EOF" in done.stderr
    assert "line 3 was left as it was" in done.stderr
    assert "1 of 2 runs failed" in done.stderr
    # The failed line is untouched (no half-written code), the other run is in.
    assert path.read_text() == "FIRST = 1\n\n# gen: second thing\nend = True\n"
    outcomes = sorted(str(e["outcome"]) for e in history(typilot_home))
    assert outcomes == ["done", "error"]


def test_settings_file_custom_prefix_and_language(
    tmp_path: Path, replay_ollama: ReplayOllama, typilot_home: dict[str, str]
) -> None:
    replay_ollama.add_rule(match="log a line", reply='console.log("hi");\n')
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"typilot": {"prefixes": {"gen": "todo:"}}}))
    path = tmp_path / "script.txt"
    path.write_text("let a = 1;\n  // todo: log a line\n")
    done = run_apply(
        typilot_home,
        replay_ollama.url,
        str(path),
        "--settings",
        str(settings),
        "--language",
        "javascript",
    )
    assert done.returncode == 0, done.stderr
    assert path.read_text() == 'let a = 1;\n  console.log("hi");\n'


def test_bad_input_files(tmp_path: Path, typilot_home: dict[str, str]) -> None:
    latin = tmp_path / "latin.py"
    latin.write_bytes("# gen: caf\xe9\n".encode("latin-1"))
    done = run_apply(typilot_home, "http://127.0.0.1:9", str(latin))
    assert done.returncode == 1
    assert "is not UTF-8 text" in done.stderr and "iconv" in done.stderr
    missing = run_apply(typilot_home, "http://127.0.0.1:9", str(tmp_path / "nope.py"))
    assert missing.returncode == 1
    assert "cannot read" in missing.stderr and "nope.py" in missing.stderr
    plain = tmp_path / "plain.py"
    plain.write_text("x = 1\n")
    nothing = run_apply(typilot_home, "http://127.0.0.1:9", str(plain), "--dry-run")
    assert nothing.returncode == 0
    assert nothing.stdout == "x = 1\n"
    assert "no prefixed lines (gen:, fix:, sum:)" in nothing.stderr


def test_a_fix_of_the_whole_file_takes_the_prefixes_above_it(
    tmp_path: Path, replay_ollama: ReplayOllama, typilot_home: dict[str, str]
) -> None:
    """fix: on the last line targets the whole file, prefixed lines included: they are skipped."""
    replay_ollama.add_rule(match="Task: make it consistent", reply="x = 1\ny = x + 1\n")
    path = tmp_path / "whole.py"
    path.write_text("x = 1\n# gen: define y\nz = 3\n\n# fix: make it consistent\n")
    done = run_apply(typilot_home, replay_ollama.url, str(path))
    assert done.returncode == 0, done.stderr
    assert "line 2 was part of what a fix: below it rewrote; skipped" in done.stderr
    # The old code and the blank line between it and the fix: line make way for the new code.
    assert path.read_text() == "x = 1\ny = x + 1\n"
    assert len(replay_ollama.events_of("complete")) == 1
