"""gen:/fix:/sum: end to end: the real server over stdio, the replay Ollama."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types

from tests.e2e.harness import Editor

ADD = "def add(a, b):\n    return a + b\n"


async def run_and_wait(editor: Editor, doc, line: int, runs: int = 1) -> None:
    await editor.run_line(doc, line)
    await editor.wait_runs_done(runs)


# -- prefixes and comment styles ---------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "line", "expected_title"),
    [
        ("python", "# gen: parse a date", "Typilot: gen — parse a date"),
        ("python", "    gen: parse a date", "Typilot: gen — parse a date"),
        ("javascript", "// fix: handle null", "Typilot: fix — handle null"),
        ("typescript", "/* fix: handle null */", "Typilot: fix — handle null"),
        ("lua", "-- sum: explain", "Typilot: sum — explain"),
        ("html", "<!-- gen: a nav bar -->", "Typilot: gen — a nav bar"),
        ("clojure", ";; gen: fib", "Typilot: gen — fib"),
        ("latex", "% sum:", "Typilot: sum"),
        ("css", "/* gen: a red button */", "Typilot: gen — a red button"),
    ],
)
async def test_code_action_for_each_comment_style(
    editor: Editor, language: str, line: str, expected_title: str
) -> None:
    doc = editor.open(f"f.{language}", f"first\n{line}\nlast\n", language_id=language)
    actions = await editor.code_actions(doc, 1)
    assert [a.title for a in actions] == [expected_title]
    assert actions[0].command is not None
    assert actions[0].command.command == "typilot.run"
    assert list(actions[0].command.arguments) == [{"uri": doc.uri, "line": 1}]
    assert await editor.code_actions(doc, 0) == []


async def test_no_action_on_plain_lines_and_selection_offers_prefixed_lines(editor: Editor) -> None:
    doc = editor.open("sel.py", "a = 1\n# gen: one\nb = 2\n# sum: two\n")
    assert await editor.code_actions(doc, 0) == []
    actions = await editor.code_actions(doc, 0, end_line=3)
    assert [a.title for a in actions] == ["Typilot: gen — one", "Typilot: sum — two"]
    assert "range" in actions[0].command.arguments[0]


async def test_prefix_index_follows_edits(editor: Editor) -> None:
    doc = editor.open("idx.py", "x = 1\n")
    editor.type_at(doc, len(doc.text), "# gen: later\n")
    actions = await editor.code_actions(doc, 1)
    assert [a.title for a in actions] == ["Typilot: gen — later"]
    editor.type_at(doc, 0, "\n\n")  # the prefixed line moves down
    assert await editor.code_actions(doc, 1) == []
    assert [a.title for a in await editor.code_actions(doc, 3)] == ["Typilot: gen — later"]


async def test_user_command_from_settings(replay_ollama, typilot_home) -> None:
    from tests.e2e.harness import server_env, start_editor, stop_editor

    settings = {"commands": {"test:": {"prompt": "Write a unit test for {code}", "mode": "insert"}}}
    editor = await start_editor(server_env(typilot_home, replay_ollama.url), settings)
    try:
        replay_ollama.add_rule(match="Write a unit test", reply="def test_x():\n    assert x()\n")
        doc = editor.open("t.py", "# test: cover x\ndef x():\n    return 1\n")
        actions = await editor.code_actions(doc, 0)
        assert [a.title for a in actions] == ["Typilot: test — cover x"]
        await editor.execute(actions[0].command)
        await editor.wait_runs_done()
        assert doc.text.startswith("def test_x():\n    assert x()\ndef x():")
    finally:
        await stop_editor(editor)


# -- the three commands --------------------------------------------------------------------


async def test_gen_replaces_prefix_line_at_its_indentation(editor: Editor, replay_ollama) -> None:
    replay_ollama.add_rule(match="helper", reply="def helper():\n    return 42\n")
    doc = editor.open("n.py", "class A:\n    def m(self):\n        # gen: helper\n        pass\n")
    await run_and_wait(editor, doc, 2)
    assert doc.text == (
        "class A:\n    def m(self):\n        def helper():\n            return 42\n        pass\n"
    )


async def test_fix_replaces_prefix_line_and_block_below(editor: Editor, replay_ollama) -> None:
    replay_ollama.add_rule(match="Code to fix", reply="def add(a, b):\n    return a + b\n")
    text = "import os\n\n# fix:\ndef add(a, b):\n    return a - b\n\nprint(add(1, 2))\n"
    doc = editor.open("fix.py", text)
    await run_and_wait(editor, doc, 2)
    assert doc.text == "import os\n\ndef add(a, b):\n    return a + b\n\nprint(add(1, 2))\n"


async def test_fix_block_spans_blank_lines_inside_it(editor: Editor, replay_ollama) -> None:
    replay_ollama.add_rule(match="Code to fix", reply="def f():\n    y = 2\n\n    return y\n")
    text = "# fix: return two\ndef f():\n    y = 1\n\n    return y\n\nz = 3\n"
    doc = editor.open("fix2.py", text)
    await run_and_wait(editor, doc, 0)
    assert doc.text == "def f():\n    y = 2\n\n    return y\n\nz = 3\n"


async def test_fix_with_selection_replaces_only_the_selection(
    editor: Editor, replay_ollama
) -> None:
    replay_ollama.add_rule(match="Code to fix", reply="b = 20\n")
    doc = editor.open("sel.py", "# fix: twenty\na = 1\nb = 2\nc = 3\n")
    rng = types.Range(
        start=types.Position(line=0, character=0), end=types.Position(line=3, character=0)
    )
    result = await editor.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=doc.uri),
            range=rng,
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    action = next(a for a in result if isinstance(a, types.CodeAction))
    argument = dict(action.command.arguments[0])
    argument["range"] = {"start": {"line": 2, "character": 0}, "end": {"line": 3, "character": 0}}
    await editor.execute(types.Command(title="", command="typilot.run", arguments=[argument]))
    await editor.wait_runs_done()
    assert doc.text == "b = 20\na = 1\nc = 3\n"


async def test_sum_writes_a_comment_and_keeps_the_target(editor: Editor, replay_ollama) -> None:
    replay_ollama.add_rule(
        match="Code to summarize", reply="Adds two numbers.\nReturns their sum.\n"
    )
    text = "    // sum:\n    function add(a, b) {\n      return a + b;\n    }\n"
    doc = editor.open("s.js", text, language_id="javascript")
    await run_and_wait(editor, doc, 0)
    assert doc.text == (
        "    // Adds two numbers.\n    // Returns their sum.\n"
        "    function add(a, b) {\n      return a + b;\n    }\n"
    )


async def test_sum_in_a_block_comment_language(editor: Editor, replay_ollama) -> None:
    replay_ollama.add_rule(match="Code to summarize", reply="A red button.")
    doc = editor.open("b.css", "/* sum: */\n.btn { color: red; }\n", language_id="css")
    await run_and_wait(editor, doc, 0)
    assert doc.text == "/* A red button. */\n.btn { color: red; }\n"


async def test_sum_on_last_line_summarizes_whole_file(editor: Editor, replay_ollama) -> None:
    replay_ollama.add_rule(match="x = 1", reply="Sets x and y.")
    doc = editor.open("w.py", "x = 1\ny = 2\n# sum:")
    await run_and_wait(editor, doc, 2)
    assert doc.text == "x = 1\ny = 2\n# Sets x and y."


# -- output hygiene while streaming ------------------------------------------------------------


async def test_fences_and_think_blocks_split_across_chunks(editor: Editor, replay_ollama) -> None:
    tokens = [
        "<th",
        "ink>plan",
        " it</thi",
        "nk>\n",
        "Here is",
        " the code:\n",
        "``",
        "`py",
        "thon\n",
        "def add(a, b):\n",
        "    return a + b\n",
        "`",
        "``\n",
        "This adds.",
    ]
    replay_ollama.add_rule(match="add", tokens=tokens, tokens_per_second=100)
    doc = editor.open("f.py", "x = 0\n    # gen: add\n")
    await run_and_wait(editor, doc, 1)
    assert doc.text == "x = 0\n    def add(a, b):\n        return a + b\n"


async def test_thinking_model_gets_think_false(editor: Editor, replay_ollama, typilot_home) -> None:
    from tests.e2e.harness import server_env, start_editor, stop_editor

    session = await start_editor(
        server_env(typilot_home, replay_ollama.url), {"ollama": {"model": "qwen3:1.7b"}}
    )
    try:
        replay_ollama.add_rule(match="square", reply="def sq(x):\n    return x * x\n")
        doc = session.open("t.py", "# gen: square\n")
        await run_and_wait(session, doc, 0)
        assert doc.text == "def sq(x):\n    return x * x\n"
        requests = [
            e for e in replay_ollama.events if e["kind"] == "request" and e["path"] == "/api/chat"
        ]
        assert requests[-1]["body"]["think"] is False
    finally:
        await stop_editor(session)


# -- coalescing -------------------------------------------------------------------------------------


async def test_fast_stream_is_coalesced_into_few_edits(editor: Editor, replay_ollama) -> None:
    # 240 lines: about 970 tokens, within the default `gen.maxTokens` (1024)
    body = "".join(f"    total += {i}\n" for i in range(240))
    reply = "def big():\n    total = 0\n" + body + "    return total\n"
    replay_ollama.add_rule(match="big", reply=reply, tokens_per_second=1000)
    doc = editor.open("big.py", "# gen: big\n")
    await run_and_wait(editor, doc, 0)
    assert doc.text == reply
    tokens = replay_ollama.events_of("complete")[-1].get("tokens_sent", 0) or len(reply.split())
    assert len(editor.applied_edits) < tokens / 5


# -- odd text ---------------------------------------------------------------------------------------


async def test_emoji_and_utf16_positions(editor: Editor, replay_ollama) -> None:
    replay_ollama.add_rule(match="greet", reply='def greet():\n    return "👋 héllo 𝄞"\n')
    doc = editor.open("e.py", 's = "😀😀"  # 𝄞\n# gen: greet\nt = "✓"\n')
    await run_and_wait(editor, doc, 1)
    assert doc.text == 's = "😀😀"  # 𝄞\ndef greet():\n    return "👋 héllo 𝄞"\nt = "✓"\n'


async def test_crlf_document_stays_crlf(editor: Editor, replay_ollama) -> None:
    replay_ollama.add_rule(match="two", reply="a = 1\nb = 2\n")
    doc = editor.open("c.py", "x = 0\r\n# gen: two\r\ny = 1\r\n")
    await run_and_wait(editor, doc, 1)
    assert doc.text == "x = 0\r\na = 1\r\nb = 2\r\ny = 1\r\n"


@pytest.mark.parametrize("echo_mode", ["diff", "full"])
async def test_editors_reporting_edits_in_other_shapes(
    editor: Editor, replay_ollama, echo_mode: str
) -> None:
    editor.echo_mode = echo_mode
    replay_ollama.add_rule(match="add", reply=ADD, tokens_per_second=300)
    doc = editor.open("d.py", "    \n# gen: add\n\n")
    await run_and_wait(editor, doc, 1)
    assert doc.text == "    \n" + ADD + "\n"


async def test_huge_file(editor: Editor, replay_ollama) -> None:
    filler = "".join(f"value_{i} = {i}\n" for i in range(50_000))
    replay_ollama.add_rule(match="end", reply="done = True\n")
    doc = editor.open("huge.py", filler + "# gen: end\n" + filler)
    await run_and_wait(editor, doc, 50_000)
    assert doc.text == filler + "done = True\n" + filler
    body = replay_ollama.events_of("request")[-1]["body"]
    # gen: by fill-in-the-middle: the code before and after, within the same budget
    assert body["prompt"].endswith("# gen: end\n") and body["suffix"].startswith("value_0 = 0\n")
    assert len(body["prompt"]) + len(body["suffix"]) < 12_000  # the budget, not the whole file


# -- several runs at once ---------------------------------------------------------------------------


async def test_concurrent_runs_in_one_file_and_across_files(editor: Editor, replay_ollama) -> None:
    replay_ollama.add_rule(gap="gen: alpha", reply="a = 1\na2 = 11\n", tokens_per_second=50)
    replay_ollama.add_rule(gap="gen: beta", reply="b = 2\nb2 = 22\n", tokens_per_second=70)
    replay_ollama.add_rule(gap="gen: gamma", reply="c = 3\n", tokens_per_second=60)
    one = editor.open("one.py", "# gen: alpha\nmid = 0\n# gen: beta\n")
    two = editor.open("two.py", "# gen: gamma\n")
    await editor.run_line(one, 0)
    await editor.run_line(one, 2)
    await editor.run_line(two, 0)
    await editor.wait_runs_done(3)
    assert one.text == "a = 1\na2 = 11\nmid = 0\nb = 2\nb2 = 22\n"
    assert two.text == "c = 3\n"


async def test_run_on_line_without_prefix_is_refused(editor: Editor) -> None:
    doc = editor.open("p.py", "x = 1\n")
    with pytest.raises(Exception, match="no prefix"):
        await editor.execute(
            types.Command(title="", command="typilot.run", arguments=[{"uri": doc.uri, "line": 0}])
        )
    assert doc.text == "x = 1\n"
    await asyncio.sleep(0)


async def test_fix_on_last_line_replaces_the_code_above(editor: Editor, replay_ollama) -> None:
    # On the last line, the target is the whole file above it.
    fixed = "import os\n\ndef f():\n    return 2\n"
    replay_ollama.add_rule(match="Code to fix", reply=fixed)
    doc = editor.open("last.py", "import os\n\ndef f():\n    return 1\n\n# fix: return two")
    await run_and_wait(editor, doc, 5)
    assert doc.text == fixed.rstrip("\n")
