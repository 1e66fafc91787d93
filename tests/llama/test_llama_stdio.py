"""A real model end to end over stdio: typilot-lsp (pytest-lsp client) and a real llama-server.

SmolLM2-135M-Instruct answers at temperature 0 through the OpenAI-compatible backend, both
directly (`gen.fim: off`) and through the fill-in-the-middle path (`gen.fim: auto`: llama-server's
`/infill` answers 501 for SmolLM2, which has no FIM tokens, so `gen:` falls back to chat). The
tests assert what a user would check, never the model's words (tests/llama/properties.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from lsprotocol import types

from tests.e2e.harness import Editor, server_env, start_editor, stop_editor
from tests.llama.llama_server import LlamaServer
from tests.llama.properties import check_run

RUN_TIMEOUT = 120  # a 135M model on 2 busy cores: a few seconds a run, with room for load


def llama_settings(llama: LlamaServer, fim: str = "off") -> dict[str, Any]:
    """The OpenAI-compatible backend on the fixture's llama-server, through its recording relay."""
    assert llama.relay is not None
    return {
        "backend": "openai",
        "openai": {"baseUrl": llama.relay.base_url, "options": {"temperature": 0}},
        "gen": {"fim": fim},
    }


@pytest.fixture(params=["off", "auto"], ids=["chat", "fim-fallback"])
def fim(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def editor(
    llama: LlamaServer, typilot_home: dict[str, str], fim: str
) -> AsyncIterator[Editor]:
    session = await start_editor(server_env(typilot_home, None), llama_settings(llama, fim))
    try:
        yield session
    finally:
        await stop_editor(session)


async def run_to_end(editor: Editor, name: str, text: str, line: int, language: str) -> str:
    doc = editor.open(name, text, language)
    await editor.run_line(doc, line)
    await editor.wait_runs_done(timeout=RUN_TIMEOUT)
    end = editor.progress_ends()[-1]
    assert end.message == "done", f"run ended {end.message!r}: {editor.client.messages!r}"
    return doc.text


def infill_requests(llama: LlamaServer) -> int:
    assert llama.relay is not None
    return llama.relay.count("POST", "/infill")


PY_GEN = (
    "import math\n\n\nclass Shapes:\n    unit = 1.0\n\n"
    "    # gen: a method circle_area(self, r) that returns the area of a circle of radius r\n\n"
    "    def name(self):\n        return 'shapes'\n"
)
JS_GEN = (
    "'use strict';\n\n// gen: a function capitalize(word) that upper-cases the first letter\n\n"
    "module.exports = { capitalize };\n"
)


@pytest.mark.parametrize(
    ("name", "text", "line", "language", "comment"),
    [
        ("shapes.py", PY_GEN, 6, "python", "#"),
        ("strings.js", JS_GEN, 2, "javascript", "//"),
    ],
    ids=["python", "javascript"],
)
async def test_gen_writes_code_in_place_of_the_prefix_line(
    editor: Editor,
    llama: LlamaServer,
    fim: str,
    name: str,
    text: str,
    line: int,
    language: str,
    comment: str,
) -> None:
    assert llama.relay is not None
    infills, chats = infill_requests(llama), llama.relay.count("POST", "/v1/chat/completions")
    after = await run_to_end(editor, name, text, line, language)
    check_run(text, after, command="gen", prefix_line=line, comment=comment)
    assert len(editor.applied_edits) >= 2, "the reply did not stream (one edit only)"
    # fim: auto asks /infill first (501 for SmolLM2) and falls back to chat; off never asks.
    assert (infill_requests(llama) > infills) == (fim == "auto")
    assert llama.relay.count("POST", "/v1/chat/completions") == chats + 1


PY_FIX = (
    "import sys\n\n\n# fix: it crashes on an empty list\ndef average(numbers):\n"
    "    return sum(numbers) / len(numbers)\n\n\nprint(average([1, 2]), file=sys.stderr)\n"
)
JS_FIX = (
    "const limit = 3;\n\n// fix: it returns true for odd numbers\nfunction isEven(n) {\n"
    "  return n % 2 === 1;\n}\n\nconsole.log(isEven(limit));\n"
)


@pytest.mark.parametrize(
    ("name", "text", "line", "last", "language", "comment"),
    [
        ("stats.py", PY_FIX, 3, 5, "python", "#"),
        ("even.js", JS_FIX, 2, 5, "javascript", "//"),
    ],
    ids=["python", "javascript"],
)
async def test_fix_replaces_the_block_and_keeps_the_rest(
    editor: Editor,
    name: str,
    text: str,
    line: int,
    last: int,
    language: str,
    comment: str,
) -> None:
    after = await run_to_end(editor, name, text, line, language)
    check_run(text, after, command="fix", prefix_line=line, target_last=last, comment=comment)


PY_SUM = (
    "import collections\n\n    # sum:\n"
    "    def word_counts(text):\n        counts = collections.Counter()\n"
    "        for word in text.lower().split():\n            counts[word] += 1\n"
    "        return counts\n"
)
JS_SUM = (
    "// sum:\nfunction debounce(fn, ms) {\n  let timer;\n  return (...args) => {\n"
    "    clearTimeout(timer);\n    timer = setTimeout(() => fn(...args), ms);\n  };\n}\n"
)


@pytest.mark.parametrize(
    ("name", "text", "line", "language", "comment"),
    [
        ("words.py", PY_SUM, 2, "python", "#"),
        ("debounce.js", JS_SUM, 0, "javascript", "//"),
    ],
    ids=["python", "javascript"],
)
async def test_sum_writes_only_comment_lines_above_the_code(
    editor: Editor, name: str, text: str, line: int, language: str, comment: str
) -> None:
    after = await run_to_end(editor, name, text, line, language)
    check_run(text, after, command="sum", prefix_line=line, comment=comment)


LONG_GEN = (
    "before = 1\n# gen: a Python dictionary named CAPITALS mapping each of the 50 US states "
    "to its capital city, one entry per line\nafter = 2\n"
)


async def test_cancel_mid_stream_stops_the_real_server(editor: Editor, llama: LlamaServer) -> None:
    cancels = llama.log_text().count("cancel task")
    doc = editor.open("capitals.py", LONG_GEN)
    await editor.run_line(doc, 1)
    # Some of the reply has landed, and llama-server is still generating.
    await editor.wait_until(lambda: len(editor.applied_edits) >= 2, timeout=RUN_TIMEOUT)
    assert llama.busy(), "the reply ended before the test could cancel it"
    result = await editor.execute(
        types.Command(title="", command="typilot.cancel", arguments=[{"uri": doc.uri}])
    )
    assert result == {"cancelled": 1}
    cancelled_at = time.monotonic()
    # The real server stops generating: its slot goes idle and its log says the task was cancelled.
    while llama.busy() or llama.log_text().count("cancel task") == cancels:
        assert time.monotonic() - cancelled_at < 10, f"llama-server kept going:\n{llama.log_tail()}"
        await asyncio.sleep(0.05)
    await editor.wait_runs_done(timeout=RUN_TIMEOUT)
    assert editor.progress_ends()[-1].message == "cancelled"
    # What streamed stays, between the untouched lines; the prefix line is gone.
    assert doc.text.startswith("before = 1\n")
    assert doc.text.endswith("\nafter = 2\n")
    assert "# gen:" not in doc.text
    assert doc.text != "before = 1\nafter = 2\n", "nothing of the reply stayed"
