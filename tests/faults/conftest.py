"""Fixtures for the fault suite: the e2e harness (real server over stdio) and its helpers."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE), str(_HERE.parent / "e2e")]

from harness import Editor, server_env, start_editor, stop_editor  # noqa: E402


@pytest.fixture
async def editor(replay_ollama, typilot_home) -> AsyncIterator[Editor]:
    session = await start_editor(server_env(typilot_home, replay_ollama.url))
    try:
        yield session
    finally:
        await stop_editor(session)
