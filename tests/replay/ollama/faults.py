"""Ollama's errors, as its server words them: the bodies of its status codes, what a rule's
``status`` / ``error`` answers before any byte of a stream, and the requests Ollama refuses
(in the order its handlers check them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.replay.ollama.connection import JSON_UTF8
from tests.replay.ollama.wire import http_phrase

if TYPE_CHECKING:
    from tests.replay.ollama.rules import Rule

RUNNER_CRASHED_ERROR = (
    "model runner has unexpectedly stopped, this may be due to resource limitations or an "
    "internal error, check ollama server logs for details"
)
BUSY_ERROR = "server busy, please try again.  maximum pending requests exceeded"
CLOUD_DISABLED_ERROR = "ollama cloud is disabled: remote model is unavailable"
SIGNIN_URL = "https://ollama.com/connect?name=replay-ollama&key=c3NoLWVkMjU1MTkgQUFBQUMzTnphQzFs"
UNAUTHORIZED_BODY = {"error": "unauthorized", "signin_url": SIGNIN_URL}


def status_message(status: int, model: dict[str, Any]) -> str:
    """The message Ollama sends with ``status`` for a request to ``model``."""
    cloud = model["remote_host"] or "https://ollama.com:443"
    return {
        400: "invalid request",
        401: "unauthorized",
        403: CLOUD_DISABLED_ERROR,
        404: f"model '{model['name']}' not found",
        429: "you have reached your hourly usage limit, please try again later",
        500: RUNNER_CRASHED_ERROR,
        502: f'Post "{cloud}/api/chat": dial tcp: lookup ollama.com: no such host',
        503: BUSY_ERROR,
    }.get(status, http_phrase(status).lower() or "error")


def status_body(status: int, model: dict[str, Any]) -> dict[str, Any]:
    if status == 401:
        return dict(UNAUTHORIZED_BODY)
    return {"error": status_message(status, model)}


@dataclass(frozen=True)
class ErrorReply:
    """An error answered instead of a generation: its status, JSON body and content type, after
    ``delay`` seconds."""

    status: int
    body: dict[str, Any]
    content_type: str = JSON_UTF8
    delay: float = 0.0


def scripted_failure(rule: Rule | None, model: dict[str, Any]) -> ErrorReply | None:
    """The error a rule answers before any byte of the stream: its ``status`` (not 200), or its
    ``error`` alone (no ``error_after_tokens`` / ``stall_after_tokens``: a 500)."""
    if rule is None:
        return None
    mid_stream = rule.error_after_tokens is not None or rule.stall_after_tokens is not None
    if rule.status in (None, 200) and not (rule.error and not mid_stream):
        return None
    status = rule.status or 500
    body = rule.error_body or status_body(status, model)
    if rule.error:
        body = {**body, "error": rule.error}
    # A runner failure reaches the client through streamResponse, which sets a bare
    # application/json; every other error is a plain gin c.JSON (with charset).
    content_type = "application/json" if status == 500 else JSON_UTF8
    return ErrorReply(status, body, content_type, rule.first_token_delay or 0.0)


def refusal_before_model(body: dict[str, Any], is_chat: bool) -> ErrorReply | None:
    """What Ollama refuses before it looks the model up."""
    top_logprobs = body.get("top_logprobs", 0)
    if not isinstance(top_logprobs, int) or not 0 <= top_logprobs <= 20:
        return ErrorReply(400, {"error": "top_logprobs must be between 0 and 20"})
    if is_chat and not body.get("model"):
        return ErrorReply(400, {"error": "model is required"})
    return None


def refusal_for_model(
    body: dict[str, Any], model: dict[str, Any], is_chat: bool, cloud: str
) -> ErrorReply | None:
    """What Ollama refuses once it knows the model: a cloud model while cloud is off, raw mode
    with a template, and a capability the model lacks (thinking, insert, tools)."""
    if model["remote_host"] and cloud == "unauthorized":
        return ErrorReply(401, dict(UNAUTHORIZED_BODY))
    if model["remote_host"] and cloud != "ok":
        return ErrorReply(403, {"error": CLOUD_DISABLED_ERROR})
    templated = body.get("template") or body.get("system") or body.get("context")
    if not is_chat and body.get("raw") and templated:
        return ErrorReply(400, {"error": "raw mode does not support template, system, or context"})
    return _missing_capability(body, model, is_chat)


def _missing_capability(
    body: dict[str, Any], model: dict[str, Any], is_chat: bool
) -> ErrorReply | None:
    caps = model["capabilities"]
    if body.get("think") not in (None, False) and "thinking" not in caps:
        return ErrorReply(400, {"error": f'"{body.get("model")}" does not support thinking'})
    registry_name = f"registry.ollama.ai/library/{model['name']}"
    if not is_chat and body.get("suffix") and "insert" not in caps:
        return ErrorReply(400, {"error": f"{registry_name} does not support insert"})
    if is_chat and body.get("tools") and "tools" not in caps:
        return ErrorReply(400, {"error": f"{registry_name} does not support tools"})
    return None
