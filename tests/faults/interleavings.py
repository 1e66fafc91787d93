"""User edits x stream chunks x cancels x late echoes, on the real streaming engine.

The engine (`DocumentEditor`, `StreamWriter`, `TrackedRegion` on a `TypilotDocument`) runs as in
the server; the client is a model of an editor: its own copy of the text, versioned
`applyEdit` (a stale version is rejected, as VS Code does), every change (the user's and the
applied edits) reported back in order as `didChange`, each report after its own delay (late
echoes), and `applyEdit` requests that take a while to arrive, so the user types in between.

One scenario is a list of steps drawn by Hypothesis; `check` runs it and asserts:

* every user keystroke survives: the text above and below the run is exactly what the user
  typed there, in order;
* the generated text is contiguous: between them is exactly the text the run wrote (all it
  was fed, unless it stopped), in one piece, in place of the prefix line;
* server and client agree on the text, once the last report arrived.

Used by tests/faults/test_interleavings.py (a quick profile in the test suite) and
bench/bench_interleavings.py (10,000 examples).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from lsprotocol import types

from tests.e2e.harness import offset_of, position_of
from typilot_lsp.documents import TypilotDocument
from typilot_lsp.prefixes import PrefixMatcher
from typilot_lsp.runs.engine import DocumentEditor, StreamWriter

HEAD, PREFIX, TAIL = "top = 1\n", "# gen: interleave", "\nbottom = 2\n"
TEXT = HEAD + PREFIX + TAIL
URI = "file:///interleave.py"

# Text with line breaks, CRLF, tabs, non-ASCII and surrogate pairs (two UTF-16 units).
_ALPHABET = st.sampled_from(["a", "b", " ", "\t", "\n", "\r\n", "é", "😀", "𝄞", "=", "(", ")"])
pieces = st.lists(_ALPHABET, min_size=1, max_size=6).map("".join)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("chunk"), pieces),
        st.tuples(st.just("above"), st.floats(0, 1), pieces),
        st.tuples(st.just("below"), st.floats(0, 1), pieces),
        st.tuples(st.just("delete_above"), st.floats(0, 1)),
        st.tuples(st.just("yield"), st.integers(0, 6)),
        st.tuples(st.just("cancel")),
    ),
    max_size=40,
)
lags = st.lists(st.integers(0, 8), min_size=1, max_size=8)


@dataclass
class Client:
    """The editor's side: its text, its version, and the reports on their way to the server."""

    doc: TypilotDocument
    text: str = TEXT
    version: int = 1
    echo_lags: list[int] = field(default_factory=lambda: [0])
    send_lags: list[int] = field(default_factory=lambda: [0])
    queue: asyncio.Queue[tuple[int, types.Range, str]] = field(default_factory=asyncio.Queue)
    rejected: int = 0
    _n: int = 0

    def lag(self, lags: list[int]) -> int:
        self._n += 1
        return lags[self._n % len(lags)]

    def change(self, start: int, end: int, new_text: str) -> None:
        rng = types.Range(start=position_of(self.text, start), end=position_of(self.text, end))
        self.text = self.text[:start] + new_text + self.text[end:]
        self.version += 1
        self.queue.put_nowait((self.version, rng, new_text))

    async def pump(self) -> None:
        """didChange, in order, each after its lag (in event-loop turns)."""
        while True:
            version, rng, new_text = await self.queue.get()
            for _ in range(self.lag(self.echo_lags)):
                await asyncio.sleep(0)
            self.doc.apply_edit(
                (rng.start.line, rng.start.character),
                (rng.end.line, rng.end.character),
                new_text,
                "utf-16",
            )
            self.doc.finish_changes(version)
            self.queue.task_done()

    async def apply_edit(
        self, params: types.ApplyWorkspaceEditParams
    ) -> types.ApplyWorkspaceEditResult:
        for _ in range(self.lag(self.send_lags)):  # the request is on its way
            await asyncio.sleep(0)
        [change] = params.edit.document_changes or []
        assert isinstance(change, types.TextDocumentEdit)
        if change.text_document.version != self.version:
            self.rejected += 1
            return types.ApplyWorkspaceEditResult(applied=False, failure_reason="stale")
        [edit] = change.edits
        assert isinstance(edit, types.TextEdit)
        start = offset_of(self.text, edit.range.start.line, edit.range.start.character)
        end = offset_of(self.text, edit.range.end.line, edit.range.end.character)
        self.change(start, end, edit.new_text)
        return types.ApplyWorkspaceEditResult(applied=True)


@dataclass
class Outcome:
    text: str
    server_text: str
    head: str
    tail: str
    fed: str
    written: str
    error: BaseException | None
    rejected: int


async def run_scenario(
    scenario: list[tuple[Any, ...]], echo_lags: list[int], send_lags: list[int]
) -> Outcome:
    matcher = PrefixMatcher.build("python", {"gen": "gen:", "fix": "fix:", "sum:": "sum:"})
    doc = TypilotDocument(URI, TEXT, 1, "python", matcher)
    client = Client(doc, echo_lags=echo_lags, send_lags=send_lags)
    pump = asyncio.get_running_loop().create_task(client.pump())
    editor = DocumentEditor(doc, client.apply_edit, "utf-16")
    region = editor.track((1, 0), doc.line_text(1))
    writer = StreamWriter(editor, region, label="t", interval=0.0, echo_timeout=10.0)
    head, tail = HEAD, TAIL  # what the user made above and below the run (their model)
    fed = ""
    try:
        for step in scenario:
            kind = step[0]
            if kind == "chunk":
                writer.feed(step[1])
                fed += step[1]
            elif kind == "above":
                at = int(step[1] * (len(head) - 1))  # before the line break above the run
                if head[at - 1 : at + 1] == "\r\n":
                    at -= 1  # no LSP position lies between \r and \n
                client.change(at, at, step[2])
                head = head[:at] + step[2] + head[at:]
            elif kind == "below":
                # After the line break that ends the run's line (offsets from the end).
                keep = int(step[1] * (len(tail) - 1))
                if keep and tail[len(tail) - keep - 1 : len(tail) - keep + 1] == "\r\n":
                    keep -= 1  # no LSP position lies between \r and \n
                at = len(client.text) - keep
                client.change(at, at, step[2])
                cut = len(tail) - keep
                tail = tail[:cut] + step[2] + tail[cut:]
            elif kind == "delete_above" and len(head) > 1:
                at = int(step[1] * (len(head) - 2))
                if "\r" not in head[max(0, at - 1) : at + 2]:
                    client.change(at, at + 1, "")
                    head = head[:at] + head[at + 1 :]
            elif kind == "yield":
                for _ in range(step[1]):
                    await asyncio.sleep(0)
            elif kind == "cancel":
                break
        await asyncio.wait_for(writer.close(), 60)
        await asyncio.wait_for(client.queue.join(), 60)
    finally:
        pump.cancel()
    return Outcome(
        text=client.text,
        server_text=doc.text,
        head=head,
        tail=tail,
        fed=fed,
        written=writer.written,
        error=writer.error,
        rejected=client.rejected,
    )


def check(outcome: Outcome) -> None:
    assert outcome.server_text == outcome.text, "server and client disagree"
    middle = outcome.written if outcome.written else PREFIX
    assert outcome.text == outcome.head + middle + outcome.tail, (
        outcome.text,
        outcome.head,
        middle,
        outcome.tail,
    )
    if outcome.error is None:
        assert outcome.written == outcome.fed
    else:
        # Stopped (the editor kept rejecting): what it wrote is a prefix of what it was fed.
        assert outcome.fed.startswith(outcome.written)
