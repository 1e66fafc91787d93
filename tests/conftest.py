"""Fixtures shared by every test suite. Keep this file small: suites add their own conftest.py."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests import prerequisites
from tests.replay.ollama import ReplayOllama
from tests.replay.openai import ReplayOpenAI

# The suite must pass on a loaded machine: Hypothesis judges examples, not wall-clock time.
settings.register_profile("typilot", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "typilot"))


# -- every test can run, and CI runs every test (tests/prerequisites.py) -----------------------

_TALLY = prerequisites.Tally()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{prerequisites.MARK}(problem, how): what the test needs from outside Python "
        "(tests/prerequisites.py `needs`): skipped when missing, a failure under CI",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    prerequisites.apply_marks(item)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _TALLY.add(report)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _TALLY.outcomes["collection errors"] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI a test that did not run fails the run, whatever skipped it."""
    if prerequisites.under_ci() and _TALLY.skips and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if session.config.option.collectonly or not _TALLY.outcomes:
        return
    suite = os.environ.get(prerequisites.SUITE_ENV) or f"pytest (Python {sys.version.split()[0]})"
    prerequisites.record(_TALLY.as_json(suite))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _TALLY.outcomes:
        return
    suite = os.environ.get(prerequisites.SUITE_ENV) or f"Python {sys.version.split()[0]}"
    terminalreporter.section("what ran")
    for line in prerequisites.summary_lines(_TALLY.as_json(suite)):
        terminalreporter.write_line(line)
    if prerequisites.under_ci() and _TALLY.skips:
        terminalreporter.write_line(
            f"FAILED: {sum(_TALLY.skips.values())} test(s) did not run under CI "
            "(CI must run every test: see the reasons above)",
            red=True,
            bold=True,
        )


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
