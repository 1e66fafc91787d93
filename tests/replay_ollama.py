"""Old import path of the Ollama replay server, now the package ``tests.replay.ollama``.

Kept only for modules being edited on another branch at the time of the move (tests/conftest.py,
tests/editors/test_emacs_*.py); import ``tests.replay.ollama`` in new code. Delete this module
once nothing imports ``tests.replay_ollama`` (``git grep tests.replay_ollama``).
"""

from __future__ import annotations

from tests.replay.ollama import ReplayOllama

__all__ = ["ReplayOllama"]
