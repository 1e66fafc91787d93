"""The models the replay server serves: the catalogue, names as Ollama reads them, and which
local models are loaded (a cold one pays ``load_delay``; ``keep_alive`` keeps it warm)."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterable
from typing import Any

OLLAMA_CLOUD = "https://ollama.com:443"
MODEL_KEYS = frozenset(
    {
        "name",
        "family",
        "parameter_size",
        "quantization_level",
        "size",
        "capabilities",
        "context_length",
        "remote_host",
        "remote_model",
        "template",
    }
)
_HUNDRED_YEARS_S = 100 * 365 * 86400  # "forever", as a time a model unloads at

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


def full_tag(name: str) -> str:
    """``qwen3`` -> ``qwen3:latest``, as Ollama's name parser does."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def normalize_model(spec: str | dict[str, Any]) -> dict[str, Any]:
    """A complete model entry (the keys of ``MODEL_KEYS``) from a name or a partial dict.

    A name ending in ``:cloud`` or ``-cloud`` is a cloud model on ollama.com; what is not given
    is filled in like a small local Qwen model."""
    if isinstance(spec, str):
        spec = {"name": spec}
    unknown = set(spec) - MODEL_KEYS
    if unknown:
        raise ValueError(f"unknown model keys {sorted(unknown)}; known: {sorted(MODEL_KEYS)}")
    if not isinstance(spec.get("name"), str) or not spec["name"]:
        raise ValueError("a model needs a non-empty string 'name'")
    name = full_tag(spec["name"])
    base = name.split(":", 1)[0]
    is_cloud = name.endswith(":cloud") or name.endswith("-cloud")
    remote_host = spec.get("remote_host", OLLAMA_CLOUD if is_cloud else None)
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


#: The models ``/api/tags`` lists by default (``qwen2.5-coder:1.5b`` is the product's default):
#: two local ones (one that fills in the middle, one that thinks) and two cloud ones.
DEFAULT_MODELS: tuple[dict[str, Any], ...] = tuple(
    normalize_model(spec)
    for spec in (
        {
            "name": "qwen2.5-coder:1.5b",
            "family": "qwen2",
            "capabilities": ("completion", "tools", "insert"),
            "template": _QWEN_CODER_TEMPLATE,
        },
        {
            "name": "qwen3:1.7b",
            "family": "qwen3",
            "parameter_size": "2.0B",
            "size": 1_359_293_444,
            "capabilities": ("completion", "tools", "thinking"),
            "context_length": 40960,
            "template": _QWEN3_TEMPLATE,
        },
        {
            "name": "gpt-oss:120b-cloud",
            "family": "gptoss",
            "parameter_size": "116.8B",
            "quantization_level": "MXFP4",
            "capabilities": ("completion", "tools", "thinking"),
            "context_length": 131072,
        },
        {
            "name": "deepseek-v4-pro:cloud",
            "family": "deepseek2",
            "parameter_size": "671B",
            "quantization_level": "FP8",
            "size": 402,
            "capabilities": ("completion", "tools", "thinking"),
            "context_length": 163840,
        },
    )
)


def digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def parameter_count(size: str) -> int:
    """``"1.5B"`` -> 1_500_000_000 (0 when it cannot be read)."""
    m = re.match(r"([\d.]+)\s*([KMB])", size.upper())
    if not m:
        return 0
    return int(float(m.group(1)) * {"K": 1e3, "M": 1e6, "B": 1e9}[m.group(2)])


def find_model(models: Iterable[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """The entry for ``name`` (``qwen3`` finds ``qwen3:latest``), or None."""
    full = full_tag(name)
    return next((m for m in models if m["name"] == full), None)


class LoadedModels:
    """Which local models are in memory, and until when (``time.time()``). Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}

    def is_cold(self, model: dict[str, Any]) -> bool:
        """A local model not loaded, or whose keep-alive ran out (a cloud model is never cold)."""
        if model["remote_host"]:
            return False
        with self._lock:
            until = self._until.get(model["name"])
        return until is None or until < time.time()

    def keep(self, model: dict[str, Any], keep_alive: float) -> None:
        """Keep a local model loaded for ``keep_alive`` seconds from now (0: unload it)."""
        if model["remote_host"]:
            return
        with self._lock:
            if keep_alive <= 0:
                self._until.pop(model["name"], None)
            else:
                self._until[model["name"]] = time.time() + min(keep_alive, _HUNDRED_YEARS_S)

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self._until)

    def clear(self) -> None:
        with self._lock:
            self._until.clear()
