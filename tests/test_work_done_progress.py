"""The one work-done-progress helper (runs and voice show their progress through it), with a
client in process: what the editor is sent, its cancel, and a client that cannot show it."""

from __future__ import annotations

from typing import Any

from tests.features.inprocess import InProcessClient
from typilot_lsp.server import TypilotServer
from typilot_lsp.work_done_progress import WorkDoneProgress


def progress_values(client: InProcessClient, token: str) -> list[dict[str, Any]]:
    return [
        n["params"]["value"]
        for n in client.notifications
        if n["method"] == "$/progress" and n["params"]["token"] == token
    ]


async def test_begin_report_end_reach_the_editor_once_each() -> None:
    client = InProcessClient(TypilotServer())
    await client.initialize()
    progress = WorkDoneProgress(client.server, "t-1")
    assert await progress.begin("Typilot: gen", "a helper")
    assert progress.shown
    progress.report("12 tokens")
    progress.end("done")
    progress.end("done again")  # a second end says nothing
    progress.report("too late")
    assert progress_values(client, "t-1") == [
        {"kind": "begin", "title": "Typilot: gen", "message": "a helper", "cancellable": True},
        {"kind": "report", "message": "12 tokens", "cancellable": True},
        {"kind": "end", "message": "done"},
    ]
    assert "t-1" not in client.server.work_done_progress.tokens
    await client.shutdown()


async def test_a_cancel_in_the_editor_calls_on_cancel() -> None:
    client = InProcessClient(TypilotServer())
    await client.initialize()
    cancelled: list[str] = []
    progress = WorkDoneProgress(client.server, "t-2")
    await progress.begin("Typilot voice", "Listening…", on_cancel=lambda: cancelled.append("x"))
    client.notify("window/workDoneProgress/cancel", {"token": "t-2"})
    await client.wait_for(lambda: bool(cancelled))
    assert cancelled == ["x"]
    await client.shutdown()


async def test_nothing_is_sent_to_a_client_that_cannot_show_progress() -> None:
    client = InProcessClient(TypilotServer())
    await client.request("initialize", {"processId": None, "capabilities": {}})
    progress = WorkDoneProgress(client.server, "t-3")
    assert not await progress.begin("Typilot: fix", "")
    progress.report("ignored")
    progress.end("ignored")
    assert not progress.shown
    assert progress_values(client, "t-3") == []
    assert not [n for n in client.notifications if n["method"] == "$/progress"]
    await client.shutdown()
