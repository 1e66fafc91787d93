"""The editor side misbehaves or pushes limits: rejected edits, closed and renamed documents,
huge files and lines, awkward characters, a hundred runs at once."""

from __future__ import annotations

import asyncio
from typing import Any

from lsprotocol import types

from tests.e2e.harness import Editor, server_env, start_editor, stop_editor
from tests.faults.fault_util import (
    assert_actionable,
    assert_next_run_works,
    assert_serving,
    wait_message,
)

SLOW = "".join(f"line_{i} = {i}\n" for i in range(300))
PREFIX_TEXT = "before = 1\n# gen: slow please\nafter = 2\n"


async def test_a_client_that_rejects_every_edit(editor: Editor, replay_ollama) -> None:
    replay_ollama.add_rule(match="slow please", reply="x = 1\ny = 2\n", once=True)
    real_apply = editor.apply_edit
    refused: list[Any] = []

    async def reject(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        refused.append(params)
        return types.ApplyWorkspaceEditResult(applied=False, failure_reason="read-only buffer")

    editor.apply_edit = reject  # type: ignore[method-assign]
    doc = editor.open("readonly.py", PREFIX_TEXT)
    await editor.run_line(doc, 1)
    message = await wait_message(editor)
    assert_actionable(message, "rejecting its edits")
    assert "read-only buffer" in message  # the editor's own reason is passed on
    await editor.wait_runs_done()
    assert doc.text == PREFIX_TEXT
    assert 1 < len(refused) <= 30  # retried a bounded number of times, then stopped
    await assert_serving(editor)
    editor.apply_edit = real_apply  # type: ignore[method-assign]
    await assert_next_run_works(editor, replay_ollama.add_rule)


async def _streaming(editor: Editor, replay_ollama, name: str) -> Any:
    replay_ollama.add_rule(match="slow please", reply=SLOW, tokens_per_second=60)
    doc = editor.open(name, PREFIX_TEXT)
    await editor.run_line(doc, 1)
    await editor.wait_until(lambda: "line_2 = 2" in doc.text, timeout=60)
    return doc


async def test_the_document_closed_mid_run(editor: Editor, replay_ollama) -> None:
    doc = await _streaming(editor, replay_ollama, "closing.py")
    edits_at_close = len(editor.applied_edits)
    editor.close(doc)
    await replay_ollama.wait_for_async("disconnect", timeout=30)
    await editor.wait_runs_done()
    # Closing is the user's own act: no message, the stream stops, nothing more is written.
    assert not [m for m in editor.client.messages if m.type == types.MessageType.Error]
    late = [
        e
        for e in editor.applied_edits[edits_at_close:]
        if e.edit.document_changes[0].text_document.uri == doc.uri
    ]
    assert len(late) <= 1  # at most the edit that was already in flight
    await assert_serving(editor)
    await assert_next_run_works(editor, replay_ollama.add_rule)


async def test_closed_and_reopened_under_another_uri_mid_run(editor: Editor, replay_ollama) -> None:
    doc = await _streaming(editor, replay_ollama, "old-name.py")
    snapshot = doc.text
    editor.close(doc)
    renamed = editor.open("new-name.py", snapshot)  # a rename: same text, another URI
    await replay_ollama.wait_for_async("disconnect", timeout=30)
    await editor.wait_runs_done()
    # The run belonged to the old URI: the renamed document is exactly what was opened.
    assert renamed.text == snapshot
    assert not [
        e
        for e in editor.applied_edits
        if e.edit.document_changes[0].text_document.uri == renamed.uri
    ]
    await assert_serving(editor)
    # Its prefix is gone (replaced by the streamed text), so the next run is elsewhere.
    await assert_next_run_works(editor, replay_ollama.add_rule)


async def test_a_50000_line_file(editor: Editor, replay_ollama) -> None:
    filler = "".join(f"value_{i} = {i}\n" for i in range(25_000))
    replay_ollama.add_rule(match="middle please", reply="mid = True\n")
    replay_ollama.add_rule(match="end please", reply="end = True\n")
    text = filler + "# gen: middle please\n" + filler + "# gen: end please"
    doc = editor.open("huge.py", text)
    actions = await editor.code_actions(doc, 0, 50_001)
    assert len(actions) == 2
    await editor.run_line(doc, 25_000)
    await editor.run_line(doc, 50_001)
    await editor.wait_runs_done(2, timeout=120)
    # The last line had no line break, and the generated code adds none.
    assert doc.text == filler + "mid = True\n" + filler + "end = True"
    await assert_serving(editor)


async def test_a_1_mb_single_line(editor: Editor, replay_ollama) -> None:
    huge = "x" * 1_000_000
    # A 1 MB line of code next to a prefix, and a prefix line whose instruction is 1 MB.
    replay_ollama.add_rule(match="short one", reply="short = 1\n")
    doc = editor.open("wide.py", f"blob = '{huge}'\n# gen: short one\n# gen: {huge}\n")
    actions = await editor.code_actions(doc, 0, 2)
    assert len(actions) == 2
    for action in actions:
        assert len(action.title) <= 100, len(action.title)  # a menu entry, not 1 MB
        assert action.command is not None and action.command.title == action.title
    assert actions[1].title.endswith("…")
    await editor.run_line(doc, 1)
    await editor.wait_runs_done(timeout=120)
    assert doc.text == f"blob = '{huge}'\nshort = 1\n# gen: {huge}\n"
    await assert_serving(editor)


async def test_surrogate_pairs_crlf_and_tabs(editor: Editor, replay_ollama) -> None:
    replay_ollama.add_rule(
        match="emoji please", reply='def smile():\n\treturn "😀 𝄞 é"  # ✓\n', tokens_per_second=80
    )
    above = 'a = "😀😀"\t# 𝄞\r\nclass K:\r\n'
    below = '\tdone = "✓"\r\n'
    doc = editor.open("odd.py", above + "\t# gen: emoji please 😀\r\n" + below)
    # The user types surrogate pairs above and below while it streams.
    started = asyncio.Event()

    def typing(_doc: Any, _change: Any) -> None:
        if not started.is_set():
            started.set()
            editor.type_at(doc, 0, "# 👋\r\n")
            editor.type_at(doc, len(doc.text), "z = '𝄞'\r\n")

    editor.before_apply = typing
    await editor.run_line(doc, 2)
    await editor.wait_runs_done(timeout=60)
    editor.before_apply = None
    assert doc.text == (
        "# 👋\r\n"
        + above
        + '\tdef smile():\r\n\t\treturn "😀 𝄞 é"  # ✓\r\n'
        + below
        + "z = '𝄞'\r\n"
    )
    assert "\n" not in doc.text.replace("\r\n", "")  # no bare line feed anywhere
    await assert_serving(editor)


async def test_100_runs_at_once_across_20_documents(replay_ollama, typilot_home) -> None:
    # What is checked is correctness; a loaded machine may take longer than the default 3 s
    # to echo an edit while 100 streams share it. The rules match the chat prompt's task
    # sentence, so fill-in-the-middle is off.
    editor = await start_editor(
        server_env(typilot_home, replay_ollama.url),
        {"streaming": {"echoTimeoutMs": 60_000}, "gen": {"fim": "off"}},
    )
    try:
        await _hundred_runs(editor, replay_ollama)
    finally:
        await stop_editor(editor)


async def _hundred_runs(editor: Editor, replay_ollama) -> None:
    docs = []
    for d in range(20):
        lines = []
        for r in range(5):
            # Only the task sentence of the prompt has "now." (the file around it has "now\n").
            replay_ollama.add_rule(match=f"task d{d} r{r} now.", reply=f"d{d}_r{r} = {d * 5 + r}\n")
            lines += [f"keep_{d}_{r} = 0\n", f"# gen: task d{d} r{r} now\n"]
        docs.append(editor.open(f"many{d}.py", "".join(lines)))
    commands = []
    for doc in docs:
        for r in range(5):
            [action] = await editor.code_actions(doc, 2 * r + 1)
            commands.append(action.command)
    await asyncio.gather(*(editor.execute(c) for c in commands))
    await editor.wait_runs_done(100, timeout=240)
    for d, doc in enumerate(docs):
        assert doc.text == "".join(
            f"keep_{d}_{r} = 0\nd{d}_r{r} = {d * 5 + r}\n" for r in range(5)
        ), doc.text
    assert not [m for m in editor.client.messages if m.type == types.MessageType.Error]
    await assert_serving(editor)
