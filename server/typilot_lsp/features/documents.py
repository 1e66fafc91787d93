"""Document sync: our own incremental per-document state (see typilot_lsp.documents)."""

from __future__ import annotations

from lsprotocol import types

from typilot_lsp.documents import DocumentState
from typilot_lsp.server import TypilotServer


def setup(server: TypilotServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: TypilotServer, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        ls.documents[item.uri] = DocumentState(
            item.uri, item.language_id, item.version, item.text, ls.matcher_for(item.language_id)
        )

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: TypilotServer, params: types.DidChangeTextDocumentParams) -> None:
        doc = ls.documents.get(params.text_document.uri)
        if doc is None:
            return
        encoding = ls.encoding
        for change in params.content_changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                rng = change.range
                doc.apply_change(
                    (rng.start.line, rng.start.character),
                    (rng.end.line, rng.end.character),
                    change.text,
                    encoding,
                )
            else:
                doc.apply_change(None, None, change.text, encoding)
        doc.finish_changes(params.text_document.version)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: TypilotServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.runs.cancel(uri, reason="closed")
        ls.documents.pop(uri, None)
        ls.editors.pop(uri, None)
