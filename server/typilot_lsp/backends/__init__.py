"""Model backends: the protocol the run engine uses (``base``), Ollama (``ollama``) and
OpenAI-compatible servers (``openai``: llama.cpp's llama-server, LM Studio, vLLM, ...).

:func:`create_backend` picks one by the ``backend`` setting; every host (the language server,
``typilot-lsp apply``) builds its backend through it. The backend classes are imported lazily
so that importing the protocol types stays cheap and free of import cycles (``privacy`` uses
``base``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from typilot_lsp.backends.base import (
    Backend,
    FimPrompt,
    GenerationRequest,
    ModelInfo,
    Notify,
    StreamStats,
)

if TYPE_CHECKING:
    import httpx

    from typilot_lsp.backends.ollama import OllamaBackend, OllamaClient
    from typilot_lsp.backends.openai import OpenAIBackend, OpenAIClient
    from typilot_lsp.config import Config

__all__ = [
    "Backend",
    "FimPrompt",
    "GenerationRequest",
    "ModelInfo",
    "Notify",
    "OllamaBackend",
    "OllamaClient",
    "OpenAIBackend",
    "OpenAIClient",
    "StreamStats",
    "create_backend",
]


def create_backend(config: Config, *, transport: httpx.AsyncBaseTransport | None = None) -> Backend:
    """The backend the settings select (``backend`` = ``ollama`` | ``openai``).

    Raises :class:`~typilot_lsp.errors.InvalidHost` for an Ollama host that cannot be parsed;
    the privacy guards run on every request, never here."""
    if config.backend == "openai":
        from typilot_lsp.backends.openai import OpenAIBackend

        return OpenAIBackend.from_config(config, transport=transport)
    from typilot_lsp.backends.ollama import OllamaBackend

    return OllamaBackend.from_config(config, transport=transport)


def __getattr__(name: str) -> Any:
    if name in ("OllamaBackend", "OllamaClient"):
        from typilot_lsp.backends import ollama

        return getattr(ollama, name)
    if name in ("OpenAIBackend", "OpenAIClient"):
        from typilot_lsp.backends import openai

        return getattr(openai, name)
    raise AttributeError(name)
