"""What Ollama's Go server puts on the wire and how it reads what it gets: JSON as Go's
``encoding/json`` writes it, RFC 3339 times with nanoseconds, Go durations for ``keep_alive``,
and request bodies decoded (and refused) as gin + ``encoding/json`` do."""

from __future__ import annotations

import http
import ipaddress
import json
import math
import re
import time
from typing import Any

_GO_ESCAPES = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


def go_json(obj: Any) -> bytes:
    """Serialize like Go's ``json.Marshal``: compact, UTF-8, HTML characters escaped."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in _GO_ESCAPES:
        text = text.replace(char, escaped)
    return text.encode("utf-8", "surrogatepass")


def rfc3339_ns(ns: int | None = None) -> str:
    """A UTC time as Go's ``time.RFC3339Nano`` (nanoseconds, trailing zeros trimmed)."""
    if ns is None:
        ns = time.time_ns()
    sec, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    digits = f"{frac:09d}".rstrip("0")
    return f"{base}.{digits}Z" if digits else f"{base}Z"


def http_phrase(status: int) -> str:
    """``404`` -> ``Not Found`` ("" for a status Python does not name)."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ----------------------------------------------------------------------------------------------
# keep_alive: a number of seconds or a Go duration

_GO_DURATION = re.compile(r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+")
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
DEFAULT_KEEP_ALIVE_S = 300.0


def parse_keep_alive(value: Any) -> float:
    """``keep_alive`` in seconds as Ollama reads it (``api.Duration``): a number is seconds, a
    string a Go duration (``"5m"``, ``"1h30m"``), a negative value is forever (``math.inf``),
    absent is 5 minutes. Raises ``ValueError`` with Go's message for a bad string."""
    if value is None:
        return DEFAULT_KEEP_ALIVE_S
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("invalid duration")  # not a number or a string
    if isinstance(value, (int, float)):
        return math.inf if value < 0 else float(value)
    text = value.strip()
    if text in ("0", "+0", "-0"):
        return 0.0
    if not _GO_DURATION.fullmatch(text):
        if re.fullmatch(r"[-+]?[\d.]+", text):
            raise ValueError(f'time: missing unit in duration "{value}"')
        raise ValueError(f'time: invalid duration "{value}"')
    total = sum(float(num) * _GO_UNITS[unit] for num, unit in _GO_DURATION_PART.findall(text))
    return math.inf if text.startswith("-") and total > 0 else total


# ----------------------------------------------------------------------------------------------
# Request bodies, decoded into Go structs

_GO_TYPE = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "bool",
    int: "number",
    float: "number",
}
_FIELD_TYPES: dict[str, tuple[type, str]] = {
    "model": (str, "string"),
    "prompt": (str, "string"),
    "suffix": (str, "string"),
    "system": (str, "string"),
    "template": (str, "string"),
    "stream": (bool, "bool"),
    "raw": (bool, "bool"),
    "messages": (list, "[]api.Message"),
    "options": (dict, "map[string]interface {}"),
}
_GO_STRUCT = {"/api/chat": "api.ChatRequest", "/api/show": "api.ShowRequest"}


class BodyError(ValueError):
    """A request body Ollama answers with 400 and this message."""


def go_decode_error(text: str, exc: json.JSONDecodeError) -> str:
    """Roughly the message Go's encoding/json gives for the same bad input."""
    if exc.pos >= len(text.rstrip()):
        return "unexpected EOF"
    ch = text[exc.pos]
    if exc.msg.startswith("Expecting property name"):
        return f"invalid character '{ch}' looking for beginning of object key string"
    if exc.msg.startswith("Expecting ':'"):
        return f"invalid character '{ch}' after object key"
    if exc.msg.startswith("Expecting ','"):
        return f"invalid character '{ch}' after object key:value pair"
    return f"invalid character '{ch}' looking for beginning of value"


def decode_body(path: str, raw: bytes) -> dict[str, Any]:
    """The JSON body of a request to ``path``, checked as Go decodes it into its request
    struct; raises ``BodyError`` with the message Ollama answers 400 with."""
    text = raw.decode("utf-8", "replace").lstrip()
    if not text.strip():
        raise BodyError("missing request body")
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError as exc:
        raise BodyError(go_decode_error(text, exc)) from None
    target = _GO_STRUCT.get(path, "api.GenerateRequest")
    if value is None:  # JSON null decodes into the zero request
        value = {}
    if not isinstance(value, dict):
        kind = _GO_TYPE.get(type(value), "value")
        raise BodyError(f"json: cannot unmarshal {kind} into Go value of type {target}")
    _check_field_types(value, target)
    if path != "/api/show":
        try:
            parse_keep_alive(value.get("keep_alive"))
        except ValueError as exc:
            raise BodyError(str(exc)) from None
    return value


def _check_field_types(value: dict[str, Any], target: str) -> None:
    for key, (typ, go_type) in _FIELD_TYPES.items():
        v = value.get(key)
        # A bool is an int to Python, never a number to Go.
        if v is None or (isinstance(v, typ) and (typ is bool or not isinstance(v, bool))):
            continue
        kind = _GO_TYPE.get(type(v), "value")
        struct = target.split(".")[1]
        raise BodyError(
            f"json: cannot unmarshal {kind} into Go struct field {struct}.{key} of type {go_type}"
        )


def event_body(raw: bytes) -> Any:
    """A request body as the event log keeps it: JSON when it parses, else the text."""
    if not raw:
        return None
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
