from __future__ import annotations

from tests.e2e.harness import Editor


async def test_gen_streams_code_in_place_of_prefix_line(editor: Editor, replay_ollama) -> None:
    reply = "def add(a, b):\n    return a + b\n"
    replay_ollama.add_rule(match="add two numbers", reply=reply, tokens_per_second=200)
    doc = editor.open("calc.py", "import math\n# gen: add two numbers\nprint(1)\n")
    actions = await editor.code_actions(doc, 1)
    assert [a.title for a in actions] == ["Typilot: gen — add two numbers"]
    result = await editor.execute(actions[0].command)
    assert "runId" in result
    await editor.wait_runs_done()
    assert doc.text == "import math\ndef add(a, b):\n    return a + b\nprint(1)\n"
    assert len(editor.applied_edits) >= 2
