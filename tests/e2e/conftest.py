"""Fixtures for end-to-end tests: the real server over stdio and the replay Ollama."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.harness import Editor, editor_session, server_env


@pytest.fixture
async def editor(replay_ollama, typilot_home) -> AsyncIterator[Editor]:
    async with editor_session(server_env(typilot_home, replay_ollama.url)) as session:
        yield session
