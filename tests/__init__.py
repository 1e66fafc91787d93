"""Typilot LSP tests, mirroring the packages of server/typilot_lsp.

A package, so that the helpers are imported by name from any suite, a bench or a child process
started in the repository root (``REPO_ROOT``): `tests.replay.ollama` (the Ollama replay
server), `tests.e2e.harness` (an LSP client that behaves like an editor),
`tests.history.history_testutil`, `tests.voice.audio`, `tests.editors.emacs_harness`,
`tests.neovim.nvim_harness`.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
"""The clone's root: the working directory for a child process that imports ``tests`` or
``bench`` (``python -m tests.replay.ollama``, ``python -m bench.NAME``)."""
