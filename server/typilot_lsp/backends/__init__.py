"""Model backends: the protocol the run engine uses (``base``) and Ollama (``ollama``).

``OllamaBackend`` / ``OllamaClient`` are imported lazily so that importing the protocol
types stays cheap and free of import cycles (``privacy`` uses ``base``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from typilot_lsp.backends.base import Backend, GenerationRequest, ModelInfo, StreamStats

if TYPE_CHECKING:
    from typilot_lsp.backends.ollama import OllamaBackend, OllamaClient

__all__ = [
    "Backend",
    "GenerationRequest",
    "ModelInfo",
    "OllamaBackend",
    "OllamaClient",
    "StreamStats",
]


def __getattr__(name: str) -> Any:
    if name in ("OllamaBackend", "OllamaClient"):
        from typilot_lsp.backends import ollama

        return getattr(ollama, name)
    raise AttributeError(name)
