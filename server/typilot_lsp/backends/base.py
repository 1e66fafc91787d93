"""The backend protocol the run engine talks to.

A backend turns one :class:`GenerationRequest` into a stream of text pieces. It owns the
privacy guards (``prepare`` refuses a remote host or a cloud model before any prompt is
sent) and maps every failure to a :class:`typilot_lsp.errors.TypilotError` whose message
the user can act on. A run calls ``prepare`` once, then ``stream`` with the model it named;
``warm`` sends a request's prompt without streaming a reply, so that the model server's prompt
cache holds it when the run comes (see ``typilot_lsp.runs.prewarm``). Options that only one
kind of server knows (Ollama's ``keep_alive`` and ``think``) are the backend's own.

Use ``stream()`` under :func:`contextlib.aclosing` (or let the task be cancelled): closing
the generator closes the HTTP connection at once, which is how Ollama cancels a generation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, runtime_checkable

import attrs

__all__ = ["Backend", "FimPrompt", "GenerationRequest", "ModelInfo", "Notify", "StreamStats"]

Notify = Callable[[str], None]
"""Receives short status lines while a backend waits (e.g. ``model loading``)."""


@attrs.frozen
class FimPrompt:
    """Fill-in-the-middle: the code before the gap and the code after it."""

    prefix: str
    suffix: str


@attrs.frozen
class GenerationRequest:
    model: str
    system: str
    prompt: str  # the user message
    options: dict[str, Any] = attrs.field(factory=dict)  # the backend's pass-through options
    max_tokens: int | None = None
    """Bound on the reply's length (Ollama `num_predict`, OpenAI `max_tokens`); None: none."""
    fim: FimPrompt | None = None
    """Set when the run may use fill-in-the-middle: the backend uses it where the model
    supports it, else the chat messages (``system`` / ``prompt``)."""
    prefill: str = ""
    """Chat only: the start of the reply (e.g. the opening code fence), sent as a final
    assistant message that the model continues. The streamed text is what the model wrote
    after it, whether or not the server repeats it (``after_prefill``)."""
    stop: tuple[str, ...] = ()
    """Chat only: the model stops where it would write one of these (e.g. the closing fence)."""

    def messages(self) -> list[dict[str, str]]:
        """The chat: the system message, the user's, and the start of the reply to continue
        (llama-server, Ollama, LM Studio and vLLM continue a final assistant message)."""
        messages = [{"role": "system", "content": self.system}] if self.system else []
        messages.append({"role": "user", "content": self.prompt})
        if self.prefill:
            messages.append({"role": "assistant", "content": self.prefill})
        return messages


def after_prefill(pieces: AsyncIterator[str], prefill: str) -> AsyncIterator[str]:
    """The model's own text after ``prefill``: llama-server repeats a continued assistant
    message at the start of its reply, Ollama does not; the run sees the same text from both
    (and the output filter judges the model's text, not the fence it was given). Without a
    prefill, `pieces` themselves (no step per token)."""
    return _without_echo(pieces, prefill) if prefill else pieces


async def _without_echo(pieces: AsyncIterator[str], prefill: str) -> AsyncIterator[str]:
    head: str | None = ""
    async for piece in pieces:
        if head is None:
            yield piece
            continue
        head += piece
        if len(head) < len(prefill) and prefill.startswith(head):
            continue  # not yet known whether the server repeats the prefill
        text = head[len(prefill) :] if head.startswith(prefill) else head
        head = None
        if text:
            yield text


@attrs.define
class StreamStats:
    """Filled in by ``stream()`` as it goes."""

    first_token_at: float | None = None  # time.monotonic() of the first response text
    token_count: int = 0  # eval_count from the done line, else chunks seen
    done_reason: str | None = None  # "stop", "length", ... from the done line
    started_at: float | None = None  # time.monotonic() when the request was sent
    prompt_eval_count: int | None = None
    eval_duration_ns: int | None = None
    load_duration_ns: int | None = None
    total_duration_ns: int | None = None
    thinking_chars: int = 0  # thinking text seen (never yielded)
    endpoint: str | None = None  # "chat" or "fim": the path the reply came by


@attrs.frozen
class ModelInfo:
    name: str
    capabilities: tuple[str, ...]
    context_length: int | None
    remote_host: str | None  # set for cloud/remote models
    remote_model: str | None = None
    label: str = ""
    """The name shown to the user ("": ``name``); for a server's only model, known by its
    file's path, the file's name."""

    @property
    def shown_name(self) -> str:
        return self.label or self.name


@runtime_checkable
class Backend(Protocol):
    @property
    def host(self) -> str:
        """The model server's URL (for messages and the history)."""
        ...

    async def prepare(self, model: str, notify: Notify | None = None) -> ModelInfo:
        """Check the host and model (privacy guards included) and describe the model.

        ``info.name`` is the model to request (a backend may resolve an empty name)."""
        ...

    def stream(
        self,
        request: GenerationRequest,
        stats: StreamStats | None = None,
        notify: Notify | None = None,
    ) -> AsyncIterator[str]:
        """Yield the response text as it arrives (thinking text is not yielded).

        ``request.model`` is the name ``prepare`` returned: ``stream`` does not prepare again."""
        ...

    async def warm(self, request: GenerationRequest) -> int | None:
        """Send ``request``'s prompt for the server to evaluate and cache, asking for at most
        one token and reading no stream; how many prompt tokens it evaluated, if it says."""
        ...

    async def aclose(self) -> None: ...
