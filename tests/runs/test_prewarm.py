"""The prewarmer (typilot_lsp.runs.prewarm): a run's prompt sent ahead of it, and only then."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.runs.fakes import MODEL, URI, FakeOllama, make_host
from typilot_lsp.backends.base import GenerationRequest, ModelInfo
from typilot_lsp.documents import TypilotDocument
from typilot_lsp.errors import TypilotError
from typilot_lsp.runs.prewarm import Prewarmer
from typilot_lsp.runs.request import compose, prompt_input

SOURCE = "import math\n\n\nprint('end')\n"


class WarmBackend:
    """A backend that records what it was asked to warm (and can hold or refuse it)."""

    def __init__(self, host: str = "http://127.0.0.1:11434", fail: bool = False) -> None:
        self.host = host
        self.fail = fail
        self.warmed: list[GenerationRequest] = []
        self.gate: asyncio.Event | None = None
        self.cancelled = 0
        self.sent = asyncio.Event()

    async def prepare(self, model: str, notify: Any = None) -> ModelInfo:
        return ModelInfo(name=model, capabilities=("completion",), context_length=None,
                         remote_host=None)  # fmt: skip

    def stream(self, request: GenerationRequest, stats: Any = None, notify: Any = None) -> Any:
        raise AssertionError("a prewarm never streams")

    async def warm(self, request: GenerationRequest) -> int | None:
        self.warmed.append(request)
        self.sent.set()
        if self.fail:
            raise TypilotError("the server answered 500")
        if self.gate is not None:
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        return 42

    async def aclose(self) -> None:
        pass


class Host:
    """The prewarmer's host: settings, documents, a backend, whether a run streams."""

    def __init__(self, backend: WarmBackend, **settings: Any) -> None:
        self.inner = make_host(FakeOllama([]), prewarm={"delayMs": 20, **settings})
        self.backend = backend
        self.streaming = False
        self.tasks: list[asyncio.Task[Any]] = []

    @property
    def config(self) -> Any:
        return self.inner.config

    def document(self, uri: str) -> TypilotDocument | None:
        return self.inner.document(uri)

    async def other_files(self, *args: Any) -> str:
        return await self.inner.other_files(*args)

    def runs_streaming(self) -> bool:
        return self.streaming

    def run_task(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.tasks.append(task)
        return task

    async def settle(self) -> None:
        """Wait until every warm request started so far has ended (and any it chained)."""
        while any(not t.done() for t in self.tasks):
            await asyncio.gather(*self.tasks, return_exceptions=True)


def type_line(doc: TypilotDocument, line: int, text: str, warmer: Prewarmer) -> None:
    """Type `text` on the empty `line`, one character per change (as an editor sends them)."""
    for col, char in enumerate(text):
        doc.apply_edit((line, col), (line, col), char, "utf-16")
        warmer.document_changed(doc)


def opened(host: Host, text: str = SOURCE) -> tuple[TypilotDocument, Prewarmer]:
    """The document open in the editor, and the prewarmer that follows it."""
    doc = host.inner.open(URI, "python", text)
    warmer = Prewarmer(host)
    warmer.document_opened(doc)
    return doc, warmer


def typed_and_asked(host: Host) -> tuple[TypilotDocument, Prewarmer]:
    """`# gen: area` typed on line 2, then the code actions asked for on it."""
    doc, warmer = opened(host)
    type_line(doc, 2, "# gen: area", warmer)
    warmer.actions_asked(URI, 2)
    return doc, warmer


async def drain(host: Host) -> None:
    """Let a warm request asked for now (a zero delay: the loop's next turn) start and end."""
    await asyncio.sleep(0)
    await host.settle()


async def wait_for_warm(backend: WarmBackend, count: int) -> None:
    async def until() -> None:
        while len(backend.warmed) < count:
            backend.sent.clear()
            await backend.sent.wait()

    await asyncio.wait_for(until(), 10)


async def test_a_typed_prefix_line_is_warmed_once_with_the_runs_own_prompt() -> None:
    backend = WarmBackend()
    host = Host(backend)
    doc, warmer = opened(host)
    type_line(doc, 2, "# gen: area of a circle", warmer)
    await wait_for_warm(backend, 1)
    await host.settle()
    assert warmer.idle  # nothing else waits to be sent
    assert len(backend.warmed) == 1  # the keystrokes were one quiet moment: one request
    request = backend.warmed[0]
    # what the run will send, composed from the same line: same prompt, same prefill
    info = await backend.prepare(MODEL)
    inp = prompt_input(host.config, uri=URI, language_id="python", lines=list(doc.lines),
                       line=2, match=doc.prefixed[2], target=None, target_text="")  # fmt: skip
    assert request == compose(host.config, info, inp).request
    assert "area of a circle" in request.prompt
    assert warmer.warmed == 1


async def test_asking_for_the_actions_warms_at_once_and_the_same_prompt_is_not_sent_twice() -> None:
    backend = WarmBackend()
    host = Host(backend, delayMs=60_000)  # typing alone would wait a minute
    _doc, warmer = typed_and_asked(host)
    await wait_for_warm(backend, 1)
    await host.settle()
    warmer.actions_asked(URI, 2)  # the menu asked again: nothing changed
    await drain(host)
    assert warmer.idle  # nothing else waits to be sent
    assert len(backend.warmed) == 1


async def test_opening_a_file_with_a_prefix_line_sends_nothing() -> None:
    backend = WarmBackend()
    host = Host(backend)
    doc, warmer = opened(host, "# gen: a thing\n")
    warmer.document_changed(doc)  # no prefixed line changed
    assert warmer.idle and backend.warmed == []


async def test_a_run_elsewhere_cancels_the_warm_request_in_flight() -> None:
    backend = WarmBackend()
    backend.gate = asyncio.Event()
    host = Host(backend)
    _doc, warmer = typed_and_asked(host)
    await wait_for_warm(backend, 1)
    await warmer.handover(URI, 0)  # a run on another line starts
    await host.settle()
    assert backend.cancelled == 1 and warmer.warmed == 0 and warmer.idle


async def test_the_run_of_the_warmed_line_waits_for_its_warm_request() -> None:
    backend = WarmBackend()
    backend.gate = asyncio.Event()
    host = Host(backend)
    _doc, warmer = typed_and_asked(host)
    await wait_for_warm(backend, 1)
    handover = asyncio.ensure_future(warmer.handover(URI, 2))
    await asyncio.sleep(0)
    assert not handover.done()  # the run waits while the server reads its prompt ...
    backend.gate.set()
    await asyncio.wait_for(handover, 10)  # ... and sends once it is in the cache
    assert backend.cancelled == 0 and warmer.warmed == 1


async def test_one_in_flight_and_the_newest_line_is_sent_after_it() -> None:
    backend = WarmBackend()
    backend.gate = asyncio.Event()
    host = Host(backend)
    doc, warmer = typed_and_asked(host)
    await wait_for_warm(backend, 1)
    doc.apply_edit((2, 11), (2, 11), " of a circle", "utf-16")
    warmer.actions_asked(URI, 2)
    await asyncio.sleep(0)  # its turn came: it waits for the one in flight
    assert len(backend.warmed) == 1 and not warmer.idle
    backend.gate.set()
    await wait_for_warm(backend, 2)
    await host.settle()
    assert "area of a circle" in backend.warmed[1].prompt and len(backend.warmed) == 2


async def test_nothing_is_warmed_while_a_run_streams() -> None:
    backend = WarmBackend()
    host = Host(backend)
    host.streaming = True
    _doc, warmer = typed_and_asked(host)
    await drain(host)
    assert backend.warmed == [] and warmer.idle


@pytest.mark.parametrize("remote_host", [False, True])
async def test_a_remote_server_is_warmed_only_when_the_setting_allows(remote_host: bool) -> None:
    backend = WarmBackend(host="http://192.0.2.7:11434")
    host = Host(backend, remoteHost=remote_host)
    _doc, warmer = typed_and_asked(host)
    await drain(host)
    assert len(backend.warmed) == (1 if remote_host else 0) and warmer.idle


async def test_a_server_that_refuses_is_not_asked_again_and_off_means_off() -> None:
    backend = WarmBackend(fail=True)
    host = Host(backend)
    doc, warmer = typed_and_asked(host)
    await wait_for_warm(backend, 1)
    await host.settle()
    doc.apply_edit((2, 11), (2, 11), " of a circle", "utf-16")
    warmer.actions_asked(URI, 2)
    await drain(host)
    assert len(backend.warmed) == 1 and warmer.warmed == 0
    off = WarmBackend()
    host_off = Host(off, enabled=False)
    _doc_off, warmer_off = typed_and_asked(host_off)
    assert warmer_off.idle and off.warmed == []


async def test_a_new_prefix_line_is_sent_at_once_and_its_instruction_after_a_pause() -> None:
    """The server reads the code while the user types the instruction; the pause after it costs
    the server only the instruction."""
    backend = WarmBackend()
    host = Host(backend)
    doc, warmer = opened(host)
    type_line(doc, 2, "# gen:", warmer)  # the line is a prefixed line from here on ...
    await wait_for_warm(backend, 1)  # ... and goes at once
    doc.apply_edit((2, 6), (2, 6), " area of a circle", "utf-16")
    warmer.document_changed(doc)
    await wait_for_warm(backend, 2)  # once the editor is quiet
    await host.settle()
    first, second = backend.warmed
    assert "area of a circle" not in first.prompt and "area of a circle" in second.prompt
    assert second.prompt.startswith(first.prompt.split("Task:")[0])  # the same head


async def test_a_prefixed_line_that_only_moved_is_not_sent_again() -> None:
    """A run's code lands above another prefixed line: its text is the same, nothing is sent."""
    backend = WarmBackend()
    host = Host(backend)
    doc, warmer = opened(host, "# gen: area of a circle\n\nprint('end')\n")
    doc.apply_edit((0, 0), (0, 0), "import math\n\n", "utf-16")
    warmer.document_changed(doc)
    assert warmer.idle and backend.warmed == []
