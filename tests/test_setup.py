"""The composition root (typilot_lsp.setup): each feature gets what its constructor asks for, by
type, and a feature that asks for something missing is refused with a message saying what."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from typilot_lsp.feature import Feature
from typilot_lsp.features.documents import DocumentsFeature
from typilot_lsp.features.history import HistoryFeature
from typilot_lsp.features.runs import RunsFeature
from typilot_lsp.features.settings import SettingsFeature
from typilot_lsp.features.voice import VoiceFeature
from typilot_lsp.setup import FEATURES, build_feature, create_server

if TYPE_CHECKING:
    from typilot_lsp.server import TypilotServer


class Needs(Feature):
    def __init__(self, server: TypilotServer, documents: DocumentsFeature, limit: int = 3) -> None:
        super().__init__(server)
        self.documents = documents
        self.limit = limit


class NeedsAnInt(Feature):
    def __init__(self, server: TypilotServer, count: int) -> None:
        super().__init__(server)


class NeedsUnknown(Feature):
    def __init__(self, server: TypilotServer, other: Undefined) -> None:  # type: ignore[name-defined]  # noqa: F821
        super().__init__(server)


def test_every_feature_is_built_with_the_features_it_works_with() -> None:
    server = create_server()
    assert [type(f) for f in server.features] == list(FEATURES)
    documents = server.get_feature(DocumentsFeature)
    runs = server.get_feature(RunsFeature)
    voice = server.get_feature(VoiceFeature)
    assert runs.documents is documents
    assert runs.history_feature is server.get_feature(HistoryFeature)
    assert voice.runs is runs and voice.documents is documents
    assert all(f.server is server for f in server.features)


def test_a_feature_gets_the_server_and_features_by_type_and_keeps_its_defaults() -> None:
    server = create_server((SettingsFeature, DocumentsFeature))
    built = build_feature(Needs, server)
    assert built.server is server
    assert built.documents is server.get_feature(DocumentsFeature)
    assert built.limit == 3


def test_what_cannot_be_given_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="RunsFeature needs DocumentsFeature: add that feature"):
        create_server((SettingsFeature, HistoryFeature, RunsFeature))
    with pytest.raises(TypeError, match="NeedsAnInt: nothing to give its parameter `count`"):
        build_feature(NeedsAnInt, create_server(()))
    with pytest.raises(TypeError, match="NeedsUnknown: a parameter's type is unknown"):
        build_feature(NeedsUnknown, create_server(()))
