"""Fixtures for the real-model tests: one llama.cpp server with SmolLM2-135M for the session.

`scripts/install-llama.sh` (run by scripts/test.sh) installs llama-server and the model. Without
them these tests fail under CI and are skipped elsewhere with the command that installs them
(the one rule of tests/prerequisites.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import prerequisites
from tests.llama.llama_server import INSTALL_HINT, LlamaServer, RecordingRelay, find_llama
from tests.neovim.nvim_harness import nvim_factory

__all__ = ["llama", "nvim_factory"]


@pytest.fixture(scope="session")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """A started llama-server (SmolLM2-135M-Instruct Q4_1, one slot) on a free loopback port,
    with a `relay` in front of it that records the requests (`llama.relay.base_url`)."""
    install = find_llama()
    prerequisites.require(install.lacking, INSTALL_HINT)
    log = tmp_path_factory.mktemp("llama") / "llama-server.log"
    server = LlamaServer(install, log).start()
    server.relay = RecordingRelay(server.port)
    try:
        yield server
    finally:
        server.relay.close()
        server.stop()
