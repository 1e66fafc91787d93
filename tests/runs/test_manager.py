"""RunManager in process: its phases, outcomes and cancel reasons, with an Ollama behind
httpx.MockTransport and a fake editor (apply's HeadlessHost)."""

from __future__ import annotations

import asyncio

import pytest

from tests.runs.fakes import MODEL, URI, FakeOllama, make_host
from typilot_lsp.prefixes import BUILTIN_COMMANDS, Mode
from typilot_lsp.runs.manager import RunContext, RunManager
from typilot_lsp.runs.model import CancelReason, Outcome, RunRefused, RunResult
from typilot_lsp.runs.output.reasons import Finished
from typilot_lsp.runs.request import mode_for

SOURCE = "import math\n\n# gen: area of a circle\n\nprint('end')\n"
REPLY = ["def area(r):\n", "    return math.pi * r * r\n"]


async def test_a_gen_run_replaces_its_line_with_code_and_returns_done() -> None:
    ollama = FakeOllama(REPLY)
    host = make_host(ollama)
    doc = host.open(URI, "python", SOURCE)
    runs = RunManager(host)
    try:
        run = await runs.start(URI, 2)
        result = await run.result()
    finally:
        await host.aclose()
    assert result.outcome is Outcome.DONE and result.error is None
    assert doc.text == "import math\n\ndef area(r):\n    return math.pi * r * r\n\nprint('end')\n"
    assert run.mode is Mode.INSERT
    assert host.progresses[0].events[0] == ("begin", "gen")
    assert host.progresses[0].events[-1] == ("end", Outcome.DONE)
    # The prompt names the instruction; the record keeps the outcome's value.
    user, prefill = ollama.chats[0]["messages"][-2:]
    assert "area of a circle" in user["content"]
    assert prefill == {"role": "assistant", "content": "```python\n"}  # starts in code
    assert [r.outcome for r in host.records] == ["done"]
    assert runs.active == {}


async def test_a_cancelled_run_keeps_what_was_written() -> None:
    ollama = FakeOllama(["def area(r):\n", "    return 0\n"], hold="after-first")
    host = make_host(ollama)
    doc = host.open(URI, "python", SOURCE)
    runs = RunManager(host)
    try:
        run = await runs.start(URI, 2)
        await asyncio.wait_for(ollama.first_sent.wait(), 30)
        # Wait until the first line is in the buffer, then cancel as the progress UI does.
        for _ in range(3000):
            if "def area(r):" in doc.text:
                break
            await asyncio.sleep(0.01)
        assert runs.cancel_token(run.progress_token)
        result = await asyncio.wait_for(run.result(), 30)
    finally:
        await host.aclose()
    assert result.outcome is Outcome.CANCELLED
    assert run.cancel_reason is CancelReason.USER
    assert "def area(r):" in doc.text and "return 0" not in doc.text
    assert ollama.closed.is_set()  # the connection was closed: that is how the model stops


async def test_a_new_run_on_the_same_line_replaces_the_old_one() -> None:
    ollama = FakeOllama(["x = 1\n", "y = 2\n"], hold="before-first")
    host = make_host(ollama)
    host.open(URI, "python", SOURCE)
    runs = RunManager(host)
    try:
        first = await runs.start(URI, 2)
        await asyncio.wait_for(ollama.first_sent.wait(), 30)
        ollama.hold = None  # the second run streams at once
        second = await runs.start(URI, 2)
        first_result = await first.result()
        second_result = await asyncio.wait_for(second.result(), 30)
    finally:
        await host.aclose()
    assert first.cancel_reason is CancelReason.REPLACED
    assert first_result.outcome is Outcome.CANCELLED
    assert second_result.outcome is Outcome.DONE


async def run_once(
    chunks: list[str], text: str, line: int, uri: str = URI, language: str = "python"
) -> tuple[RunResult, str, list[str]]:
    """One run on `line` of a document holding `text`, the model replying `chunks`: its
    result, the document's text after it, and the messages the user was shown."""
    host = make_host(FakeOllama(chunks))
    doc = host.open(uri, language, text)
    runs = RunManager(host)
    try:
        result = await (await runs.start(uri, line)).result()
    finally:
        await host.aclose()
    return result, doc.text, host.messages


async def test_an_empty_reply_is_an_error_and_the_line_stays() -> None:
    result, text, messages = await run_once(["```python\n", "```\n"], SOURCE, 2)
    assert result.outcome is Outcome.ERROR
    assert result.error is not None and "returned no code" in result.error
    assert text == SOURCE
    assert any("returned no code" in m for m in messages)


FIX_SOURCE = "# fix: off by one\ndef last(items):\n    return items[len(items)]\n\nprint(1)\n"
PROSE = ["The task is to find the bug and fix it.\n", "\n", "The task is to find the bug.\n"]


async def test_a_fix_answered_in_sentences_keeps_the_code_and_says_why() -> None:
    """SmolLM2 on HumanEval: a `fix:` reply of nothing but sentences replaced the function."""
    result, text, messages = await run_once(PROSE, FIX_SOURCE, 0)
    assert result.outcome is Outcome.ERROR
    assert result.error is not None and "replied in sentences, not code" in result.error
    assert text == FIX_SOURCE
    assert any("Rephrase" in m for m in messages)


async def test_a_fix_lands_the_target_once_and_not_the_variants_after_it() -> None:
    fixed = ["def last(items):\n", "    return items[len(items) - 1]\n", "\n", "\n"]
    variants = ["def last_fixed(items):\n", "    return items[-1]\n", "\n", "\n"]
    again = ["def last(items: list):\n", "    return items[-1]\n"]
    result, text, _ = await run_once(fixed + variants + again, FIX_SOURCE, 0)
    assert result.outcome is Outcome.DONE
    assert text == "def last(items):\n    return items[len(items) - 1]\n\nprint(1)\n"


async def test_in_a_markdown_file_sentences_are_the_answer() -> None:
    notes = "# Notes\n\n<!-- gen: a task -->\n"
    result, text, _ = await run_once(PROSE, notes, 2, "file:///tmp/notes.md", "markdown")
    assert result.outcome is Outcome.DONE
    assert "The task is to find the bug and fix it." in text


async def test_a_missing_model_fails_in_the_prepare_phase() -> None:
    ollama = FakeOllama(REPLY, show_status=404)
    host = make_host(ollama)
    doc = host.open(URI, "python", SOURCE)
    runs = RunManager(host)
    try:
        result = await (await runs.start(URI, 2)).result()
    finally:
        await host.aclose()
    assert result.outcome is Outcome.ERROR and MODEL in (result.error or "")
    assert ollama.chats == []  # nothing was sent
    assert doc.text == SOURCE


async def test_prepare_alone_builds_the_request_for_a_fix() -> None:
    ollama = FakeOllama(REPLY)
    host = make_host(ollama)
    source = "# fix: handle zero\ndef inv(x):\n    return 1 / x\n"
    doc = host.open(URI, "python", source)
    runs = RunManager(host)
    match = doc.prefixed[0]
    try:
        run = await runs.start(URI, 0)
        await run.result()
        ctx = RunContext(run, doc, match, runs.plan(run, doc, None), host.progress_for(run))
        prepared = await runs.prepare(ctx)
    finally:
        await host.aclose()
    assert run.mode is Mode.REPLACE
    assert prepared.request.model == MODEL
    assert "handle zero" in prepared.request.prompt
    assert prepared.request.prefill == "```python\n" and prepared.request.stop == ("```",)
    result = prepared.result(host.backend.host)
    assert result.prompt == prepared.request.prompt and result.model == MODEL
    assert result.host.startswith("http://127.0.0.1")


async def test_start_refuses_a_line_without_prefix_and_a_closed_document() -> None:
    host = make_host(FakeOllama(REPLY))
    host.open(URI, "python", SOURCE)
    runs = RunManager(host)
    try:
        with pytest.raises(RunRefused, match=r"line 1 of example\.py has no prefix"):
            await runs.start(URI, 0)
        with pytest.raises(RunRefused, match="not open"):
            await runs.start("file:///work/other.py", 0)
    finally:
        await host.aclose()


def test_modes_come_from_the_one_table() -> None:
    """Each built-in prefix line of a document runs in its table mode (gen inserts, fix
    replaces its target, sum writes a comment); a user command in the mode its settings name."""
    host = make_host(FakeOllama(REPLY), commands={"test:": {"prompt": "tests", "mode": "replace"}})
    doc = host.open(URI, "python", "# gen: a\n# fix: b\n# sum:\n# test: cover it\n")
    modes = {m.command: mode_for(m, host.config.commands) for m in doc.prefixed.values()}
    builtin = {"gen": Mode.INSERT, "fix": Mode.REPLACE, "sum": Mode.COMMENT}
    assert modes == {**builtin, "test:": Mode.REPLACE}, modes
    assert {c: modes[c] for c in BUILTIN_COMMANDS} == builtin  # the table has these, no more


SHOP = (
    "import json\n\n\ndef load(path):\n    return json.load(open(path))\n\n\n"
    "# gen: frame(items) as a DataFrame\n\n\ndef total(items):\n    return sum(items)\n"
)


async def test_a_used_import_lands_with_the_file_imports_not_mid_file() -> None:
    reply = ["```python\n", "import pandas as pd\n", "import re\n", "\n"]
    reply += ["def frame(items):\n", "    return pd.DataFrame(items)\n", "```\n"]
    result, text, _ = await run_once(reply, SHOP, 7)
    assert result.outcome is Outcome.DONE
    lines = text.splitlines()
    assert lines[:2] == ["import json", "import pandas as pd"]
    assert "import re" not in text  # nothing landed uses it
    assert "def frame(items):" in lines and text.count("import") == 2


async def test_a_reply_that_only_repeats_a_function_says_so_and_keeps_the_line() -> None:
    reply = ["```python\n", "def total(items):\n", "    return sum(items)\n", "```\n"]
    result, text, messages = await run_once(reply, SHOP, 7)
    assert result.outcome is Outcome.ERROR and text == SHOP
    assert result.error is not None and "only repeated `total`" in result.error
    assert not any("returned no code" in m for m in messages)


async def test_a_reply_in_a_loop_is_stopped_once_nothing_more_can_land() -> None:
    """SmolLM2 repeats a function until its token bound (gen-py-repeat): the run closes the
    stream at the second dropped copy, and what landed is the first."""
    block = ["def total(items):\n", "    return sum(items)\n", "\n"]
    ollama = FakeOllama(block * 40)
    host = make_host(ollama)
    doc = host.open(URI, "python", "import math\n\n# gen: total(items)\n")
    runs = RunManager(host)
    try:
        run = await runs.start(URI, 2)
        result = await run.result()
    finally:
        await host.aclose()
    assert result.outcome is Outcome.DONE
    assert doc.text == "import math\n\ndef total(items):\n    return sum(items)\n"
    assert run.finished_early is Finished.LOOPING
    assert ollama.sent < 4 * len(block)  # not 40 copies: the model was stopped at the third
