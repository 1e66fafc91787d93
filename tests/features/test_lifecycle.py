"""The server's features in process: lifecycle hooks, settings, the document store, history,
a whole run — through pygls's own dispatch, with a fake client and Ollama behind
httpx.MockTransport."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from lsprotocol import types

from tests.features.inprocess import URI, InProcessClient
from tests.runs.fakes import MODEL, FakeOllama
from typilot_lsp.backends.ollama import OllamaBackend
from typilot_lsp.config import Config
from typilot_lsp.documents import TypilotWorkspace
from typilot_lsp.feature import Feature
from typilot_lsp.features.documents import DocumentsFeature
from typilot_lsp.features.history import HistoryFeature
from typilot_lsp.features.runs import RunsFeature
from typilot_lsp.runs.host import BackendSlot
from typilot_lsp.runs.model import Outcome
from typilot_lsp.setup import create_server


class Recorder(Feature):
    """A feature that notes every hook it is given, and can fail in one."""

    def __init__(self, server: object, fail_in: str = "") -> None:
        super().__init__(server)  # type: ignore[arg-type]
        self.calls: list[str] = []
        self.fail_in = fail_in

    def _note(self, name: str) -> None:
        self.calls.append(name)
        if name == self.fail_in:
            raise RuntimeError(f"{name} broke")

    async def initialize(self, params: types.InitializeParams) -> None:
        self._note("initialize")

    async def initialized(self, params: types.InitializedParams) -> None:
        self._note("initialized")

    def settings_changed(self, old: Config, new: Config) -> None:
        self._note("settings_changed")

    def document_opened(self, doc: object) -> None:  # type: ignore[override]
        self._note("document_opened")

    def document_changed(self, doc: object) -> None:  # type: ignore[override]
        self._note("document_changed")

    def document_closed(self, uri: str) -> None:
        self._note("document_closed")

    async def shutdown(self) -> None:
        self._note("shutdown")


class Broken(Recorder):
    pass


@pytest.fixture
def history_file(tmp_path: Path) -> Path:
    return tmp_path / "history.sqlite3"


async def test_every_hook_reaches_every_feature_and_a_failing_one_stops_none(
    history_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = create_server()
    broken = Broken(server, fail_in="initialized")
    recorder = Recorder(server)
    server.add_feature(broken)
    server.add_feature(recorder)
    client = InProcessClient(server)
    with caplog.at_level(logging.ERROR, logger="typilot_lsp"):
        await client.initialize({"history": {"path": str(history_file)}})
        await client.wait_for(lambda: "initialized" in recorder.calls)
        client.open("x = 1\n")
        client.change(URI, "x = 2\n")
        client.notify("textDocument/didClose", {"textDocument": {"uri": URI}})
        await client.shutdown()
    assert recorder.calls == [
        "settings_changed",  # initializationOptions
        "initialize",
        "initialized",
        "document_opened",
        "document_changed",
        "document_closed",
        "shutdown",
    ]
    assert "shutdown" in broken.calls  # its failure in `initialized` stopped nothing
    assert any("initialized failed" in r.getMessage() for r in caplog.records)
    assert server.get_feature(Recorder) is recorder
    assert server.get_feature(HistoryFeature).history is not None


async def test_one_store_each_change_applied_once_with_its_prefix_index(
    history_file: Path,
) -> None:
    client = InProcessClient()
    await client.initialize({"history": {"path": str(history_file)}})
    assert isinstance(client.server.workspace, TypilotWorkspace)
    client.open("a = 1\nb = 2\n")
    documents = client.server.get_feature(DocumentsFeature)
    doc = documents.document(URI)
    assert doc is not None and doc.prefixed == {}
    client.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": URI, "version": 2},
            "contentChanges": [
                {
                    "range": {
                        "start": {"line": 1, "character": 0},
                        "end": {"line": 1, "character": 0},
                    },
                    "text": "# gen: a helper\n",
                }
            ],
        },
    )
    # pygls's workspace holds the very document the features read.
    assert client.server.workspace.get_text_document(URI) is doc
    assert doc.source == "a = 1\n# gen: a helper\nb = 2\n" and doc.version == 2
    assert list(doc.prefixed) == [1] and doc.prefixed[1].instruction == "a helper"
    actions = await client.request(
        "textDocument/codeAction",
        {
            "textDocument": {"uri": URI},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 2, "character": 0}},
            "context": {"diagnostics": []},
        },
    )
    assert [a["title"] for a in actions] == ["Typilot: gen — a helper"]
    await client.shutdown()


async def test_a_bad_setting_costs_only_itself_and_new_prefixes_reindex(
    history_file: Path,
) -> None:
    client = InProcessClient()
    await client.initialize(
        {
            "history": {"path": str(history_file)},
            "ollama": {"model": "mine:1b"},
            "streaming": {"editIntervalMs": "fast"},
        }
    )
    config = client.server.config
    assert config.ollama.model == "mine:1b"
    assert config.streaming.edit_interval_ms == Config().streaming.edit_interval_ms
    assert any("editIntervalMs" in m for m in client.messages())
    client.open("# make: a list\n")
    doc = client.server.get_feature(DocumentsFeature).document(URI)
    assert doc is not None and doc.prefixed == {}
    client.notify(
        "workspace/didChangeConfiguration",
        {"settings": {"typilot": {"prefixes": {"gen": "make:"}}}},
    )
    await client.wait_for(lambda: list(doc.prefixed) == [0])
    assert doc.prefixed[0].command == "gen"
    await client.shutdown()


async def test_history_requests_wait_for_the_history_to_open(history_file: Path) -> None:
    client = InProcessClient()
    feature = client.server.get_feature(HistoryFeature)
    with pytest.raises(Exception, match="not open yet"):
        await feature.opened(timeout=0.05)
    await client.initialize({"history": {"path": str(history_file)}})
    assert await client.request("typilot/history", {"limit": 5}) == {"entries": []}
    await client.shutdown()


async def test_a_whole_run_in_process(history_file: Path) -> None:
    ollama = FakeOllama(["def area(r):\n", "    return 3.14 * r * r\n"])
    server = create_server()
    runs = server.get_feature(RunsFeature)
    runs._backend = BackendSlot(lambda c: OllamaBackend.from_config(c, transport=ollama.transport))
    client = InProcessClient(server)
    await client.initialize({"history": {"path": str(history_file)}, "ollama": {"model": MODEL}})
    client.open("# gen: area of a circle\n")
    answer = await client.request(
        "workspace/executeCommand",
        {"command": "typilot.run", "arguments": [{"uri": URI, "line": 0}]},
    )
    run = next(iter(runs.manager.active.values()))
    assert answer == {"runId": run.id}
    result = await run.result()
    assert result.outcome is Outcome.DONE
    assert client.texts[URI] == "def area(r):\n    return 3.14 * r * r\n"
    progress = [
        n["params"]["value"]["kind"] for n in client.notifications if n["method"] == "$/progress"
    ]
    assert progress[0] == "begin" and progress[-1] == "end"
    entries = (await client.request("typilot/history", {"limit": 5}))["entries"]
    assert [e["outcome"] for e in entries] == ["done"]
    await client.shutdown()


async def test_a_run_offered_before_the_settings_arrive_still_opens_the_store(
    history_file: Path,
) -> None:
    """The history exists only once the settings are in (its path is a setting), but the editor
    may ask for code actions while the server still waits for `workspace/configuration`: the
    warm-up that offer asks for is kept until the history exists, not dropped."""
    client = InProcessClient()
    answer, held = client._answer, []

    def hold_configuration(request: dict[str, object]) -> None:
        if request["method"] == "workspace/configuration":
            held.append(request)
        else:
            answer(request)

    client._answer = hold_configuration  # type: ignore[method-assign]
    await client.initialize({"history": {"path": str(history_file)}})
    client.open("# gen: area of a circle\n")
    actions = await client.request(
        "textDocument/codeAction",
        {
            "textDocument": {"uri": URI},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
            "context": {"diagnostics": []},
        },
    )
    assert actions
    await client.wait_for(lambda: bool(held))
    assert client.server.get_feature(HistoryFeature).history is None  # settings not in yet
    answer(held.pop())
    await client.wait_for(history_file.exists)
    assert await client.request("typilot/history", {"limit": 5}) == {"entries": []}
    await client.shutdown()
