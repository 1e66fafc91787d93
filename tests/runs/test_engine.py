"""The streaming engine in process: DocumentEditor and StreamWriter against a fake client.

`FakeClient` plays the editor's side of `workspace/applyEdit`: it refuses an edit made for an
older version (the user typed first), applies the others to the document, and echoes each
change back (like `didChange`, version + 1). A test can make it type first, or not echo.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from lsprotocol import types

from typilot_lsp.documents import TypilotDocument
from typilot_lsp.prefixes import PrefixMatcher
from typilot_lsp.runs.engine import (
    DocumentEditor,
    EditorRefused,
    RegionEdited,
    StreamWriter,
    map_position,
)

URI = "file:///work/engine.py"
ENCODING = "utf-16"


def user_types(
    doc: TypilotDocument, start: tuple[int, int], end: tuple[int, int], text: str
) -> None:
    """A keystroke reported by the editor: one incremental didChange."""
    doc.apply_edit(start, end, text, ENCODING)
    doc.finish_changes(doc.version + 1)


class FakeClient:
    def __init__(self, doc: TypilotDocument) -> None:
        self.doc = doc
        self.sent: list[types.ApplyWorkspaceEditParams] = []
        self.rejected = 0
        self.before_apply: Callable[[], None] | None = None
        """Runs once before the next edit is applied (the user types first)."""
        self.echo = True

    async def send(self, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        self.sent.append(params)
        if self.before_apply is not None:
            typed, self.before_apply = self.before_apply, None
            typed()
        change = (params.edit.document_changes or [])[0]
        assert isinstance(change, types.TextDocumentEdit)
        if change.text_document.version != self.doc.version:
            self.rejected += 1
            return types.ApplyWorkspaceEditResult(applied=False, failure_reason="stale version")
        if not self.echo:
            return types.ApplyWorkspaceEditResult(applied=True)
        for edit in change.edits:
            assert isinstance(edit, types.TextEdit)
            rng = edit.range
            self.doc.apply_edit(
                (rng.start.line, rng.start.character),
                (rng.end.line, rng.end.character),
                edit.new_text,
                ENCODING,
            )
        # The echo arrives a moment later, as from a real editor.
        asyncio.get_running_loop().call_soon(self.doc.finish_changes, self.doc.version + 1)
        return types.ApplyWorkspaceEditResult(applied=True)


def setup(text: str) -> tuple[TypilotDocument, FakeClient, DocumentEditor]:
    doc = TypilotDocument(URI, text, 1, "python", PrefixMatcher.build("python", {"gen:": "gen"}))
    client = FakeClient(doc)
    return doc, client, DocumentEditor(doc, client.send, ENCODING)


def writer_for(editor: DocumentEditor, line: int, **kw: float) -> StreamWriter:
    region = editor.track((line, 0), editor.doc.line_text(line))
    return StreamWriter(
        editor,
        region,
        label="typilot:test",
        interval=kw.get("interval", 0.01),
        echo_timeout=kw.get("echo_timeout", 5.0),
    )


async def test_the_first_text_replaces_the_prefix_line_and_the_rest_follows() -> None:
    doc, client, editor = setup("a = 1\n# gen: two lines\nz = 9\n")
    writer = writer_for(editor, 1)
    writer.feed("b = 2\n")
    writer.feed("c = 3")
    await writer.close()
    assert doc.text == "a = 1\nb = 2\nc = 3\nz = 9\n"
    assert writer.written == "b = 2\nc = 3" and writer.error is None
    assert all(p.label == "typilot:test" for p in client.sent)
    assert editor.regions == []


async def test_a_slow_model_is_gathered_into_few_edits_and_a_pause_shows_what_came() -> None:
    """Tokens 30 ms apart with a 20 ms window: the window closes early only after a silence of
    twice the model's token gap, so tokens share edits; a longer pause shows what came."""
    doc, client, editor = setup("# gen: slow\n")
    region = editor.track((0, 0), doc.line_text(0))
    writer = StreamWriter(
        editor, region, label="t", interval=0.02, max_interval=0.2, echo_timeout=5.0
    )
    tokens = [f"x{n} = {n}\n" for n in range(24)]
    for token in tokens:
        writer.feed(token)
        await asyncio.sleep(0.03)
    edits_while_streaming = len(client.sent)
    deadline = asyncio.get_running_loop().time() + 5
    while writer.written != "".join(tokens):  # the silence after the last token flushes it
        assert asyncio.get_running_loop().time() < deadline, "the paused text never landed"
        await asyncio.sleep(0.01)
    await writer.close()
    assert doc.text == "".join(tokens) + "\n"  # the prefix line's own line break stays
    # Few edits: the windows (20, 40, 80, 160, 200 ms...) gather about 7; a loaded machine's late
    # wake-ups add a few. One edit per token (24) is what a window closing after its own 10 ms of
    # quiet, blind to the model's pace, would make: well over half.
    assert edits_while_streaming <= len(tokens) // 2, (edits_while_streaming, len(tokens))


async def test_a_steady_stream_wakes_the_writer_once_per_window_not_per_token() -> None:
    """Tokens every 5 ms into 50-200 ms windows: each token moves the writer's one timer, so the
    writer sleeps on a deadline about once per edit (it used to wake every quiet period, twice
    the token gap, and find the window still open: 8 times an edit here)."""
    doc, _client, editor = setup("# gen: steady\n")
    region = editor.track((0, 0), doc.line_text(0))
    writer = StreamWriter(
        editor, region, label="t", interval=0.05, max_interval=0.2, echo_timeout=5.0
    )
    timed_sleeps = 0
    sleep = writer._sleep

    async def counting_sleep(until: float | None) -> None:
        nonlocal timed_sleeps
        timed_sleeps += until is not None
        await sleep(until)

    writer._sleep = counting_sleep  # type: ignore[method-assign]
    tokens = [f"x{n}\n" for n in range(120)]
    for token in tokens:
        writer.feed(token)
        await asyncio.sleep(0.005)
    await writer.close()
    assert doc.text == "".join(tokens) + "\n"
    # A late token under load closes a window early: that is an edit too, so this holds then.
    assert timed_sleeps <= writer.edits + 2, (timed_sleeps, writer.edits)


async def test_typing_above_a_run_moves_it_and_a_stale_edit_is_retried() -> None:
    doc, client, editor = setup("a = 1\n# gen: x\nz = 9\n")
    writer = writer_for(editor, 1)
    # The user adds a line at the top just before the editor gets the first edit.
    client.before_apply = lambda: user_types(doc, (0, 0), (0, 0), "import os\n")
    writer.feed("x = 1")
    await writer.close()
    assert client.rejected == 1
    assert doc.text == "import os\na = 1\nx = 1\nz = 9\n"


async def test_an_edit_inside_the_written_text_stops_the_writer() -> None:
    doc, _client, editor = setup("# gen: x\nend\n")
    writer = writer_for(editor, 0)
    writer.feed("first = 1\n")
    for _ in range(500):
        if "first = 1" in doc.text:
            break
        await asyncio.sleep(0.01)
    user_types(doc, (0, 0), (0, 5), "FIRST")  # edits the run's own text
    writer.feed("second = 2")
    await writer.close()
    assert isinstance(writer.error, RegionEdited)
    assert doc.text == "FIRST = 1\n\nend\n"  # what was written stays, nothing more is added


async def test_an_editor_that_never_echoes_is_a_clear_error() -> None:
    _doc, client, editor = setup("# gen: x\n")
    client.echo = False
    writer = writer_for(editor, 0, echo_timeout=0.2)
    writer.feed("y = 1\n")
    await writer.close()
    assert isinstance(writer.error, EditorRefused)
    assert "didChange" in str(writer.error)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_lsp_ranges_are_in_the_client_encoding(encoding: str) -> None:
    doc = TypilotDocument(URI, "é😀x\n", 1, "python", PrefixMatcher.build("python", {}))
    editor = DocumentEditor(doc, FakeClient(doc).send, encoding)
    rng = editor.lsp_range((0, 2), (0, 3))
    width = {"utf-8": 6, "utf-16": 3, "utf-32": 2}[encoding]
    assert rng.start.character == width


def test_map_position_cases() -> None:
    p = (3, 4)
    assert map_position(p, 0, 0, 0, 0, "x\n") == [(4, 4)]  # a line inserted above
    assert map_position(p, 3, 0, 3, 0, "ab") == [(3, 6)]  # typed earlier on the line
    assert map_position(p, 3, 4, 3, 4, "z") == [(3, 4), (3, 5)]  # exactly at: both candidates
    assert map_position(p, 5, 0, 6, 0, "") == [(3, 4)]  # below: unchanged
    assert map_position(p, 1, 0, 3, 2, "q") == [(1, 3)]  # joined lines above
