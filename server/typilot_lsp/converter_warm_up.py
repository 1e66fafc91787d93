"""cattrs's functions for a first run's messages, written before that run needs them.

cattrs writes the function that (un)structures a type the first time it meets it: ~10 ms for
the first code action (its request and its answer) and more for the first streamed edit and
progress. `warm_converter` feeds it one sample of each message a run exchanges, once the
`initialize` answer is out (while the editor is busy sending `initialized` and its `didOpen`s).
"""

from __future__ import annotations

import contextlib
from typing import Any

import cattrs
from lsprotocol import types
from pygls.protocol import LanguageServerProtocol

WARM_URI = "file:///typilot-warm-up.py"
WARM_RANGE = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}
WARM_INCOMING: tuple[dict[str, Any], ...] = (
    {
        "method": types.TEXT_DOCUMENT_DID_OPEN,
        "params": {
            "textDocument": {"uri": WARM_URI, "languageId": "python", "version": 1, "text": ""}
        },
    },
    {
        "method": types.TEXT_DOCUMENT_DID_CHANGE,
        "params": {
            "textDocument": {"uri": WARM_URI, "version": 2},
            "contentChanges": [{"range": WARM_RANGE, "text": "x"}],
        },
    },
    {
        "id": 1,
        "method": types.TEXT_DOCUMENT_CODE_ACTION,
        "params": {
            "textDocument": {"uri": WARM_URI},
            "range": WARM_RANGE,
            "context": {"diagnostics": [], "triggerKind": 1},
        },
    },
    {
        "id": 1,
        "method": types.WORKSPACE_EXECUTE_COMMAND,
        "params": {"command": "typilot.run", "arguments": [{"uri": WARM_URI, "line": 0}]},
    },
)
# The editor's answers to the server's own requests during a run.
WARM_RESULTS: tuple[tuple[str, Any], ...] = (
    (types.WORKSPACE_APPLY_EDIT, {"applied": True}),
    (types.WINDOW_WORK_DONE_PROGRESS_CREATE, None),
)


def warm_outgoing() -> list[Any]:
    position = types.Position(line=0, character=0)
    edit = types.TextDocumentEdit(
        text_document=types.OptionalVersionedTextDocumentIdentifier(uri=WARM_URI, version=1),
        edits=[types.TextEdit(range=types.Range(start=position, end=position), new_text="x")],
    )
    command = types.Command(title="t", command="typilot.run", arguments=[{"uri": WARM_URI}])
    return [
        types.CodeActionResponse(
            id=1, result=[types.CodeAction(title="t", kind="refactor", command=command)]
        ),
        types.ApplyWorkspaceEditRequest(
            id=1,
            params=types.ApplyWorkspaceEditParams(
                edit=types.WorkspaceEdit(document_changes=[edit]), label="t"
            ),
        ),
        types.WorkDoneProgressCreateRequest(
            id=1, params=types.WorkDoneProgressCreateParams(token="t")
        ),
        *(
            types.ProgressNotification(params=types.ProgressParams(token="t", value=value))
            for value in (
                types.WorkDoneProgressBegin(title="t", cancellable=True),
                types.WorkDoneProgressReport(message="t", cancellable=True),
                types.WorkDoneProgressEnd(message="t"),
            )
        ),
        types.ExecuteCommandResponse(id=1, result=None),
    ]


def warm_converter(protocol: LanguageServerProtocol, converter: cattrs.Converter) -> None:
    """Have `converter` (the one `protocol` uses) write its functions for a run's messages."""
    for data in WARM_INCOMING:
        with contextlib.suppress(Exception):
            protocol.structure_message({"jsonrpc": "2.0", **data})
    for method, result in WARM_RESULTS:
        result_type = protocol.get_result_type(method)
        if result_type is not None:
            with contextlib.suppress(Exception):
                converter.structure({"jsonrpc": "2.0", "id": 1, "result": result}, result_type)
    for message in warm_outgoing():
        for _ in range(2):  # a union's members are looked up on the second call
            converter.unstructure(message)
