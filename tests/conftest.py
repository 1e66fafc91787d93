"""Fixtures shared by every test suite. Keep this file small: suites add their own conftest.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.replay_ollama import ReplayOllama
from tests.replay_openai import ReplayOpenAI

# The suite must pass on a loaded machine: Hypothesis judges examples, not wall-clock time.
settings.register_profile("typilot", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "typilot"))


@pytest.fixture
def replay_ollama() -> Iterator[ReplayOllama]:
    """A started Ollama replay server on a free loopback port; stopped after the test."""
    server = ReplayOllama()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def replay_openai() -> Iterator[ReplayOpenAI]:
    """A started OpenAI-compatible (llama-server-like) replay server on loopback."""
    server = ReplayOpenAI().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def typilot_home(tmp_path: Path) -> dict[str, str]:
    """An environment for a process under test whose user dirs all live in a tmp dir.

    A copy of ``os.environ`` with HOME and XDG_DATA_HOME / XDG_CONFIG_HOME / XDG_CACHE_HOME
    pointing into ``tmp_path / "home"`` (created), and OLLAMA_HOST (and Typilot's own
    TYPILOT_SETTINGS, TYPILOT_HISTORY_PATH) removed so nothing reaches a
    real Ollama by accident. Pass it as ``env=`` to subprocesses.
    """
    home = tmp_path / "home"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OLLAMA_HOST", "TYPILOT_SETTINGS", "TYPILOT_HISTORY_PATH")
    }
    env["HOME"] = str(home)
    for var, sub in (
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_CACHE_HOME", ".cache"),
    ):
        path = home / sub
        path.mkdir(parents=True, exist_ok=True)
        env[var] = str(path)
    return env
