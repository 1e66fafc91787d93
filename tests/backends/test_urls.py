"""OLLAMA_HOST parsing: the same results as the official Python client's documented cases."""

from __future__ import annotations

import pytest

from typilot_lsp.backends.urls import (
    DEFAULT_OLLAMA_HOST,
    host_name,
    parse_ollama_host,
    resolve_ollama_host,
)
from typilot_lsp.errors import InvalidHost

CASES = [
    (None, "http://127.0.0.1:11434"),
    ("", "http://127.0.0.1:11434"),
    ("   ", "http://127.0.0.1:11434"),
    ("1.2.3.4", "http://1.2.3.4:11434"),
    (":56789", "http://127.0.0.1:56789"),
    ("1.2.3.4:56789", "http://1.2.3.4:56789"),
    ("http://1.2.3.4", "http://1.2.3.4:80"),
    ("https://1.2.3.4", "https://1.2.3.4:443"),
    ("https://1.2.3.4:56789", "https://1.2.3.4:56789"),
    ("example.com", "http://example.com:11434"),
    ("example.com:56789", "http://example.com:56789"),
    ("http://example.com", "http://example.com:80"),
    ("https://example.com", "https://example.com:443"),
    ("https://example.com:56789", "https://example.com:56789"),
    ("example.com/", "http://example.com:11434"),
    ("example.com:56789/", "http://example.com:56789"),
    ("example.com/path", "http://example.com:11434/path"),
    ("example.com:56789/path", "http://example.com:56789/path"),
    ("https://example.com:56789/path", "https://example.com:56789/path"),
    ("example.com:56789/path/", "http://example.com:56789/path"),
    ("https://example.com:56789/a/b/", "https://example.com:56789/a/b"),
    ("localhost", "http://localhost:11434"),
    ("127.0.0.1:11434", "http://127.0.0.1:11434"),
    ("[0001:002:003:0004::1]", "http://[0001:002:003:0004::1]:11434"),
    ("[0001:002:003:0004::1]:56789", "http://[0001:002:003:0004::1]:56789"),
    ("http://[0001:002:003:0004::1]", "http://[0001:002:003:0004::1]:80"),
    ("https://[0001:002:003:0004::1]", "https://[0001:002:003:0004::1]:443"),
    ("https://[0001:002:003:0004::1]:56789", "https://[0001:002:003:0004::1]:56789"),
    ("[0001:002:003:0004::1]/", "http://[0001:002:003:0004::1]:11434"),
    ("[0001:002:003:0004::1]:56789/", "http://[0001:002:003:0004::1]:56789"),
    ("[0001:002:003:0004::1]/path", "http://[0001:002:003:0004::1]:11434/path"),
    ("[0001:002:003:0004::1]:56789/path", "http://[0001:002:003:0004::1]:56789/path"),
    ("https://[0001:002:003:0004::1]:56789/path", "https://[0001:002:003:0004::1]:56789/path"),
    ("[0001:002:003:0004::1]:56789/path/", "http://[0001:002:003:0004::1]:56789/path"),
    ("[::1]:11434", "http://[::1]:11434"),
]


@pytest.mark.parametrize(("value", "expected"), CASES)
def test_parse_ollama_host_matches_official_clients(value: str | None, expected: str) -> None:
    assert parse_ollama_host(value) == expected


def test_default_is_loopback_11434() -> None:
    """Nothing set (no setting, no $OLLAMA_HOST): Ollama's own loopback address and port."""
    for unset in (None, ""):
        assert resolve_ollama_host(unset, {}) == "http://127.0.0.1:11434"
        assert parse_ollama_host(unset) == "http://127.0.0.1:11434"
    assert resolve_ollama_host(None, {}) == DEFAULT_OLLAMA_HOST  # the exported constant is used


@pytest.mark.parametrize("value", ["ftp://example.com", "unix:///run/ollama.sock"])
def test_unsupported_scheme_is_a_clear_error(value: str) -> None:
    with pytest.raises(InvalidHost) as info:
        parse_ollama_host(value)
    message = str(info.value)
    assert value in message and "typilot.ollama.host" in message and "http" in message


def test_bad_port_is_a_clear_error() -> None:
    with pytest.raises(InvalidHost, match="bad port"):
        parse_ollama_host("localhost:notaport")


def test_resolve_ollama_host_prefers_setting_then_env_then_default() -> None:
    env = {"OLLAMA_HOST": ":9999"}
    assert resolve_ollama_host("http://localhost:1234/", env) == "http://localhost:1234"
    assert resolve_ollama_host(None, env) == "http://127.0.0.1:9999"
    assert resolve_ollama_host("", env) == "http://127.0.0.1:9999"
    assert resolve_ollama_host(None, {}) == DEFAULT_OLLAMA_HOST
    assert resolve_ollama_host(None, {"OLLAMA_HOST": ""}) == DEFAULT_OLLAMA_HOST


def test_host_name_strips_brackets_and_port() -> None:
    assert host_name("http://[::1]:11434") == "::1"
    assert host_name("https://Example.COM:443/x") == "example.com"
