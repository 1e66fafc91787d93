"""The floor for bench.bench_core: a pygls server that does nothing (`python -m bench.bare_server`).

It keeps documents in sync (pygls's own workspace) and answers every code action with
nothing, so the difference to Typilot LSP is what Typilot itself costs.
"""

from __future__ import annotations

from lsprotocol import types
from pygls.lsp.server import LanguageServer

server = LanguageServer("bare-pygls", "0")


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
)
def code_actions(ls: LanguageServer, params: types.CodeActionParams) -> None:
    return None


if __name__ == "__main__":
    server.start_io()
