"""The protocol's warm-up after `initialize`: every sample message it feeds cattrs is one the
editor or the server really sends, so each one writes the functions a first run needs (a sample
that no longer matched lsprotocol would fail quietly and warm nothing)."""

from __future__ import annotations

import logging

import pytest
from lsprotocol import types

from typilot_lsp.converter_warm_up import WARM_INCOMING, WARM_RESULTS, warm_converter
from typilot_lsp.server import TypilotServer


def test_every_incoming_sample_structures_as_its_method(caplog: pytest.LogCaptureFixture) -> None:
    protocol = TypilotServer().protocol
    with caplog.at_level(logging.ERROR):
        for data in WARM_INCOMING:
            message = protocol.structure_message({"jsonrpc": "2.0", **data})
            assert isinstance(message, types.METHOD_TO_TYPES[data["method"]][0])
    assert not caplog.records


def test_every_result_sample_structures_as_its_answer() -> None:
    server = TypilotServer()
    for method, result in WARM_RESULTS:
        answer_type = server.protocol.get_result_type(method)
        assert answer_type is not None, method
        answer = server.converter.structure(
            {"jsonrpc": "2.0", "id": 1, "result": result}, answer_type
        )
        assert isinstance(answer, answer_type)


def test_the_warm_up_runs_clean(caplog: pytest.LogCaptureFixture) -> None:
    server = TypilotServer()
    with caplog.at_level(logging.ERROR):
        warm_converter(server.protocol, server.converter)
    assert not caplog.records
