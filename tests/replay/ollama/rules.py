"""Scripted replies: what a test tells the replay server to answer, and to which request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from tests.replay.ollama.models import full_tag


@dataclass
class Rule:
    """A scripted reply. Rules are checked newest first; the first one that matches is used.

    ``match``: substring of the prompt (generate) / last user message (chat), or a callable
    ``(body: dict) -> bool``; ``None`` matches everything. ``gap``: matches only a
    fill-in-the-middle request (``/api/generate`` with a ``suffix``) whose prompt's last line
    (the line at the gap, where a ``gen:`` line sits) contains this text. ``model`` / ``path`` narrow it further
    (``path`` is ``"generate"``, ``"chat"`` or the full ``/api/...`` path). ``once=True`` (or
    ``times=N``) makes the rule one-shot; otherwise it is sticky.

    Reply: ``reply`` (``None``: the default generated code), or ``tokens`` (an explicit token
    list), ``thinking`` (streamed first, only when thinking is on for a thinking model),
    ``final_text`` (text carried on the ``done:true`` line), ``done_reason`` (default "stop").

    Pacing: ``tokens_per_second``, ``first_token_delay`` (seconds before the first chunk),
    ``prefill_rate`` (prompt tokens/s added to the first-token delay). Server defaults apply when
    ``None``.

    Failures: ``status`` (an HTTP status other than 200: answered before any byte of stream, body
    ``{"error": error or the status's usual Ollama message}`` or ``error_body``);
    ``error_after_tokens`` (a mid-stream ``{"error": ...}`` line after N tokens, status 200);
    ``error`` alone means a 500 with that message; ``stall_after_tokens`` (stop after N tokens and
    keep the connection open until the client hangs up).
    """

    match: str | Callable[[dict[str, Any]], bool] | None = None
    gap: str | None = None
    reply: str | None = None
    model: str | None = None
    path: str | None = None
    once: bool = False
    times: int | None = None
    tokens: list[str] | None = None
    thinking: str | None = None
    final_text: str | None = None
    done_reason: str | None = None
    tokens_per_second: float | None = None
    first_token_delay: float | None = None
    prefill_rate: float | None = None
    status: int | None = None
    error: str | None = None
    error_body: dict[str, Any] | None = None
    error_after_tokens: int | None = None
    stall_after_tokens: int | None = None
    used: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.once and self.times is None:
            self.times = 1
        if self.path is not None and not self.path.startswith("/"):
            self.path = f"/api/{self.path}"
        if self.path not in (None, "/api/generate", "/api/chat"):
            raise ValueError(f"rule path must be 'generate' or 'chat', got {self.path!r}")
        if self.model is not None:
            self.model = full_tag(self.model)
        if self.status is not None and not 100 <= int(self.status) <= 599:
            raise ValueError(f"rule status must be an HTTP status code, got {self.status!r}")
        for name in ("tokens_per_second", "prefill_rate"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"rule {name} must be > 0, got {value!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rule:
        """Build a rule from JSON (control API, ``--rules`` file); unknown keys are an error,
        keys starting with ``_`` are comments."""
        if not isinstance(data, dict):
            raise ValueError(f"a rule must be a JSON object, got {type(data).__name__}")
        data = {k: v for k, v in data.items() if not k.startswith("_")}  # "_comment" etc.
        known = {f.name for f in fields(cls)} - {"used"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown rule keys {sorted(unknown)}; known: {sorted(known)}")
        if data.get("match") is not None and not isinstance(data["match"], str):
            raise ValueError("rule 'match' must be a string")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if callable(self.match):
            out["match"] = repr(self.match)
        return out

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.used >= self.times

    def matches(self, path: str, model: str, text: str, body: dict[str, Any]) -> bool:
        """Does this rule answer a request to ``path`` for ``model``, whose prompt (or last user
        message) is ``text`` and whose JSON body is ``body``?"""
        if self.exhausted:
            return False
        if self.path is not None and self.path != path:
            return False
        if self.model is not None and self.model != model:
            return False
        if self.gap is not None and not self._matches_gap(path, body):
            return False
        if self.match is None:
            return True
        if callable(self.match):
            return bool(self.match(body))
        return self.match in text

    def _matches_gap(self, path: str, body: dict[str, Any]) -> bool:
        """A fill-in-the-middle request whose prompt's last line (the gap's) holds ``gap``."""
        suffix = body.get("suffix")
        if path != "/api/generate" or not isinstance(suffix, str) or not suffix:
            return False
        lines = str(body.get("prompt") or "").rstrip("\r\n").splitlines()
        return bool(lines) and self.gap is not None and self.gap in lines[-1]
