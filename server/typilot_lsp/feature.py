"""The shape of every server feature: an object that owns its state and its lifecycle.

A feature is one concern of the server (runs, documents, history, voice, settings plumbing). It
is created once per server by the composition root (`typilot_lsp.setup`), which gives its
constructor what it asks for by type: the server, and the other features it works with (e.g.
`RunsFeature(server, documents: DocumentsFeature, history: HistoryFeature)`). It uses them
through their public methods; it never looks a feature up, and the server never imports one.

When added (`server.add_feature`) a feature registers its own LSP handlers in `register`
(`server.feature`, `pygls_adapter.register_command`), and it is told about the server's
lifecycle through the hooks below, which do nothing unless overridden. The server calls
`initialize`, `initialized` and `settings_changed` in the order the features were added,
`shutdown` in the reverse order (a feature stops before the ones it uses). The documents
feature calls the document hooks after the one document store (`TypilotWorkspace`) has
applied the change. A hook that raises is logged and does not stop the others (one broken
feature must not take the server down).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lsprotocol import types

    from typilot_lsp.config import Config
    from typilot_lsp.documents import TypilotDocument
    from typilot_lsp.server import TypilotServer


class Feature:
    """Base class of the server's features."""

    def __init__(self, server: TypilotServer) -> None:
        self.server = server

    def register(self) -> None:
        """Register this feature's LSP handlers (`server.feature`, `register_command`)."""

    async def initialize(self, params: types.InitializeParams) -> None:
        """`initialize`: the client's capabilities and initializationOptions are known."""

    async def initialized(self, params: types.InitializedParams) -> None:
        """`initialized`: the client can take requests (progress, configuration, messages)."""

    def settings_changed(self, old: Config, new: Config) -> None:
        """The `typilot` settings changed (both are complete, validated configs)."""

    def document_opened(self, doc: TypilotDocument) -> None:
        """`didOpen`: `doc` is in the workspace."""

    def document_changed(self, doc: TypilotDocument) -> None:
        """`didChange`: every change of the notification is applied to `doc`."""

    def document_closed(self, uri: str) -> None:
        """`didClose`: the document at `uri` is no longer in the workspace."""

    async def shutdown(self) -> None:
        """`shutdown`: stop background work and release what this feature holds."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"
