"""Documents: the one document store, and document events for every feature.

At `initialize` pygls's workspace is replaced by a `TypilotWorkspace` (typilot_lsp.documents),
so pygls's own didOpen/didChange/didClose handling applies each change once, to a
`TypilotDocument` that keeps its lines and prefix index up to date incrementally. This
feature then tells the changed document's listeners (running streams) and every feature's
document hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from typilot_lsp.config import Config
from typilot_lsp.documents import TypilotDocument, TypilotWorkspace
from typilot_lsp.feature import Feature
from typilot_lsp.prefixes import PrefixMatcher
from typilot_lsp.pygls_adapter import swap_workspace

if TYPE_CHECKING:
    from typilot_lsp.server import TypilotServer


class DocumentsFeature(Feature):
    """Owns the workspace swap, the prefix matchers and the document notifications."""

    def __init__(self, server: TypilotServer) -> None:
        super().__init__(server)
        self._matchers: dict[str, PrefixMatcher] = {}

    def register(self) -> None:
        server = self.server

        @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
        def did_open(params: types.DidOpenTextDocumentParams) -> None:
            doc = self.document(params.text_document.uri)
            if doc is not None:
                server.call_hooks("document_opened", lambda f: f.document_opened(doc))

        @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
        def did_change(params: types.DidChangeTextDocumentParams) -> None:
            # pygls has applied every change to the document already (once).
            doc = self.document(params.text_document.uri)
            if doc is None:
                return
            doc.finish_changes(params.text_document.version)
            server.call_hooks("document_changed", lambda f: f.document_changed(doc))

        @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
        def did_close(params: types.DidCloseTextDocumentParams) -> None:
            uri = params.text_document.uri
            server.call_hooks("document_closed", lambda f: f.document_closed(uri))

    async def initialize(self, params: types.InitializeParams) -> None:
        # pygls made its workspace just before this hook; no document is open yet.
        protocol = self.server.protocol
        swap_workspace(protocol, TypilotWorkspace.replacing(protocol.workspace, self.matcher_for))

    def settings_changed(self, old: Config, new: Config) -> None:
        if old.prefixes != new.prefixes or old.commands.keys() != new.commands.keys():
            self._matchers.clear()
            for doc in self.documents():
                doc.reindex(self.matcher_for(doc.language_id))

    # -- lookups -------------------------------------------------------------------
    @property
    def workspace(self) -> TypilotWorkspace | None:
        try:
            workspace = self.server.workspace
        except RuntimeError:  # before `initialize`
            return None
        return workspace if isinstance(workspace, TypilotWorkspace) else None

    def document(self, uri: str) -> TypilotDocument | None:
        """The open document at `uri`, or None."""
        workspace = self.workspace
        return workspace.document(uri) if workspace is not None else None

    def documents(self) -> list[TypilotDocument]:
        workspace = self.workspace
        return workspace.documents() if workspace is not None else []

    def matcher_for(self, language_id: str) -> PrefixMatcher:
        """The prefix matcher for `language_id` under the current settings (cached)."""
        matcher = self._matchers.get(language_id)
        if matcher is None:
            config = self.server.config
            matcher = PrefixMatcher.build(language_id, config.prefixes, config.commands.keys())
            self._matchers[language_id] = matcher
        return matcher
