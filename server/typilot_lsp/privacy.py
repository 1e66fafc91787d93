"""The privacy guards: nothing leaves the machine unless a setting says so.

- Host guard: the Ollama host (or the OpenAI-compatible base URL) must be loopback (127.0.0.0/8, ::1, ``localhost``) unless
  ``privacy.allowRemoteHost``. Decided on the configured text alone, before any connection
  and without resolving a name, so a refused host sees neither a DNS query nor a SYN.
- Cloud guard: a model named ``...:cloud`` / ``...:<tag>-cloud``, or one whose ``/api/show``
  reports ``remote_host`` / ``remote_model``, is refused before any prompt is sent unless
  ``privacy.allowCloudModels``.

:class:`typilot_lsp.backends.ollama.OllamaClient` and
:class:`typilot_lsp.backends.openai.OpenAIClient` run the host guard on every request, and
both backends run the cloud guard before every generation, so no code path can skip them.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import attrs

from typilot_lsp.backends.base import ModelInfo
from typilot_lsp.backends.urls import host_name
from typilot_lsp.errors import CloudModelRefused, RemoteHostRefused

__all__ = [
    "PrivacyPolicy",
    "check_host",
    "check_model_info",
    "check_model_name",
    "cloud_name_marker",
    "is_loopback_host",
]

_LOOPBACK_NAMES = frozenset({"localhost"})


@attrs.frozen
class PrivacyPolicy:
    allow_remote_host: bool = False
    allow_cloud_models: bool = False

    @classmethod
    def from_config(cls, config: Any) -> PrivacyPolicy:
        privacy = getattr(config, "privacy", None)
        return cls(
            allow_remote_host=bool(getattr(privacy, "allow_remote_host", False)),
            allow_cloud_models=bool(getattr(privacy, "allow_cloud_models", False)),
        )

    @property
    def relaxed(self) -> bool:
        """True when any allow-setting is on (runs show it, the session warns once)."""
        return self.allow_remote_host or self.allow_cloud_models

    def relaxed_settings(self) -> list[str]:
        """The full names of the allow-settings that are on."""
        names = []
        if self.allow_remote_host:
            names.append(RemoteHostRefused.setting)
        if self.allow_cloud_models:
            names.append(CloudModelRefused.setting)
        return names

    def progress_label(self) -> str | None:
        """A short tag for a run's progress title, e.g. ``remote host allowed``; None if strict."""
        parts = []
        if self.allow_remote_host:
            parts.append("remote host allowed")
        if self.allow_cloud_models:
            parts.append("cloud models allowed")
        return ", ".join(parts) or None

    def warning(self) -> str | None:
        """The once-per-session warning, or None when every guard is on."""
        settings = self.relaxed_settings()
        if not settings:
            return None
        what = " and ".join(f"`{s}`" for s in settings)
        return (
            f"Typilot: {what} {'is' if len(settings) == 1 else 'are'} on, so prompts and code may "
            "be sent to another machine. Turn it off to keep everything local"
        )


def is_loopback_host(host: str) -> bool:
    """Whether a bare host name/address (no brackets, no port) is loopback, without DNS."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def check_host(
    base_url: str,
    allow_remote_host: bool,
    *,
    server: str = "Ollama",
    local_setting: str = "`typilot.ollama.host` = http://127.0.0.1:11434",
) -> None:
    """Raise :class:`RemoteHostRefused` unless ``base_url`` is loopback or remote is allowed.

    The same guard for every backend; ``server`` and ``local_setting`` only word the message."""
    if allow_remote_host:
        return
    name = host_name(base_url)
    if is_loopback_host(name):
        return
    detail = ""
    try:
        if ipaddress.ip_address(name).is_unspecified:
            detail = f"{name} is an address to listen on, not to connect to; use 127.0.0.1"
    except ValueError:
        pass
    raise RemoteHostRefused(base_url, detail, server=server, local_setting=local_setting)


def cloud_name_marker(model: str) -> str | None:
    """The cloud marker in a model name (``:cloud`` / ``-cloud``), as Ollama parses it, or None.

    ``name:local`` forces a local model; ``name:cloud:local`` is contradictory and counts as
    cloud (Ollama itself rejects it).
    """
    raw = model.strip()
    for _ in range(2):  # the tag, then a tag nested under an explicit :local
        idx = raw.rfind(":")
        if idx < 0:
            return None
        tag = raw[idx + 1 :].strip()
        lowered = tag.lower()
        if lowered == "cloud":
            return ":cloud"
        if "/" not in tag and lowered.endswith("-cloud"):
            return "-cloud"
        if lowered != "local":
            return None
        raw = raw[:idx]
    return None


def check_model_name(model: str, allow_cloud_models: bool) -> None:
    """Refuse a cloud model by its name alone (no request needed)."""
    if not allow_cloud_models and cloud_name_marker(model):
        raise CloudModelRefused(model, "ollama.com (its name is tagged as a cloud model)")


def check_model_info(info: ModelInfo, allow_cloud_models: bool) -> None:
    """Refuse a model whose ``/api/show`` says it runs elsewhere."""
    if allow_cloud_models:
        return
    check_model_name(info.name, allow_cloud_models)
    if info.remote_host or info.remote_model:
        where = info.remote_host or "a remote host"
        raise CloudModelRefused(info.name, where)
