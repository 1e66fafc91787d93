"""Model-server URLs: ``OLLAMA_HOST`` parsing, and the host name a privacy check looks at.

``parse_ollama_host`` parses ``OLLAMA_HOST`` with the same results as the official Ollama
clients: it turns what a user may write (``1.2.3.4``, ``:56789``, ``example.com/path/``,
``https://[::1]``) into a base URL ``scheme://host:port[/path]``:

- unset or empty -> ``http://127.0.0.1:11434``
- no scheme -> ``http`` with port 11434; ``http://`` defaults to port 80, ``https://`` to 443
- an empty host (``:56789``) means ``127.0.0.1``
- a path is kept, a trailing ``/`` is removed
- IPv6 literals are written in brackets

``resolve_ollama_host`` picks the ``ollama.host`` setting, else ``$OLLAMA_HOST``. Parsing never
resolves a name: the privacy guard decides on the text alone (``host_name``, for either
backend's URL).
"""

from __future__ import annotations

import ipaddress
import os
import urllib.parse
from collections.abc import Mapping

from typilot_lsp.errors import InvalidHost

__all__ = ["DEFAULT_OLLAMA_HOST", "host_name", "parse_ollama_host", "resolve_ollama_host"]

DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
_OLLAMA_PORT = 11434
_SCHEME_PORTS = {"http": 80, "https": 443}


def parse_ollama_host(value: str | None) -> str:
    """Return the base URL for an ``OLLAMA_HOST``-style value (see the module docstring)."""
    raw = (value or "").strip()
    scheme, sep, rest = raw.partition("://")
    if sep:
        scheme = scheme.lower()
        if scheme not in _SCHEME_PORTS:
            raise InvalidHost(raw, f"unsupported scheme {scheme!r} (use http or https)")
        default_port = _SCHEME_PORTS[scheme]
    else:
        scheme, rest, default_port = "http", raw, _OLLAMA_PORT

    parts = urllib.parse.urlsplit(f"{scheme}://{rest}")
    try:
        port = parts.port or default_port
    except ValueError as exc:
        raise InvalidHost(raw, f"bad port ({exc})") from None
    host = parts.hostname or "127.0.0.1"
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass

    path = parts.path.strip("/")
    base = f"{scheme}://{host}:{port}"
    return f"{base}/{path}" if path else base


def resolve_ollama_host(setting: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The host to use: the ``ollama.host`` setting, else ``$OLLAMA_HOST``, else the default."""
    env = os.environ if environ is None else environ
    if setting:
        return parse_ollama_host(setting)
    return parse_ollama_host(env.get("OLLAMA_HOST"))


def host_name(base_url: str) -> str:
    """The bare host name or address of a parsed base URL (IPv6 without brackets)."""
    return urllib.parse.urlsplit(base_url).hostname or ""
