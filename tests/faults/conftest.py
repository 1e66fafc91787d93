"""Fixtures for the fault suite: the e2e harness (real server over stdio) and its helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.harness import Editor, server_env, start_editor, stop_editor


@pytest.fixture
async def editor(replay_ollama, typilot_home) -> AsyncIterator[Editor]:
    session = await start_editor(server_env(typilot_home, replay_ollama.url))
    try:
        yield session
    finally:
        await stop_editor(session)
