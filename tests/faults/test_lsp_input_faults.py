"""Malformed LSP input: each is answered (or ignored) and the server goes on serving."""

from __future__ import annotations

import json

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.e2e.harness import Editor
from tests.faults.fault_util import assert_next_run_works, assert_serving

INVALID_PARAMS = -32602
METHOD_NOT_FOUND = -32601


def raw(editor: Editor, body: bytes) -> None:
    """Bytes straight onto the server's stdin, framed with a correct Content-Length."""
    editor.client.protocol.writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)


async def run_command(editor: Editor, *arguments: object) -> object:
    return await editor.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="typilot.run", arguments=list(arguments))
    )


async def test_invalid_json_rpc_is_survived(editor: Editor, replay_ollama) -> None:
    for body in (
        b"{this is not json",
        b"\xff\xfe\x00garbage",
        b"[]",
        b'{"jsonrpc": "2.0"}',
        b'{"jsonrpc": "2.0", "id": 99, "method": 5}',
        b'{"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"nope": 1}}',
        b'{"jsonrpc": "2.0", "method": "textDocument/didChange", "params": null}',
    ):
        raw(editor, body)
    await assert_serving(editor)
    await assert_next_run_works(editor, replay_ollama.add_rule)


async def test_unknown_methods(editor: Editor, replay_ollama) -> None:
    with pytest.raises(JsonRpcException) as info:
        await editor.client.protocol.send_request_async("typilot/noSuchThing", {"x": 1})
    assert info.value.code == METHOD_NOT_FOUND
    editor.client.protocol.notify("typilot/noSuchNotification", {"x": 1})
    with pytest.raises(JsonRpcException):
        await editor.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="typilot.noSuchCommand", arguments=[])
        )
    await assert_serving(editor)
    await assert_next_run_works(editor, replay_ollama.add_rule)


async def test_positions_past_the_end(editor: Editor, replay_ollama) -> None:
    text = "x = 1\n# gen: past end\n"
    doc = editor.open("past.py", text)
    far = types.Range(
        start=types.Position(line=1, character=0), end=types.Position(line=10_000, character=999)
    )
    actions = await editor.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=doc.uri),
            range=far,
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    assert [a.title for a in actions or []] == ["Typilot: gen — past end"]
    # A whole range beyond the end offers nothing, without an error.
    beyond = types.Range(
        start=types.Position(line=500, character=3), end=types.Position(line=900, character=1)
    )
    assert not await editor.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=doc.uri),
            range=beyond,
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    with pytest.raises(JsonRpcException, match=r"past the end of past\.py"):
        await run_command(editor, {"uri": doc.uri, "line": 10_000})
    # A code action for a document the server never saw.
    assert not await editor.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri="file:///never/opened.py"),
            range=far,
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    assert doc.text == text
    await assert_next_run_works(editor, replay_ollama.add_rule)


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ([{"uri": "U", "line": -5}], "line` must be a line number >= 0"),
        ([{"uri": "U", "line": "2"}], "line"),
        ([{"uri": "U", "line": True}], "line` must be a line number"),
        ([{"uri": "U", "line": 1.5}], "line"),
        ([{"line": 0}], "uri"),
        ([{"uri": 7, "line": 0}], "uri"),
        (["U", 0], "expects one argument"),
        ([], "expects one argument"),
        ([None], "expects one argument"),
    ],
)
async def test_bad_run_arguments_are_invalid_params(
    editor: Editor, arguments: list[object], says: str
) -> None:
    text = "x = 1\n# gen: args\n"
    doc = editor.open("args.py", text)
    arguments = json.loads(json.dumps(arguments).replace('"U"', json.dumps(doc.uri)))
    with pytest.raises(JsonRpcException) as info:
        await run_command(editor, *arguments)
    assert info.value.code == INVALID_PARAMS, info.value
    assert says in str(info.value), str(info.value)
    assert "has no prefix" not in str(info.value)
    assert doc.text == text
    await assert_serving(editor)


async def test_a_code_action_on_a_line_that_no_longer_exists(editor: Editor, replay_ollama) -> None:
    doc = editor.open("gone.py", "x = 1\ny = 2\n# gen: soon gone\n")
    [action] = await editor.code_actions(doc, 2)
    # The user deletes the last two lines before choosing the action.
    editor.replace(doc, len("x = 1\n"), len(doc.text), "")
    with pytest.raises(JsonRpcException, match=r"past the end of gone\.py") as info:
        await editor.execute(action.command)
    assert "code actions again" in str(info.value)
    # And a line that exists but lost its prefix.
    editor.type_at(doc, len(doc.text), "z = 3\n")
    with pytest.raises(JsonRpcException, match="has no prefix"):
        await editor.execute(action.command)
    assert doc.text == "x = 1\nz = 3\n"
    await assert_serving(editor)
    await assert_next_run_works(editor, replay_ollama.add_rule)
