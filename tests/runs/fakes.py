"""In-process parts for run tests: an Ollama behind `httpx.MockTransport`, a host with a fake
editor, a progress that records what it was told.

`FakeOllama` answers `/api/show` and streams `/api/chat` as NDJSON, one chunk per piece of
the reply; with `hold="after-first"` it stops after the first piece, with `hold="before-first"`
before it, until `release()` (or until the client closes the connection: a cancelled run). `make_host` returns `apply`'s
`HeadlessHost` (its editor applies every versioned edit and echoes it back at once, like an
editor's didChange) wired to that Ollama.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import attrs
import httpx

from typilot_lsp.apply import HeadlessHost
from typilot_lsp.backends.ollama import OllamaBackend
from typilot_lsp.config import Config
from typilot_lsp.runs.host import BackendSlot
from typilot_lsp.runs.model import Outcome, Run

MODEL = "qwen2.5-coder:1.5b"
URI = "file:///work/example.py"


class FakeOllama:
    """An Ollama for one test: `reply` is streamed, piece by piece, to every chat."""

    def __init__(
        self, reply: list[str], *, hold: str | None = None, show_status: int = 200
    ) -> None:
        self.reply = reply
        self.hold = hold
        self.show_status = show_status
        self.chats: list[dict[str, Any]] = []
        self.sent = 0  # reply pieces streamed (the client may close the stream before the end)
        self.closed = asyncio.Event()
        self._release = asyncio.Event()
        self.first_sent = asyncio.Event()

    def release(self) -> None:
        self._release.set()

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            for index, piece in enumerate(self.reply):
                if index == 0 and self.hold == "before-first":
                    self.first_sent.set()
                    await self._release.wait()
                chunk = {"model": MODEL, "message": {"role": "assistant", "content": piece}}
                self.sent += 1
                yield (json.dumps({**chunk, "done": False}) + "\n").encode()
                if index == 0 and self.hold == "after-first":
                    self.first_sent.set()
                    await self._release.wait()
            yield (json.dumps({"model": MODEL, "done": True, "eval_count": 3}) + "\n").encode()
        finally:
            self.closed.set()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/show":
            if self.show_status != 200:
                return httpx.Response(
                    self.show_status, json={"error": f"model '{MODEL}' not found"}
                )
            return httpx.Response(
                200,
                json={
                    "capabilities": ["completion"],
                    "model_info": {"general.architecture": "qwen2", "qwen2.context_length": 32768},
                },
            )
        if request.url.path == "/api/chat":
            self.chats.append(json.loads(request.content))
            return httpx.Response(200, content=self._chunks())
        return httpx.Response(404, json={"error": "not found"})

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


@attrs.define
class RecordingProgress:
    """A `Progress` that keeps what it was told."""

    events: list[tuple[str, Any]] = attrs.Factory(list)

    async def begin(self, run: Run) -> None:
        self.events.append(("begin", run.command))

    def report(self, run: Run, message: str) -> None:
        self.events.append(("report", message))

    async def end(self, run: Run, outcome: Outcome, error: str | None) -> None:
        self.events.append(("end", outcome))


class FakeHost(HeadlessHost):
    """`HeadlessHost` with a recording progress and a recording history."""

    def __init__(self, config: Config, ollama: FakeOllama) -> None:
        super().__init__(
            config,
            io.StringIO(),
            BackendSlot(lambda c: OllamaBackend.from_config(c, transport=ollama.transport)),
        )
        self.progresses: list[RecordingProgress] = []
        self.records: list[Any] = []
        self.history = self  # type: ignore[assignment]

    def progress_for(self, run: Run) -> RecordingProgress:  # type: ignore[override]
        progress = RecordingProgress()
        self.progresses.append(progress)
        return progress

    async def record(self, record: Any) -> None:  # the history's one call during a run
        self.records.append(record)

    async def aclose(self) -> None:
        self.history = None
        await super().aclose()


def make_host(ollama: FakeOllama, **settings: Any) -> FakeHost:
    config, errors = Config.from_dict(
        {"ollama": {"model": MODEL}, "streaming": {"editIntervalMs": 5}, **settings}
    )
    assert errors == []
    return FakeHost(config, ollama)
