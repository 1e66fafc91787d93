#!/usr/bin/env python3
"""A replay server that speaks Ollama's HTTP API, for Typilot LSP's tests.

It is a test instrument, not part of the product. It reproduces the wire protocol described
in ``/work/shared/ollama-api.md`` (sections 1, 2, 4, 6 and 7): chunked NDJSON streams with one
JSON object per chunk, real status codes and error bodies, mid-stream ``{"error": ...}`` lines,
load-only replies, thinking chunks, ``/api/tags`` and ``/api/show`` with local and cloud
models, and realistic pacing (first-token delay, then one token per chunk at the decode rate).
It records an event log (``request``, ``complete``, ``disconnect``, ``stall``, ``error``) that
tests assert on, including how many tokens had been sent when a client hung up.

Use it in-process::

    with ReplayOllama() as ollama:
        ollama.add_rule(match="add two numbers", reply="def add(a, b):\\n    return a + b\\n")
        ...  # point the code under test at ollama.url
        ollama.wait_for("complete")

or as a process (for editor tests)::

    python tests/replay_ollama.py --port 0
    # prints: LISTENING http://127.0.0.1:PORT

and script it through the control API: ``POST /_replay/rules``, ``GET /_replay/events``,
``POST /_replay/reset`` (see ``ReplayOllama._control``). It only ever binds loopback addresses.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email.utils
import hashlib
import http
import ipaddress
import json
import math
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any, TextIO

__all__ = [
    "BUSY_ERROR",
    "DEFAULT_MODELS",
    "RUNNER_CRASHED_ERROR",
    "ReplayOllama",
    "Rule",
    "default_reply",
    "extract_instruction",
    "parse_keep_alive",
    "tokenize",
]

RUNNER_CRASHED_ERROR = (
    "model runner has unexpectedly stopped, this may be due to resource limitations or an "
    "internal error, check ollama server logs for details"
)
BUSY_ERROR = "server busy, please try again.  maximum pending requests exceeded"
CLOUD_DISABLED_ERROR = "ollama cloud is disabled: remote model is unavailable"
SIGNIN_URL = "https://ollama.com/connect?name=replay-ollama&key=c3NoLWVkMjU1MTkgQUFBQUMzTnphQzFs"
DEFAULT_VERSION = "0.12.6"
DEFAULT_TOKENS_PER_SECOND = 150.0
DEFAULT_FIRST_TOKEN_DELAY = 0.03
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024


# ----------------------------------------------------------------------------------------------
# Models


def _model(
    name: str,
    *,
    family: str,
    parameter_size: str,
    quantization_level: str,
    size: int,
    capabilities: Iterable[str],
    context_length: int,
    remote_host: str | None = None,
    remote_model: str | None = None,
    template: str | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "family": family,
        "parameter_size": parameter_size,
        "quantization_level": quantization_level,
        "size": size,
        "capabilities": list(capabilities),
        "context_length": context_length,
        "remote_host": remote_host,
        "remote_model": remote_model,
        "template": template,
    }


_QWEN_CODER_TEMPLATE = (
    "{{- if .Suffix }}<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>\n"
    "{{- else if .Messages }}{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}"
    "<|im_end|>\n{{ end }}<|im_start|>assistant\n"
    "{{- else }}{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
    "<|im_start|>user\n{{ .Prompt }}<|im_end|>\n<|im_start|>assistant\n{{ end }}"
)
_QWEN3_TEMPLATE = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
    "<|im_start|>assistant\n{{- if .Thinking }}<think>\n{{ .Thinking }}\n</think>{{ end }}"
)

#: The models ``/api/tags`` lists by default (``qwen2.5-coder:1.5b`` is the product's default).
DEFAULT_MODELS: tuple[dict[str, Any], ...] = (
    _model(
        "qwen2.5-coder:1.5b",
        family="qwen2",
        parameter_size="1.5B",
        quantization_level="Q4_K_M",
        size=986_062_089,
        capabilities=("completion", "tools", "insert"),
        context_length=32768,
        template=_QWEN_CODER_TEMPLATE,
    ),
    _model(
        "qwen3:1.7b",
        family="qwen3",
        parameter_size="2.0B",
        quantization_level="Q4_K_M",
        size=1_359_293_444,
        capabilities=("completion", "tools", "thinking"),
        context_length=40960,
        template=_QWEN3_TEMPLATE,
    ),
    _model(
        "gpt-oss:120b-cloud",
        family="gptoss",
        parameter_size="116.8B",
        quantization_level="MXFP4",
        size=384,
        capabilities=("completion", "tools", "thinking"),
        context_length=131072,
        remote_host="https://ollama.com:443",
        remote_model="gpt-oss:120b",
    ),
    _model(
        "deepseek-v4-pro:cloud",
        family="deepseek2",
        parameter_size="671B",
        quantization_level="FP8",
        size=402,
        capabilities=("completion", "tools", "thinking"),
        context_length=163840,
        remote_host="https://ollama.com:443",
        remote_model="deepseek-v4-pro",
    ),
)

_MODEL_KEYS = {f for f in DEFAULT_MODELS[0]}


def _normalize_model(spec: str | dict[str, Any]) -> dict[str, Any]:
    """Fill in a model entry from a name or a partial dict (see ``DEFAULT_MODELS``)."""
    if isinstance(spec, str):
        spec = {"name": spec}
    unknown = set(spec) - _MODEL_KEYS
    if unknown:
        raise ValueError(f"unknown model keys {sorted(unknown)}; known: {sorted(_MODEL_KEYS)}")
    if not isinstance(spec.get("name"), str) or not spec["name"]:
        raise ValueError("a model needs a non-empty string 'name'")
    name = _full_tag(spec["name"])
    base = name.split(":", 1)[0]
    is_cloud = name.endswith(":cloud") or name.endswith("-cloud")
    remote_host = spec.get("remote_host", "https://ollama.com:443" if is_cloud else None)
    remote_model = spec.get("remote_model")
    if remote_host and not remote_model:
        remote_model = re.sub(r"(:cloud|-cloud)$", "", name)
    return {
        "name": name,
        "family": spec.get("family") or re.sub(r"[^a-z0-9]", "", base.lower()) or "llama",
        "parameter_size": spec.get("parameter_size") or "1.5B",
        "quantization_level": spec.get("quantization_level") or "Q4_K_M",
        "size": int(spec.get("size") or (384 if remote_host else 986_062_089)),
        "capabilities": list(spec.get("capabilities") or ["completion"]),
        "context_length": int(spec.get("context_length") or 32768),
        "remote_host": remote_host,
        "remote_model": remote_model,
        "template": spec.get("template") or "{{ .Prompt }}",
    }


def _full_tag(name: str) -> str:
    """``qwen3`` -> ``qwen3:latest``, as Ollama's name parser does."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


# ----------------------------------------------------------------------------------------------
# Wire helpers


def go_json(obj: Any) -> bytes:
    """Serialize like Go's ``json.Marshal``: compact, UTF-8, HTML characters escaped."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
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


_TOKEN_RE = re.compile(
    r"'(?:[sdmt]|ll|ve|re)(?![^\W\d_])"  # contractions
    r"| ?[^\W\d_]+"  # letters, with one optional leading space
    r"| ?\d{1,3}"  # numbers, at most three digits a token
    r"| ?(?:[^\s\w]|_)+"  # punctuation and underscores
    r"|\s+(?!\S)|\s+"  # whitespace; the last space goes with the next word
)


def tokenize(text: str) -> list[str]:
    """Split text into word-piece tokens the way a BPE tokenizer roughly does.

    Joining the tokens gives the text back exactly. Words keep their leading space, long words
    are split into pieces of at most six characters, indentation stays its own token.
    """
    tokens: list[str] = []
    for match in _TOKEN_RE.finditer(text):
        piece = match.group(0)
        body = piece.lstrip(" ")
        if len(body) > 6 and body.isalpha():
            lead = piece[: len(piece) - len(body)]
            parts = [body[i : i + 6] for i in range(0, len(body), 6)]
            parts[0] = lead + parts[0]
            tokens.extend(parts)
        else:
            tokens.append(piece)
    # The regex is exhaustive, but make the invariant explicit (join == text).
    if "".join(tokens) != text:  # pragma: no cover - defensive
        return list(text)
    return tokens


# ----------------------------------------------------------------------------------------------
# The default reply: plausible code for the instruction


_PREFIX_RE = re.compile(
    r"(?im)^[ \t]*(?:#+|//+|--+|;+|%+|/\*+|\*|<!--)?[ \t]*(gen|fix|sum)[ \t]*:[ \t]*(.+?)[ \t]*(?:\*/|-->)?[ \t]*$"
)
_INSTRUCTION_RE = re.compile(r"(?im)^[ \t]*(?:instruction|task|request)[ \t]*:[ \t]*(.+?)[ \t]*$")
_STOPWORDS = frozenset(
    """a an the that which who to of for and or in on with from by me my please write create make
    implement define code function functions method def fn func python javascript typescript lua
    rust go golang program snippet small simple new given returns return it is are be this some
    using into as can should would could i you we want need let lets let's take takes if
    whether""".split()  # noqa: SIM905 - a word list reads better as text
)
_LANG_HINTS: tuple[tuple[str, str], ...] = (
    ("typescript", r"\btypescript\b|```ts\b|\.tsx?\b"),
    ("javascript", r"\bjavascript\b|```js\b|\.jsx?\b|\bnode\.?js\b"),
    ("lua", r"\blua\b|\.lua\b"),
    ("rust", r"\brust\b|```rs\b|\.rs\b"),
    ("go", r"\bgolang\b|```go\b|\.go\b|\bin go\b"),
    ("python", r"\bpython\b|```py|\.py\b"),
)


def extract_instruction(text: str) -> str:
    """The instruction inside a prompt: a ``gen:``/``fix:``/``sum:`` line, a ``Task:`` /
    ``Instruction:`` line (Typilot's own prompt: ``Task: write the python code that belongs at
    <<<CURSOR>>>: add two numbers. Reply with only that code.``), else the last non-empty line."""
    found = _PREFIX_RE.findall(text)
    if found:
        kind, rest = found[-1]
        return f"{kind.lower()}: {rest}" if kind.lower() != "gen" else rest
    found2 = _INSTRUCTION_RE.findall(text)
    if found2:
        task = str(found2[-1])
        task = re.sub(r"(?i)^write the .*? code that belongs at \S+?:\s*", "", task)
        task = re.sub(r"(?i)\.?\s*Reply (?:with|in) .*$", "", task)
        return task.strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


_LANGUAGE_IDS = {
    "python": "python",
    "javascript": "javascript",
    "javascriptreact": "javascript",
    "typescript": "typescript",
    "typescriptreact": "typescript",
    "lua": "lua",
    "rust": "rust",
    "go": "go",
}


def _detect_language(text: str) -> str:
    header = re.search(r"(?im)^language:\s*([\w+-]+)", text)
    if header and header.group(1).lower() in _LANGUAGE_IDS:
        return _LANGUAGE_IDS[header.group(1).lower()]
    lowered = text.lower()
    best: tuple[int, str] | None = None
    for lang, pattern in _LANG_HINTS:
        m = re.search(pattern, lowered)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), lang)
    return best[1] if best else "python"


def _words(instruction: str) -> list[str]:
    return [w for w in re.findall(r"[a-z][a-z0-9]*", instruction.lower()) if w not in _STOPWORDS]


# keyword -> (params, python body, js body, lua body)
_BODIES: tuple[tuple[tuple[str, ...], tuple[str, ...], str, str, str], ...] = (
    (("add", "adds", "sum", "plus"), ("a", "b"), "return a + b", "return a + b;", "return a + b"),
    (
        ("subtract", "subtracts", "difference", "minus"),
        ("a", "b"),
        "return a - b",
        "return a - b;",
        "return a - b",
    ),
    (
        ("multiply", "multiplies", "product", "times"),
        ("a", "b"),
        "return a * b",
        "return a * b;",
        "return a * b",
    ),
    (
        ("divide", "divides", "quotient"),
        ("a", "b"),
        'if b == 0:\n    raise ZeroDivisionError("b must not be zero")\nreturn a / b',
        'if (b === 0) {\n  throw new RangeError("b must not be zero");\n}\nreturn a / b;',
        'assert(b ~= 0, "b must not be zero")\nreturn a / b',
    ),
    (
        ("reverse", "reverses", "reversed"),
        ("text",),
        "return text[::-1]",
        'return [...text].reverse().join("");',
        "return text:reverse()",
    ),
    (
        ("fibonacci", "fib"),
        ("n",),
        "a, b = 0, 1\nfor _ in range(n):\n    a, b = b, a + b\nreturn a",
        "let [a, b] = [0, 1];\nfor (let i = 0; i < n; i++) {\n  [a, b] = [b, a + b];\n}\nreturn a;",
        "local a, b = 0, 1\nfor _ = 1, n do\n  a, b = b, a + b\nend\nreturn a",
    ),
    (
        ("factorial",),
        ("n",),
        "result = 1\nfor i in range(2, n + 1):\n    result *= i\nreturn result",
        "let result = 1;\nfor (let i = 2; i <= n; i++) {\n  result *= i;\n}\nreturn result;",
        "local result = 1\nfor i = 2, n do\n  result = result * i\nend\nreturn result",
    ),
    (
        ("prime", "primes"),
        ("n",),
        "if n < 2:\n    return False\ni = 2\nwhile i * i <= n:\n    if n % i == 0:\n        return False\n    i += 1\nreturn True",
        "if (n < 2) return false;\nfor (let i = 2; i * i <= n; i++) {\n  if (n % i === 0) return false;\n}\nreturn true;",
        "if n < 2 then\n  return false\nend\nlocal i = 2\nwhile i * i <= n do\n  if n % i == 0 then\n    return false\n  end\n  i = i + 1\nend\nreturn true",
    ),
    (
        ("sort", "sorts", "sorted"),
        ("items",),
        "return sorted(items)",
        "return [...items].sort((x, y) => x - y);",
        "local copy = { table.unpack(items) }\ntable.sort(copy)\nreturn copy",
    ),
    (
        ("max", "maximum", "largest", "biggest"),
        ("items",),
        "return max(items)",
        "return Math.max(...items);",
        "return math.max(table.unpack(items))",
    ),
    (
        ("min", "minimum", "smallest"),
        ("items",),
        "return min(items)",
        "return Math.min(...items);",
        "return math.min(table.unpack(items))",
    ),
    (
        ("palindrome",),
        ("text",),
        "cleaned = [c.lower() for c in text if c.isalnum()]\nreturn cleaned == cleaned[::-1]",
        'const cleaned = text.toLowerCase().replace(/[^a-z0-9]/g, "");\nreturn cleaned === [...cleaned].reverse().join("");',
        'local cleaned = text:lower():gsub("[^%w]", "")\nreturn cleaned == cleaned:reverse()',
    ),
    (
        ("hello", "greet", "greeting", "greets"),
        ("name",),
        'return f"Hello, {name}!"',
        "return `Hello, ${name}!`;",
        'return "Hello, " .. name .. "!"',
    ),
    (
        ("count", "counts", "words"),
        ("text",),
        "return len(text.split())",
        "return text.split(/\\s+/).filter(Boolean).length;",
        'local n = 0\nfor _ in text:gmatch("%S+") do\n  n = n + 1\nend\nreturn n',
    ),
    (
        ("upper", "uppercase", "capitalize", "shout"),
        ("text",),
        "return text.upper()",
        "return text.toUpperCase();",
        "return text:upper()",
    ),
    (
        ("average", "mean", "avg"),
        ("items",),
        'if not items:\n    raise ValueError("items must not be empty")\nreturn sum(items) / len(items)',
        'if (items.length === 0) throw new RangeError("items must not be empty");\nreturn items.reduce((s, x) => s + x, 0) / items.length;',
        "local total = 0\nfor _, x in ipairs(items) do\n  total = total + x\nend\nreturn total / #items",
    ),
)


def _indent(body: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in body.splitlines())


def default_reply(text: str) -> str:
    """Deterministic, plausible code for the instruction found in ``text``.

    ``sum:`` instructions get one sentence of prose, ``fix:`` returns the last fenced code block
    of the prompt when there is one; everything else becomes a small function in the language
    the prompt mentions (Python by default).
    """
    instruction = extract_instruction(text)
    lowered = instruction.lower()
    to_fix = re.search(r"(?s)Code to fix:\n(.*?)\nCode after it:", text)
    if to_fix:  # Typilot's fix prompt: the target back, as the corrected replacement
        return to_fix.group(1).rstrip("\n") + "\n"
    to_sum = re.search(r"(?s)Code to summarize:\n(.*?)\n\s*Task:", text)
    if to_sum or lowered.startswith("sum:") or lowered.startswith("summar"):
        code = to_sum.group(1) if to_sum else text
        names = re.findall(
            r"(?m)^\s*(?:async\s+)?(?:def|function|fn|func|local function)\s+(\w+)", code
        )
        if names:
            listed = ", ".join(f"`{n}`" for n in dict.fromkeys(names))
            return f"Defines {listed}. It takes its inputs and returns the computed result.\n"
        return "This code defines a small helper function and returns its result to the caller.\n"
    if lowered.startswith("fix:"):
        fences = re.findall(r"```[^\n]*\n(.*?)```", text, re.S)
        if fences:
            return str(fences[-1])
        instruction = instruction[4:].strip()
    words = _words(instruction) or ["result"]
    if words[0].endswith("s") and len(words[0]) > 3 and not words[0].endswith("ss"):
        words[0] = words[0][:-1]
    words = words[:4]
    language = _detect_language(text)
    params: tuple[str, ...] = ("value",)
    py_body, js_body, lua_body = "return value", "return value;", "return value"
    for keys, p, py, js, lua in _BODIES:
        if any(w in keys for w in words):
            params, py_body, js_body, lua_body = p, py, js, lua
            break
    doc = instruction.strip().rstrip(".") or "Compute the result"
    doc = doc[0].upper() + doc[1:]
    snake = "_".join(words)
    camel = words[0] + "".join(w.capitalize() for w in words[1:])
    args = ", ".join(params)
    if language in ("javascript", "typescript"):
        if language == "typescript":
            args = ", ".join(f"{p}: any" for p in params)
        return f"/** {doc}. */\nfunction {camel}({args}) {{\n{_indent(js_body, '  ')}\n}}\n"
    if language == "lua":
        return f"--- {doc}.\nlocal function {snake}({args})\n{_indent(lua_body, '  ')}\nend\n"
    if language == "rust":
        return f"/// {doc}.\nfn {snake}(value: i64) -> i64 {{\n    value\n}}\n"
    if language == "go":
        return f"// {camel} does this: {doc}.\nfunc {camel}(value int) int {{\n\treturn value\n}}\n"
    return f'def {snake}({args}):\n    """{doc}."""\n{_indent(py_body, "    ")}\n'


def _default_thinking(text: str) -> str:
    instruction = extract_instruction(text) or "some code"
    return (
        f"The user wants: {instruction}. I should answer with just the code, "
        "keep it short and correct, and not add explanations.\n"
    )


# ----------------------------------------------------------------------------------------------
# Rules


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
            self.model = _full_tag(self.model)
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
        if self.exhausted:
            return False
        if self.path is not None and self.path != path:
            return False
        if self.model is not None and self.model != model:
            return False
        if self.gap is not None:
            suffix = body.get("suffix")
            if path != "/api/generate" or not isinstance(suffix, str) or not suffix:
                return False
            lines = str(body.get("prompt") or "").rstrip("\r\n").splitlines()
            if not lines or self.gap not in lines[-1]:
                return False
        if self.match is None:
            return True
        if callable(self.match):
            return bool(self.match(body))
        return self.match in text


# ----------------------------------------------------------------------------------------------
# A small HTTP/1.1 server connection


class _BadRequest(Exception):
    pass


@dataclass
class _Request:
    method: str
    target: str
    path: str
    query: dict[str, str]
    version: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


class _Conn:
    """One client connection: request parsing, responses, and hang-up detection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.eof = False
        self.headers_sent = False
        self.close_after = False  # the client asked for Connection: close
        self._data = asyncio.Event()
        self.hangup = asyncio.Event()
        # One reader for the connection's whole life: it fills the buffer, so a client that
        # hangs up is noticed at once, even while a response is being produced.
        self._pump_task = asyncio.ensure_future(self._pump())

    async def _pump(self) -> None:
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                self.buf += data
                self._data.set()
        except (ConnectionError, OSError):
            pass
        finally:
            self.eof = True
            self._data.set()
            self.hangup.set()

    def close(self) -> None:
        self._pump_task.cancel()

    async def _fill(self) -> bool:
        """Wait for more bytes; False at end of stream."""
        if self.eof:
            return False
        self._data.clear()
        await self._data.wait()
        return bool(self.buf) or not self.eof

    async def _read_until(self, sep: bytes, limit: int) -> bytes | None:
        start = 0
        while True:
            idx = self.buf.find(sep, start)
            if idx >= 0:
                out = bytes(self.buf[: idx + len(sep)])
                del self.buf[: idx + len(sep)]
                return out
            if len(self.buf) > limit:
                raise _BadRequest("request header too large")
            start = max(0, len(self.buf) - len(sep) + 1)
            if self.eof or not await self._fill():
                return None

    async def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if self.eof or not await self._fill():
                raise _BadRequest("unexpected end of request body")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def read_request(self) -> _Request | None:
        # Tolerate stray CRLFs between requests (RFC 9112 section 2.2).
        while True:
            while not self.buf:
                if self.eof or not await self._fill():
                    return None
            if self.buf.startswith(b"\r\n"):
                del self.buf[:2]
                continue
            break
        head = await self._read_until(b"\r\n\r\n", MAX_HEADER_BYTES)
        if head is None:
            return None
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ")
        except ValueError:
            raise _BadRequest(f"malformed request line {lines[0]!r}") from None
        if not version.startswith("HTTP/1."):
            raise _BadRequest(f"unsupported protocol {version!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep:
                raise _BadRequest(f"malformed header line {line!r}")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        if headers.get("expect", "").lower() == "100-continue":
            await self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await self._read_chunked_body()
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                raise _BadRequest("bad Content-Length") from None
            if length > MAX_BODY_BYTES:
                raise _BadRequest("request body too large")
            body = await self._read_exact(length) if length else b""
        parsed = urllib.parse.urlsplit(target)
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection and (
            version == "HTTP/1.1" or "keep-alive" in connection
        )
        return _Request(
            method=method,
            target=target,
            path=parsed.path,
            query=dict(urllib.parse.parse_qsl(parsed.query)),
            version=version,
            headers=headers,
            body=body,
            keep_alive=keep_alive,
        )

    async def _read_chunked_body(self) -> bytes:
        body = bytearray()
        while True:
            line = await self._read_until(b"\r\n", 1024)
            if line is None:
                raise _BadRequest("unexpected end of chunked body")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequest("bad chunk size") from None
            if size == 0:
                while True:  # trailers
                    trailer = await self._read_until(b"\r\n", MAX_HEADER_BYTES)
                    if trailer in (None, b"\r\n"):
                        return bytes(body)
            body += await self._read_exact(size)
            await self._read_exact(2)
            if len(body) > MAX_BODY_BYTES:
                raise _BadRequest("request body too large")

    async def write(self, data: bytes) -> None:
        """Write and flush; raises ConnectionError if the client is gone."""
        if self.writer.is_closing():
            raise ConnectionResetError("connection closed")
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            raise ConnectionResetError(str(exc)) from exc

    @staticmethod
    def _head(status: int, headers: list[tuple[str, str]]) -> bytes:
        phrase = _phrase(status)
        lines = [f"HTTP/1.1 {status} {phrase}"]
        lines += [f"{k}: {v}" for k, v in headers]
        lines.append(f"Date: {email.utils.formatdate(usegmt=True)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json; charset=utf-8",
        *,
        head_only: bool = False,
        close: bool = False,
    ) -> None:
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        if close or self.close_after:
            headers.append(("Connection", "close"))
        self.headers_sent = True
        await self.write(self._head(status, headers) + (b"" if head_only else body))

    async def send_json(self, status: int, obj: Any, **kw: Any) -> None:
        await self.send(status, go_json(obj), **kw)

    async def start_chunked(self, content_type: str = "application/x-ndjson") -> None:
        self.headers_sent = True
        headers = [("Content-Type", content_type), ("Transfer-Encoding", "chunked")]
        if self.close_after:
            headers.append(("Connection", "close"))
        await self.write(self._head(200, headers))

    async def send_chunk(self, data: bytes) -> None:
        await self.write(b"%x\r\n" % len(data) + data + b"\r\n")

    async def end_chunked(self) -> None:
        await self.write(b"0\r\n\r\n")

    async def wait_hangup(self) -> None:
        """Return when the client closes its side (EOF or reset). Data it pipelines is kept."""
        await self.hangup.wait()


class _Watch:
    """Hang-up detection while a response is being produced."""

    def __init__(self, conn: _Conn) -> None:
        self.conn = conn
        self.task: asyncio.Task[None] = asyncio.ensure_future(conn.wait_hangup())

    @property
    def gone(self) -> bool:
        return self.task.done()

    async def sleep(self, seconds: float) -> bool:
        """Sleep; return False at once if the client hangs up meanwhile."""
        if self.task.done():
            return False
        if seconds <= 0:
            await asyncio.sleep(0)
            return not self.task.done()
        done, _ = await asyncio.wait({self.task}, timeout=seconds)
        return not done

    async def forever(self) -> None:
        await asyncio.shield(self.task)

    def close(self) -> None:
        if not self.task.done():
            self.task.cancel()


# ----------------------------------------------------------------------------------------------
# The replay server


_KNOWN_PATHS = frozenset(
    {
        "/",
        "/api/version",
        "/api/tags",
        "/api/ps",
        "/api/status",
        "/api/show",
        "/api/generate",
        "/api/chat",
    }
)
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


def _go_decode_error(text: str, exc: json.JSONDecodeError) -> str:
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


class ReplayOllama:
    """An Ollama-compatible HTTP server on its own thread and event loop.

    ``ReplayOllama(host="127.0.0.1", port=0, models=None, tokens_per_second=150,
    first_token_delay=0.03, prefill_rate=None, version="0.12.6", cloud="ok", rules=())``.
    ``cloud`` is ``"ok"``, ``"unauthorized"`` (cloud models answer 401 with ``signin_url``) or
    ``"disabled"`` (403). All public methods are thread-safe.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        models: Iterable[str | dict[str, Any]] | None = None,
        tokens_per_second: float = DEFAULT_TOKENS_PER_SECOND,
        first_token_delay: float = DEFAULT_FIRST_TOKEN_DELAY,
        prefill_rate: float | None = None,
        load_delay: float = 0.0,
        num_parallel: int | None = None,
        max_queue: int | None = None,
        version: str = DEFAULT_VERSION,
        cloud: str = "ok",
        rules: Iterable[Rule | dict[str, Any]] = (),
        event_log: TextIO | None = None,
    ) -> None:
        if not _is_loopback(host):
            raise ValueError(f"ReplayOllama only binds loopback addresses, not {host!r}")
        if tokens_per_second <= 0:
            raise ValueError(f"tokens_per_second must be > 0, got {tokens_per_second!r}")
        self.host = host
        self.port = port
        self._defaults: dict[str, Any] = {
            "models": [_normalize_model(m) for m in (DEFAULT_MODELS if models is None else models)],
            "tokens_per_second": float(tokens_per_second),
            "first_token_delay": float(first_token_delay),
            "prefill_rate": prefill_rate,
            "load_delay": float(load_delay),
            "num_parallel": num_parallel or None,
            "max_queue": max_queue,
            "version": version,
            "cloud": cloud,
            "rules": [r if isinstance(r, Rule) else Rule.from_dict(r) for r in rules],
        }
        self._lock = threading.Condition()
        self._event_log = event_log  # each event also written there as a JSON line
        self._events: list[dict[str, Any]] = []
        self._request_ids = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._conn_tasks: set[asyncio.Task[None]] = set()
        self._loaded: dict[str, float] = {}  # model name -> time.time() it unloads
        self._active = 0  # generations holding a slot (loop thread only)
        self._waiting = 0  # generations queued for a slot (loop thread only)
        self._slot_freed: asyncio.Event | None = None
        self._apply_defaults()

    # -- configuration -------------------------------------------------------------------------

    def _apply_defaults(self) -> None:
        d = self._defaults
        with self._lock:
            self.models: list[dict[str, Any]] = [dict(m) for m in d["models"]]
            self.tokens_per_second = d["tokens_per_second"]
            self.first_token_delay = d["first_token_delay"]
            self.prefill_rate = d["prefill_rate"]
            self.load_delay = d["load_delay"]
            self.num_parallel = d["num_parallel"]
            self.max_queue = d["max_queue"]
            self.version = d["version"]
            self.set_cloud(d["cloud"])
            self._rules: list[Rule] = list(d["rules"])
            self._events.clear()
            self._loaded.clear()

    def set_cloud(self, mode: str) -> None:
        """``"ok"``, ``"unauthorized"`` (401 + signin_url) or ``"disabled"`` (403) for cloud models."""
        if mode not in ("ok", "unauthorized", "disabled"):
            raise ValueError(f"cloud mode must be ok, unauthorized or disabled, got {mode!r}")
        with self._lock:
            self.cloud = mode

    def set_models(self, models: Iterable[str | dict[str, Any]]) -> None:
        """Replace the model list (names or dicts with keys as in ``DEFAULT_MODELS``)."""
        normalized = [_normalize_model(m) for m in models]
        with self._lock:
            self.models = normalized

    def add_rule(
        self,
        match: str | Callable[[dict[str, Any]], bool] | Rule | None = None,
        reply: str | None = None,
        **options: Any,
    ) -> Rule:
        """Add a scripted reply (see ``Rule`` for the options); returns the rule."""
        rule = match if isinstance(match, Rule) else Rule(match=match, reply=reply, **options)
        with self._lock:
            self._rules.append(rule)
        return rule

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    def clear_rules(self) -> None:
        with self._lock:
            self._rules.clear()

    def reset(self) -> None:
        """Back to the constructor's state: rules, models, settings; the event log is emptied."""
        self._apply_defaults()

    # -- events --------------------------------------------------------------------------------

    @property
    def events(self) -> list[dict[str, Any]]:
        """A snapshot of the event log (dicts with ``kind``, ``path``, ``id``, ``time``...)."""
        with self._lock:
            return [dict(e) for e in self._events]

    def events_of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind]

    def _record(self, kind: str, **data: Any) -> dict[str, Any]:
        event = {"kind": kind, "time": time.time(), **data}
        with self._lock:
            self._events.append(event)
            self._lock.notify_all()
        if self._event_log is not None:
            with contextlib.suppress(OSError, ValueError):
                self._event_log.write(json.dumps(event, default=repr) + "\n")
                self._event_log.flush()
        return event

    def _find(
        self, kind: str, predicate: Callable[[dict[str, Any]], bool] | None, since: int
    ) -> dict[str, Any] | None:
        for event in self._events[since:]:
            if event["kind"] == kind and (predicate is None or predicate(event)):
                return dict(event)
        return None

    def wait_for(
        self,
        kind: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 10,
        *,
        since: int = 0,
    ) -> dict[str, Any]:
        """Block until an event of ``kind`` (matching ``predicate``) is in the log; return it.

        Events already logged count (from index ``since``). Raises ``TimeoutError`` listing
        the events seen. Do not call it from a coroutine running the code under test on the
        same loop: use ``await wait_for_async(...)`` there.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = self._find(kind, predicate, since)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(e["kind"], e.get("path")) for e in self._events]
                    raise TimeoutError(
                        f"no {kind!r} event within {timeout}s; events so far: {seen}"
                    )
                self._lock.wait(left)

    async def wait_for_async(
        self,
        kind: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 10,
        *,
        since: int = 0,
    ) -> dict[str, Any]:
        """``wait_for`` for coroutines: polls without blocking the caller's event loop."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = self._find(kind, predicate, since)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                return self.wait_for(kind, predicate, 0, since=since)
            await asyncio.sleep(0.01)

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port == 0:
            raise RuntimeError("ReplayOllama has no port yet: call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> ReplayOllama:
        if self._thread is not None:
            raise RuntimeError("ReplayOllama already started")
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._astart())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name=f"replay-ollama:{self.port}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            self._thread.join(5)
            self._thread = None
            raise RuntimeError(
                f"ReplayOllama could not listen on {self.host}:{self.port}: {failure[0]}"
            )
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            fut = asyncio.run_coroutine_threadsafe(self._astop(), loop)
            with contextlib.suppress(Exception):
                fut.result(10)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = None
        self._loop = None
        self._server = None

    def __enter__(self) -> ReplayOllama:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _astart(self) -> None:
        self._slot_freed = asyncio.Event()
        self._server = await asyncio.start_server(self._on_connect, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _astop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._conn_tasks):
            task.cancel()
        if self._conn_tasks:
            await asyncio.wait(self._conn_tasks, timeout=5)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    # -- connections ---------------------------------------------------------------------------

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conn_tasks.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Conn(reader, writer)
        try:
            while True:
                try:
                    req = await conn.read_request()
                except _BadRequest as exc:
                    with contextlib.suppress(ConnectionError):
                        await conn.send(
                            400,
                            f"400 Bad Request: {exc}".encode(),
                            "text/plain; charset=utf-8",
                            close=True,
                        )
                    break
                if req is None:
                    break
                conn.headers_sent = False
                conn.close_after = not req.keep_alive
                keep = await self._dispatch(conn, req)
                if not (keep and req.keep_alive):
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._conn_tasks.discard(task)
            conn.close()
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _dispatch(self, conn: _Conn, req: _Request) -> bool:
        """Answer one request; return False when the connection must not be reused."""
        if req.path.startswith("/_replay/"):
            await self._control(conn, req)
            return True
        body = self._event_body(req.body)
        with self._lock:
            self._request_ids += 1
            rid = self._request_ids
        self._record(
            "request",
            id=rid,
            method=req.method,
            path=req.path,
            query=req.query,
            body=body,
            headers=dict(req.headers),
        )
        route = (req.method, req.path)
        if route in (("GET", "/"), ("HEAD", "/")):
            await conn.send(
                200,
                b"Ollama is running",
                "text/plain; charset=utf-8",
                head_only=req.method == "HEAD",
            )
        elif route in (("GET", "/api/version"), ("HEAD", "/api/version")):
            await conn.send_json(200, {"version": self.version}, head_only=req.method == "HEAD")
        elif route in (("GET", "/api/tags"), ("HEAD", "/api/tags")):
            await conn.send_json(
                200,
                {"models": [self._tag_entry(m) for m in self._models()]},
                head_only=req.method == "HEAD",
            )
        elif route == ("GET", "/api/ps"):
            await conn.send_json(200, {"models": self._ps_entries()})
        elif route == ("GET", "/api/status"):
            disabled = self.cloud == "disabled"
            await conn.send_json(
                200, {"cloud": {"disabled": disabled, "source": "env" if disabled else "none"}}
            )
        elif route == ("POST", "/api/show"):
            await self._show(conn, req)
        elif route in (("POST", "/api/generate"), ("POST", "/api/chat")):
            return await self._generate(conn, req, rid)
        elif req.path in _KNOWN_PATHS:
            # gin with HandleMethodNotAllowed, as Ollama configures it.
            await conn.send(405, b"405 method not allowed", "text/plain")
        else:
            await conn.send(404, b"404 page not found", "text/plain")
        return True

    @staticmethod
    def _event_body(raw: bytes) -> Any:
        if not raw:
            return None
        text = raw.decode("utf-8", "replace")
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text

    # -- discovery -----------------------------------------------------------------------------

    def _models(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.models)

    def _lookup(self, name: str) -> dict[str, Any] | None:
        full = _full_tag(name)
        for m in self._models():
            if m["name"] == full:
                return m
        return None

    @staticmethod
    def _details(m: dict[str, Any]) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "" if m["remote_host"] else "gguf",
            "family": m["family"],
            "families": [m["family"]],
            "parameter_size": m["parameter_size"],
            "quantization_level": m["quantization_level"],
        }

    def _tag_entry(self, m: dict[str, Any]) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": m["name"], "model": m["name"]}
        if m["remote_host"]:
            entry["remote_model"] = m["remote_model"]
            entry["remote_host"] = m["remote_host"]
        entry["modified_at"] = "2025-11-01T09:30:00.123456789Z"
        entry["size"] = m["size"]
        entry["digest"] = _digest(m["name"])
        entry["details"] = {**self._details(m), "context_length": m["context_length"]}
        entry["capabilities"] = list(m["capabilities"])
        return entry

    def _ps_entries(self) -> list[dict[str, Any]]:
        out = []
        with self._lock:
            loaded = dict(self._loaded)
        for name, until in loaded.items():
            m = self._lookup(name)
            if m is None or m["remote_host"]:
                continue
            out.append(
                {
                    "name": m["name"],
                    "model": m["name"],
                    "size": m["size"],
                    "digest": _digest(m["name"]),
                    "details": self._details(m),
                    "expires_at": rfc3339_ns(int(until * 1e9)),
                    "size_vram": m["size"],
                    "context_length": 4096,
                }
            )
        return out

    async def _show(self, conn: _Conn, req: _Request) -> None:
        parsed = await self._parse_body(conn, req)
        if parsed is None:
            return
        name = parsed.get("model") or parsed.get("name") or ""
        if not isinstance(name, str) or not name:
            await conn.send_json(400, {"error": "model is required"})
            return
        m = self._lookup(name)
        if m is None:
            await conn.send_json(404, {"error": f"model '{name}' not found"})
            return
        if m["remote_host"] and self.cloud == "disabled":
            await conn.send_json(
                403, {"error": "ollama cloud is disabled: remote model details are unavailable"}
            )
            return
        arch = m["family"]
        model_info: dict[str, Any] = {
            "general.architecture": arch,
            "general.basename": m["name"].split(":")[0],
        }
        if not m["remote_host"]:  # remote stubs carry only what their manifest config has
            model_info["general.parameter_count"] = _parameter_count(m["parameter_size"])
            model_info[f"{arch}.block_count"] = 28
        model_info[f"{arch}.context_length"] = m["context_length"]
        model_info[f"{arch}.embedding_length"] = 1536
        out: dict[str, Any] = {
            "license": "Apache License 2.0",
            "modelfile": f'# Modelfile generated by "ollama show"\nFROM {m["name"]}\nTEMPLATE """{m["template"]}"""\n',
            "parameters": 'stop                           "<|im_end|>"'
            if not m["remote_host"]
            else "",
            "template": m["template"],
            "details": self._details(m),
            "model_info": model_info,
            "capabilities": list(m["capabilities"]),
            "modified_at": "2025-11-01T09:30:00.123456789Z",
        }
        if m["remote_host"]:
            out["remote_model"] = m["remote_model"]
            out["remote_host"] = m["remote_host"]
        await conn.send_json(200, out)

    async def _parse_body(self, conn: _Conn, req: _Request) -> dict[str, Any] | None:
        """The JSON body, or None after answering 400 as Ollama (gin + encoding/json) does."""
        text = req.body.decode("utf-8", "replace")
        if not text.strip():
            await conn.send_json(400, {"error": "missing request body"})
            return None
        try:
            value, _ = json.JSONDecoder().raw_decode(text.lstrip())
        except json.JSONDecodeError as exc:
            await conn.send_json(400, {"error": _go_decode_error(text.lstrip(), exc)})
            return None
        target = "api.ChatRequest" if req.path == "/api/chat" else "api.GenerateRequest"
        if req.path == "/api/show":
            target = "api.ShowRequest"
        if value is None:  # JSON null decodes into the zero request
            value = {}
        if not isinstance(value, dict):
            kind = _GO_TYPE.get(type(value), "value")
            await conn.send_json(
                400, {"error": f"json: cannot unmarshal {kind} into Go value of type {target}"}
            )
            return None
        for key, (typ, go_type) in _FIELD_TYPES.items():
            v = value.get(key)
            if v is not None and not (
                isinstance(v, typ) and not (typ is not bool and isinstance(v, bool))
            ):
                kind = _GO_TYPE.get(type(v), "value")
                await conn.send_json(
                    400,
                    {
                        "error": f"json: cannot unmarshal {kind} into Go struct field {target.split('.')[1]}.{key} of type {go_type}"
                    },
                )
                return None
        if req.path != "/api/show":
            try:
                parse_keep_alive(value.get("keep_alive"))
            except ValueError as exc:
                await conn.send_json(400, {"error": str(exc)})
                return None
        return value

    # -- generation ----------------------------------------------------------------------------

    def _pick_rule(self, path: str, model: str, text: str, body: dict[str, Any]) -> Rule | None:
        with self._lock:
            for rule in reversed(self._rules):
                try:
                    hit = rule.matches(path, model, text, body)
                except Exception:
                    hit = False
                if hit:
                    rule.used += 1
                    return rule
        return None

    async def _error(
        self,
        conn: _Conn,
        rid: int,
        path: str,
        status: int,
        body: dict[str, Any],
        content_type: str = "application/json; charset=utf-8",
    ) -> bool:
        self._record("error", id=rid, path=path, status=status, error=body.get("error"), body=body)
        await conn.send(status, go_json(body), content_type)
        return True

    async def _generate(self, conn: _Conn, req: _Request, rid: int) -> bool:
        arrival = time.perf_counter()
        path = req.path
        is_chat = path == "/api/chat"
        parsed = await self._parse_body(conn, req)
        if parsed is None:
            self._record("error", id=rid, path=path, status=400, error="bad request body")
            return True
        if not isinstance(parsed.get("top_logprobs", 0), int) or not (
            0 <= parsed.get("top_logprobs", 0) <= 20
        ):
            return await self._error(
                conn, rid, path, 400, {"error": "top_logprobs must be between 0 and 20"}
            )
        name = parsed.get("model") or ""
        if not name and is_chat:
            return await self._error(conn, rid, path, 400, {"error": "model is required"})
        m = self._lookup(name) if name else None
        if m is None:
            return await self._error(conn, rid, path, 404, {"error": f"model '{name}' not found"})
        model_name = name
        caps = m["capabilities"]
        messages = parsed.get("messages") or []
        if is_chat:
            text = next(
                (
                    str(msg.get("content") or "")
                    for msg in reversed(messages)
                    if isinstance(msg, dict) and msg.get("role") == "user"
                ),
                "",
            )
        else:
            text = parsed.get("prompt") or ""
        rule = self._pick_rule(path, m["name"], text, parsed)
        tps = (rule and rule.tokens_per_second) or self.tokens_per_second
        first_delay = (
            self.first_token_delay
            if rule is None or rule.first_token_delay is None
            else rule.first_token_delay
        )
        prefill = (rule and rule.prefill_rate) or self.prefill_rate

        # Errors before any byte of the response, in Ollama's order.
        if rule is not None and (
            rule.status not in (None, 200)
            or (rule.error and rule.error_after_tokens is None and rule.stall_after_tokens is None)
        ):
            status = rule.status or 500
            body = rule.error_body or self._status_body(status, m)
            if rule.error:
                body = {**body, "error": rule.error}
            if rule.first_token_delay:
                watch = _Watch(conn)
                try:
                    if not await watch.sleep(rule.first_token_delay):
                        self._record(
                            "disconnect", id=rid, path=path, model=model_name, tokens_sent=0
                        )
                        return False
                finally:
                    watch.close()
            # A runner failure reaches the client through streamResponse, which sets a bare
            # application/json; every other error is a plain gin c.JSON (with charset).
            ctype = "application/json" if status == 500 else "application/json; charset=utf-8"
            return await self._error(conn, rid, path, status, body, ctype)
        if m["remote_host"] and self.cloud != "ok":
            if self.cloud == "unauthorized":
                return await self._error(
                    conn, rid, path, 401, {"error": "unauthorized", "signin_url": SIGNIN_URL}
                )
            return await self._error(conn, rid, path, 403, {"error": CLOUD_DISABLED_ERROR})
        if (
            not is_chat
            and parsed.get("raw")
            and (parsed.get("template") or parsed.get("system") or parsed.get("context"))
        ):
            return await self._error(
                conn,
                rid,
                path,
                400,
                {"error": "raw mode does not support template, system, or context"},
            )
        think = parsed.get("think")
        if think not in (None, False) and "thinking" not in caps:
            return await self._error(
                conn, rid, path, 400, {"error": f'"{model_name}" does not support thinking'}
            )
        if not is_chat and parsed.get("suffix") and "insert" not in caps:
            return await self._error(
                conn,
                rid,
                path,
                400,
                {"error": f"registry.ollama.ai/library/{m['name']} does not support insert"},
            )
        if is_chat and parsed.get("tools") and "tools" not in caps:
            return await self._error(
                conn,
                rid,
                path,
                400,
                {"error": f"registry.ollama.ai/library/{m['name']} does not support tools"},
            )
        thinking_on = "thinking" in caps and think is not False

        watch = _Watch(conn)
        slot = await self._acquire_slot(watch, rid, path, model_name)
        if slot is None:
            watch.close()
            return await self._error(conn, rid, path, 503, {"error": BUSY_ERROR})
        if slot is False:
            watch.close()
            self._record("disconnect", id=rid, path=path, model=model_name, tokens_sent=0)
            return False
        try:
            return await self._produce(
                conn,
                watch,
                rid,
                req,
                parsed,
                m,
                model_name,
                text,
                rule,
                tps,
                first_delay,
                prefill,
                thinking_on,
                arrival,
            )
        except ConnectionError:
            return False
        finally:
            self._release_slot()
            watch.close()
            self._keep_loaded(m, parse_keep_alive(parsed.get("keep_alive")))

    async def _acquire_slot(self, watch: _Watch, rid: int, path: str, model: str) -> bool | None:
        """Wait for a generation slot: True when held, False if the client left, None if the
        queue is full (503)."""
        assert self._slot_freed is not None
        limit = self.num_parallel
        if limit is None or self._active < limit:
            self._active += 1
            return True
        if self.max_queue is not None and self._waiting >= self.max_queue:
            return None
        self._waiting += 1
        self._record("queued", id=rid, path=path, model=model, position=self._waiting)
        try:
            while True:
                self._slot_freed.clear()
                freed = asyncio.ensure_future(self._slot_freed.wait())
                try:
                    await asyncio.wait({freed, watch.task}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    freed.cancel()
                if watch.gone:
                    return False
                limit = self.num_parallel
                if limit is None or self._active < limit:
                    self._active += 1
                    return True
        finally:
            self._waiting -= 1

    def _release_slot(self) -> None:
        self._active -= 1
        if self._slot_freed is not None:
            self._slot_freed.set()

    def _cold(self, m: dict[str, Any]) -> bool:
        if m["remote_host"]:
            return False
        with self._lock:
            until = self._loaded.get(m["name"])
        return until is None or until < time.time()

    def _keep_loaded(self, m: dict[str, Any], keep_alive: float) -> None:
        if m["remote_host"]:
            return
        with self._lock:
            if keep_alive <= 0:
                self._loaded.pop(m["name"], None)
            else:
                self._loaded[m["name"]] = time.time() + min(keep_alive, 100 * 365 * 86400)

    @classmethod
    def _status_body(cls, status: int, m: dict[str, Any]) -> dict[str, Any]:
        if status == 401:
            return {"error": "unauthorized", "signin_url": SIGNIN_URL}
        return {"error": cls._status_message(status, m)}

    @staticmethod
    def _status_message(status: int, m: dict[str, Any]) -> str:
        return {
            400: "invalid request",
            401: "unauthorized",
            403: CLOUD_DISABLED_ERROR,
            404: f"model '{m['name']}' not found",
            429: "you have reached your hourly usage limit, please try again later",
            500: RUNNER_CRASHED_ERROR,
            502: f'Post "{m["remote_host"] or "https://ollama.com:443"}/api/chat": dial tcp: lookup ollama.com: no such host',
            503: BUSY_ERROR,
        }.get(status, _phrase(status).lower() or "error")

    async def _produce(
        self,
        conn: _Conn,
        watch: _Watch,
        rid: int,
        req: _Request,
        parsed: dict[str, Any],
        m: dict[str, Any],
        model_name: str,
        text: str,
        rule: Rule | None,
        tps: float,
        first_delay: float,
        prefill: float | None,
        thinking_on: bool,
        arrival: float,
    ) -> bool:
        path = req.path
        is_chat = path == "/api/chat"
        stream = parsed.get("stream") is not False
        remote = (
            {"remote_model": m["remote_model"], "remote_host": m["remote_host"]}
            if m["remote_host"]
            else {}
        )

        def base() -> dict[str, Any]:
            return {"model": model_name, **remote, "created_at": rfc3339_ns()}

        def disconnected(sent: int) -> bool:
            self._record("disconnect", id=rid, path=path, model=model_name, tokens_sent=sent)
            return False

        # Prompt size (for prefill pacing and prompt_eval_count).
        if is_chat:
            prompt_tokens = sum(
                len(tokenize(str(msg.get("content") or ""))) + 4
                for msg in parsed.get("messages") or []
                if isinstance(msg, dict)
            )
        else:
            prompt_tokens = (
                len(tokenize(str(parsed.get("prompt") or "")))
                + len(tokenize(str(parsed.get("system") or "")))
                + len(tokenize(str(parsed.get("suffix") or "")))
                + 6
            )
        prefill_s = prompt_tokens / prefill if prefill else 0.0
        load_s = self.load_delay if self._cold(m) else 0.0
        keep_alive = parse_keep_alive(parsed.get("keep_alive"))

        load_only = (
            (not parsed.get("messages")) if is_chat else (parsed.get("prompt") in (None, ""))
        )
        if load_only:
            unload = keep_alive == 0
            if not unload and not await watch.sleep(load_s):
                return disconnected(0)
            self._keep_loaded(m, keep_alive)
            out = base()
            if is_chat:
                out["message"] = {"role": "assistant", "content": ""}
            else:
                out["response"] = ""
            out["done"] = True
            out["done_reason"] = "unload" if unload else "load"
            await conn.send_json(200, out)
            self._record(
                "complete",
                id=rid,
                path=path,
                model=model_name,
                tokens_sent=0,
                done_reason=out["done_reason"],
                text="",
                thinking="",
                stream=False,
                cold=load_s > 0,
            )
            return True

        # What to say.
        if rule is not None and rule.tokens is not None:
            content_tokens = list(rule.tokens)
        else:
            reply = (
                rule.reply
                if rule is not None and rule.reply is not None
                else default_reply(self._instruction_source(parsed, is_chat))
            )
            content_tokens = tokenize(reply)
        thinking_tokens: list[str] = []
        if thinking_on:
            thinking_text = (
                rule.thinking
                if rule is not None and rule.thinking is not None
                else _default_thinking(text)
            )
            thinking_tokens = tokenize(thinking_text)
        done_reason = (rule.done_reason if rule is not None else None) or "stop"
        options = parsed.get("options") or {}
        stops = options.get("stop")
        if isinstance(stops, str):
            stops = [stops]
        if stops:
            joined = "".join(content_tokens)
            cut = min(
                (joined.find(s) for s in stops if isinstance(s, str) and s and s in joined),
                default=-1,
            )
            if cut >= 0:
                content_tokens = tokenize(joined[:cut])
        num_predict = options.get("num_predict")
        if (
            isinstance(num_predict, int)
            and num_predict >= 0
            and len(thinking_tokens) + len(content_tokens) > num_predict
        ):
            keep_thinking = min(num_predict, len(thinking_tokens))
            thinking_tokens = thinking_tokens[:keep_thinking]
            content_tokens = content_tokens[: num_predict - keep_thinking]
            done_reason = "length"
        final_text = rule.final_text if rule is not None and rule.final_text is not None else ""
        pieces: list[tuple[str, str]] = [("thinking", t) for t in thinking_tokens] + [
            ("content", t) for t in content_tokens
        ]
        error_after = rule.error_after_tokens if rule is not None else None
        error_msg = (
            rule.error if rule is not None and rule.error else None
        ) or RUNNER_CRASHED_ERROR
        stall_after = rule.stall_after_tokens if rule is not None else None
        interval = 1.0 / tps

        # Load (cold models only) + prompt evaluation.
        if not await watch.sleep(load_s):
            return disconnected(0)
        self._keep_loaded(m, max(keep_alive, 1.0))  # loaded while it runs
        if not await watch.sleep(first_delay + prefill_s):
            self._keep_loaded(m, keep_alive)
            return disconnected(0)
        t_first = time.perf_counter()
        sent = 0
        streamed_text: list[str] = []
        streamed_thinking: list[str] = []

        def stats(t_end: float) -> dict[str, Any]:
            n = sent + (1 if final_text else 0)
            eval_ns = int(((t_end - t_first) + interval) * 1e9) if n else 0
            pe_ns = int((prefill_s if prefill else first_delay * 0.2) * 1e9)
            load_ns = max(
                0, int((t_first - arrival) * 1e9) - pe_ns - (int(interval * 1e9) if n else 0)
            )
            total_ns = int((time.perf_counter() - arrival) * 1e9)
            total_ns = max(total_ns, load_ns + pe_ns + eval_ns)
            out = {
                "total_duration": total_ns,
                "load_duration": load_ns,
                "prompt_eval_count": prompt_tokens,
                "prompt_eval_duration": pe_ns,
                "eval_count": n,
                "eval_duration": eval_ns,
            }
            return {k: v for k, v in out.items() if v}  # Go's omitempty

        def context_ids() -> list[int]:
            if is_chat or parsed.get("raw"):
                return []
            joined = (parsed.get("prompt") or "") + "".join(streamed_text) + final_text
            return [
                int(hashlib.md5(t.encode()).hexdigest()[:6], 16) % 151_000 for t in tokenize(joined)
            ]

        def chunk(kind: str, piece: str) -> dict[str, Any]:
            out = base()
            if is_chat:
                msg: dict[str, Any] = {
                    "role": "assistant",
                    "content": piece if kind == "content" else "",
                }
                if kind == "thinking":
                    msg["thinking"] = piece
                out["message"] = msg
            else:
                out["response"] = piece if kind == "content" else ""
                if kind == "thinking":
                    out["thinking"] = piece
            out["done"] = False
            return out

        def final() -> dict[str, Any]:
            t_end = time.perf_counter()
            out = base()
            if is_chat:
                out["message"] = {"role": "assistant", "content": final_text}
            else:
                out["response"] = final_text
            out["done"] = True
            out["done_reason"] = done_reason
            ctx = context_ids()
            if ctx:
                out["context"] = ctx
            out.update(stats(t_end))
            return out

        def complete(reason: str) -> None:
            self._record(
                "complete",
                id=rid,
                path=path,
                model=model_name,
                tokens_sent=sent,
                done_reason=reason,
                text="".join(streamed_text) + final_text,
                thinking="".join(streamed_thinking),
                stream=stream,
                cold=load_s > 0,
            )

        if not stream:
            total = len(pieces) if error_after is None else min(error_after, len(pieces))
            if stall_after is not None:
                self._record("stall", id=rid, path=path, model=model_name, tokens_sent=0)
                await watch.forever()
                return disconnected(0)
            if not await watch.sleep(max(0, total - 1) * interval):
                return disconnected(0)
            for kind, piece in pieces[:total]:
                (streamed_text if kind == "content" else streamed_thinking).append(piece)
            sent = total
            if error_after is not None:
                self._record(
                    "error", id=rid, path=path, status=500, error=error_msg, tokens_sent=sent
                )
                await conn.send_json(500, {"error": error_msg})
                return True
            out = final()
            if is_chat:
                out["message"]["content"] = "".join(streamed_text) + final_text
                if streamed_thinking:
                    out["message"]["thinking"] = "".join(streamed_thinking)
            else:
                out["response"] = "".join(streamed_text) + final_text
                if streamed_thinking:
                    items = list(out.items())
                    items.insert(
                        items.index(("response", out["response"])) + 1,
                        ("thinking", "".join(streamed_thinking)),
                    )
                    out = dict(items)
            await conn.send_json(200, out)
            complete(done_reason)
            return True

        schedule = t_first
        for index, (kind, piece) in enumerate(pieces):
            if error_after is not None and sent >= error_after:
                break
            if stall_after is not None and sent >= stall_after:
                break
            if index:
                schedule += interval
                if not await watch.sleep(schedule - time.perf_counter()):
                    return disconnected(sent)
            elif watch.gone:
                return disconnected(sent)
            try:
                if not conn.headers_sent:
                    await conn.start_chunked()
                await conn.send_chunk(go_json(chunk(kind, piece)) + b"\n")
            except ConnectionError:
                return disconnected(sent)
            sent += 1
            (streamed_text if kind == "content" else streamed_thinking).append(piece)

        try:
            if stall_after is not None and sent >= stall_after:
                self._record("stall", id=rid, path=path, model=model_name, tokens_sent=sent)
                await watch.forever()
                return disconnected(sent)
            if sent and not await watch.sleep(schedule + interval - time.perf_counter()):
                return disconnected(sent)
            if error_after is not None and not conn.headers_sent:
                # Nothing written yet: Ollama's streamResponse answers with a real status.
                self._record("error", id=rid, path=path, status=500, error=error_msg)
                await conn.send(500, go_json({"error": error_msg}), "application/json")
                return True
            if not conn.headers_sent:
                await conn.start_chunked()
            if error_after is not None:
                await conn.send_chunk(go_json({"error": error_msg}) + b"\n")
                await conn.end_chunked()
                self._record(
                    "error", id=rid, path=path, status=200, error=error_msg, tokens_sent=sent
                )
                return True
            await conn.send_chunk(go_json(final()) + b"\n")
            await conn.end_chunked()
        except ConnectionError:
            return disconnected(sent)
        complete(done_reason)
        return True

    @staticmethod
    def _instruction_source(parsed: dict[str, Any], is_chat: bool) -> str:
        if is_chat:
            parts = [
                str(msg.get("content") or "")
                for msg in parsed.get("messages") or []
                if isinstance(msg, dict)
            ]
            users = [
                str(msg.get("content") or "")
                for msg in parsed.get("messages") or []
                if isinstance(msg, dict) and msg.get("role") == "user"
            ]
            # Language hints can sit in the system message; the instruction in the last user one.
            return (
                "\n".join([*parts[:-1], users[-1] if users else ""]) if users else "\n".join(parts)
            )
        return f"{parsed.get('system') or ''}\n{parsed.get('prompt') or ''}"

    # -- control API ---------------------------------------------------------------------------

    async def _control(self, conn: _Conn, req: _Request) -> None:
        """``POST /_replay/rules`` (a rule object or a list) -> ``{"rules": N}``;
        ``GET /_replay/rules``; ``GET /_replay/events[?kind=K&since=I]`` -> ``{"events": [...]}``;
        ``GET /_replay/wait?kind=K[&path=P&timeout=S&since=I]`` -> the event, or 408;
        ``POST /_replay/reset``; ``POST /_replay/models`` (``{"models": [...]}``);
        ``POST /_replay/settings`` (``cloud``, ``tokens_per_second``, ``first_token_delay``,
        ``prefill_rate``, ``version``)."""
        route = (req.method, req.path)
        try:
            data = json.loads(req.body) if req.body.strip() else None
        except json.JSONDecodeError as exc:
            await conn.send_json(400, {"error": f"invalid JSON: {exc}"})
            return
        try:
            if route == ("POST", "/_replay/rules"):
                items: list[Any] = data if isinstance(data, list) else [data]
                for item in items:
                    self.add_rule(Rule.from_dict(item))
                await conn.send_json(200, {"rules": len(self.rules)})
            elif route == ("GET", "/_replay/rules"):
                await conn.send_json(200, {"rules": [r.to_dict() for r in self.rules]})
            elif route == ("DELETE", "/_replay/rules"):
                self.clear_rules()
                await conn.send_json(200, {"rules": 0})
            elif route == ("GET", "/_replay/events"):
                since = int(req.query.get("since", "0"))
                kind = req.query.get("kind")
                events = [e for e in self.events[since:] if kind is None or e["kind"] == kind]
                await conn.send_json(200, {"events": events})
            elif route == ("GET", "/_replay/wait"):
                kind = req.query.get("kind", "complete")
                want_path = req.query.get("path")
                timeout = float(req.query.get("timeout", "10"))
                since = int(req.query.get("since", "0"))
                try:
                    event = await self.wait_for_async(
                        kind,
                        (lambda e: e.get("path") == want_path) if want_path else None,
                        timeout,
                        since=since,
                    )
                except TimeoutError as exc:
                    await conn.send_json(408, {"error": str(exc)})
                    return
                await conn.send_json(200, event)
            elif route == ("POST", "/_replay/reset"):
                self.reset()
                await conn.send_json(200, {"ok": True})
            elif route == ("POST", "/_replay/models"):
                models = data.get("models") if isinstance(data, dict) else data
                if not isinstance(models, list):
                    raise ValueError('expected {"models": [...]}')
                self.set_models(models)
                await conn.send_json(200, {"models": [m["name"] for m in self._models()]})
            elif route == ("POST", "/_replay/settings"):
                if not isinstance(data, dict):
                    raise ValueError("expected a JSON object of settings")
                self.configure(**data)
                await conn.send_json(200, self.settings())
            elif route == ("GET", "/_replay/settings"):
                await conn.send_json(200, self.settings())
            else:
                await conn.send_json(404, {"error": f"no control endpoint {req.method} {req.path}"})
        except (ValueError, TypeError) as exc:
            await conn.send_json(400, {"error": str(exc)})

    def configure(
        self,
        *,
        cloud: str | None = None,
        tokens_per_second: float | None = None,
        first_token_delay: float | None = None,
        prefill_rate: float | None = None,
        load_delay: float | None = None,
        num_parallel: int | None = None,
        max_queue: int | None = None,
        version: str | None = None,
    ) -> None:
        """Change server-wide settings at run time (``None`` leaves a setting as it is).

        ``load_delay``: seconds a cold (not loaded) local model takes to load.
        ``num_parallel``: generations served at once (0: no limit); the others queue, and the
        wait shows in ``load_duration``. ``max_queue``: queued generations beyond which new ones
        get 503 ``server busy`` (a negative value: no limit).
        """
        if cloud is not None:
            self.set_cloud(cloud)
        with self._lock:
            if tokens_per_second is not None:
                if tokens_per_second <= 0:
                    raise ValueError("tokens_per_second must be > 0")
                self.tokens_per_second = float(tokens_per_second)
            if first_token_delay is not None:
                self.first_token_delay = float(first_token_delay)
            if prefill_rate is not None:
                self.prefill_rate = float(prefill_rate) if prefill_rate > 0 else None
            if load_delay is not None:
                self.load_delay = max(0.0, float(load_delay))
            if num_parallel is not None:
                self.num_parallel = int(num_parallel) if num_parallel > 0 else None
            if max_queue is not None:
                self.max_queue = int(max_queue) if max_queue >= 0 else None
            if version is not None:
                self.version = version
        if self._loop is not None and self._slot_freed is not None:
            with contextlib.suppress(RuntimeError):  # the loop may be closing
                self._loop.call_soon_threadsafe(self._slot_freed.set)

    def settings(self) -> dict[str, Any]:
        with self._lock:
            return {
                "cloud": self.cloud,
                "tokens_per_second": self.tokens_per_second,
                "first_token_delay": self.first_token_delay,
                "prefill_rate": self.prefill_rate,
                "load_delay": self.load_delay,
                "num_parallel": self.num_parallel,
                "max_queue": self.max_queue,
                "version": self.version,
                "models": [m["name"] for m in self.models],
            }


_GO_DURATION = re.compile(r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+")
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


def parse_keep_alive(value: Any) -> float:
    """``keep_alive`` in seconds as Ollama reads it (``api.Duration``): a number is seconds, a
    string a Go duration (``"5m"``, ``"1h30m"``), a negative value is forever (``math.inf``),
    absent is 5 minutes. Raises ``ValueError`` with Go's message for a bad string."""
    if value is None:
        return 300.0
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
    total = sum(
        float(num) * _GO_UNITS[unit]
        for num, unit in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", text)
    )
    return math.inf if text.startswith("-") and total > 0 else total


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _parameter_count(size: str) -> int:
    m = re.match(r"([\d.]+)\s*([KMB])", size.upper())
    if not m:
        return 0
    return int(float(m.group(1)) * {"K": 1e3, "M": 1e6, "B": 1e9}[m.group(2)])


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ----------------------------------------------------------------------------------------------
# CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Ollama wire-protocol replay server for Typilot LSP tests"
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)"
    )
    parser.add_argument(
        "--rules", help='JSON file: a list of rules (or {"rules": [...], "models": [...]})'
    )
    parser.add_argument(
        "--tps", type=float, default=DEFAULT_TOKENS_PER_SECOND, help="decode rate, tokens/s"
    )
    parser.add_argument(
        "--first-token-delay",
        type=float,
        default=DEFAULT_FIRST_TOKEN_DELAY,
        help="seconds before the first token",
    )
    parser.add_argument(
        "--prefill-rate",
        type=float,
        default=None,
        help="prompt tokens/s added to the first-token delay",
    )
    parser.add_argument(
        "--load-delay", type=float, default=0.0, help="seconds a cold local model takes to load"
    )
    parser.add_argument(
        "--num-parallel", type=int, default=0, help="generations served at once (0: no limit)"
    )
    parser.add_argument(
        "--max-queue", type=int, default=-1, help="queued generations before 503 (-1: no limit)"
    )
    parser.add_argument("--cloud", choices=("ok", "unauthorized", "disabled"), default="ok")
    parser.add_argument(
        "--log-events",
        action="store_true",
        help="also write every event to stderr as a JSON line (for debugging editor tests)",
    )
    parser.add_argument(
        "--version",
        dest="ollama_version",
        default=DEFAULT_VERSION,
        help="version /api/version reports",
    )
    args = parser.parse_args(argv)

    rules: list[Any] = []
    models: list[Any] | None = None
    if args.rules:
        try:
            with open(args.rules, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, json.JSONDecodeError) as exc:
            parser.error(f"cannot read rules file {args.rules}: {exc}")
        if isinstance(data, dict):
            rules = list(data.get("rules", []))
            models = data.get("models")
        else:
            rules = list(data)
    try:
        server = ReplayOllama(
            args.host,
            args.port,
            models=models,
            tokens_per_second=args.tps,
            first_token_delay=args.first_token_delay,
            prefill_rate=args.prefill_rate,
            load_delay=args.load_delay,
            num_parallel=args.num_parallel or None,
            max_queue=args.max_queue if args.max_queue >= 0 else None,
            version=args.ollama_version,
            cloud=args.cloud,
            rules=[Rule.from_dict(r) for r in rules],
            event_log=sys.stderr if args.log_events else None,
        )
    except (ValueError, TypeError) as exc:
        parser.error(f"bad settings or rules: {exc}")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server.start()
    except RuntimeError as exc:
        print(f"replay_ollama: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"LISTENING {server.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
