"""The replay servers: loopback servers that speak a model server's wire protocol with scripted
replies, so that every suite (Python, Neovim, VS Code, Emacs) runs Typilot against the real
protocol without a model. ``tests.replay.ollama`` speaks Ollama's API (a package: see its
docstring and README.md here), ``tests.replay.openai`` the OpenAI-compatible API as llama.cpp's
``llama-server`` does. The product never imports them."""

from __future__ import annotations

import sys


def ollama_process(*args: str) -> list[str]:
    """The command that runs the Ollama replay server as its own process (it prints
    ``LISTENING http://127.0.0.1:PORT``); start it with ``cwd=tests.REPO_ROOT``, where the
    ``tests`` package is."""
    return [sys.executable, "-m", "tests.replay.ollama", *args]
