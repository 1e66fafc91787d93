"""Old import path of the OpenAI-compatible replay server, now ``tests.replay.openai``.

Kept only for tests/conftest.py, edited on another branch at the time of the move; import
``tests.replay.openai`` in new code. Delete this module once nothing imports
``tests.replay_openai`` (``git grep tests.replay_openai``).
"""

from __future__ import annotations

from tests.replay.openai import ReplayOpenAI

__all__ = ["ReplayOpenAI"]
