"""The privacy guards' decisions, without any network (the end-to-end proofs are in
test_e2e_privacy.py and tests/backends)."""

from __future__ import annotations

import logging

import pytest

from typilot_lsp.backends.base import ModelInfo
from typilot_lsp.errors import CloudModelRefused, RemoteHostRefused
from typilot_lsp.logging_utils import Content, ContentFilter, install_content_filter, redact
from typilot_lsp.privacy import (
    PrivacyPolicy,
    check_host,
    check_model_info,
    check_model_name,
    cloud_name_marker,
    is_loopback_host,
)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1.2.3",
        "127.255.255.254",
        "::1",
        "[::1]",
        "localhost",
        "LOCALHOST",
        "localhost.",
        "::ffff:127.0.0.1",
        "0:0:0:0:0:0:0:1",
    ],
)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host",
    [
        "10.0.0.1",
        "192.168.1.10",
        "8.8.8.8",
        "0.0.0.0",
        "::",
        "fe80::1",
        "example.com",
        "localhost.example.com",
        "mylocalhost",
        "127.0.0.1.nip.io",
        "127.1",
        "2130706433",
        "",
    ],
)
def test_non_loopback_hosts(host: str) -> None:
    assert not is_loopback_host(host)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:11434", "http://localhost:11434", "http://[::1]:11434/x"]
)
def test_check_host_allows_loopback(url: str) -> None:
    check_host(url, allow_remote_host=False)


def test_check_host_refusal_names_host_reason_and_setting() -> None:
    with pytest.raises(RemoteHostRefused) as info:
        check_host("http://192.168.1.10:11434", allow_remote_host=False)
    message = str(info.value)
    assert "http://192.168.1.10:11434" in message
    assert "leave this machine" in message
    assert "typilot.privacy.allowRemoteHost" in message
    check_host("http://192.168.1.10:11434", allow_remote_host=True)


def test_check_host_explains_unspecified_address() -> None:
    with pytest.raises(RemoteHostRefused, match="listen on, not to connect to"):
        check_host("http://0.0.0.0:11434", allow_remote_host=False)


@pytest.mark.parametrize(
    ("model", "marker"),
    [
        ("deepseek-v4-pro:cloud", ":cloud"),
        ("gpt-oss:120b-cloud", "-cloud"),
        ("GPT-OSS:120B-CLOUD", "-cloud"),
        ("qwen3-coder:480b-cloud ", "-cloud"),
        ("gpt-oss:20b:cloud", ":cloud"),
        ("gpt-oss:cloud:local", ":cloud"),  # contradictory: Ollama rejects it, we refuse it
        ("qwen2.5-coder:1.5b", None),
        ("qwen2.5-coder", None),
        ("my-cloud-model:latest", None),
        ("cloud", None),
        ("gpt-oss:120b:local", None),
        ("registry.local:5000/team/model-cloud", None),
    ],
)
def test_cloud_name_marker_follows_ollama_parsing(model: str, marker: str | None) -> None:
    assert cloud_name_marker(model) == marker


def test_cloud_name_refusal_message() -> None:
    with pytest.raises(CloudModelRefused) as info:
        check_model_name("gpt-oss:120b-cloud", allow_cloud_models=False)
    message = str(info.value)
    assert "gpt-oss:120b-cloud" in message
    assert "leave this machine" in message
    assert "typilot.privacy.allowCloudModels" in message
    check_model_name("gpt-oss:120b-cloud", allow_cloud_models=True)


def test_remote_host_in_show_is_refused() -> None:
    info = ModelInfo("mine:latest", ("completion",), 8192, "https://ollama.com:443", "gpt-oss")
    with pytest.raises(CloudModelRefused) as exc:
        check_model_info(info, allow_cloud_models=False)
    assert "mine:latest" in str(exc.value) and "https://ollama.com:443" in str(exc.value)
    check_model_info(info, allow_cloud_models=True)
    only_model = ModelInfo("x:latest", (), None, None, "gpt-oss:120b")
    with pytest.raises(CloudModelRefused):
        check_model_info(only_model, allow_cloud_models=False)
    check_model_info(ModelInfo("qwen2.5-coder:1.5b", ("completion",), 32768, None), False)


def test_policy_reports_relaxed_settings() -> None:
    strict = PrivacyPolicy()
    assert not strict.relaxed and strict.warning() is None and strict.progress_label() is None
    both = PrivacyPolicy(allow_remote_host=True, allow_cloud_models=True)
    assert both.relaxed
    assert both.relaxed_settings() == [
        "typilot.privacy.allowRemoteHost",
        "typilot.privacy.allowCloudModels",
    ]
    assert both.progress_label() == "remote host allowed, cloud models allowed"
    warning = both.warning()
    assert warning is not None and "allowRemoteHost" in warning and "allowCloudModels" in warning
    cloud = PrivacyPolicy(allow_cloud_models=True)
    assert cloud.progress_label() == "cloud models allowed"


def test_policy_from_config() -> None:
    from typilot_lsp.config import Config

    config, errors = Config.from_dict({"privacy": {"allowCloudModels": True}})
    assert not errors
    policy = PrivacyPolicy.from_config(config)
    assert policy == PrivacyPolicy(allow_remote_host=False, allow_cloud_models=True)


def test_redact() -> None:
    assert redact("secret code", trace=True) == "secret code"
    hidden = redact("secret code", trace=False)
    assert "secret" not in hidden and "11 chars" in hidden
    assert redact(None, trace=False) == "<none>"


def _capture(trace: bool) -> tuple[logging.Logger, list[str]]:
    lines: list[str] = []

    class ListHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    logger = logging.getLogger(f"typilot-test-{trace}")
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(ListHandler())
    install_content_filter(trace, logger)
    return logger, lines


def test_content_filter_hides_content_and_pygls_bodies_by_default() -> None:
    logger, lines = _capture(trace=False)
    pygls_logger = logging.getLogger("pygls.protocol.json_rpc")
    pygls_logger.addHandler(logger.handlers[0])
    try:
        logger.debug("prompt: %s", Content("def secret(): pass"))
        body = '{"jsonrpc":"2.0","method":"workspace/applyEdit","params":{"newText":"secret"}}'
        pygls_logger.warning("Sending data: %s", body)
        pygls_logger.warning('Sending request with id "%s": %s', "7", "workspace/applyEdit")
    finally:
        pygls_logger.removeHandler(logger.handlers[0])
    assert not any("secret" in line for line in lines), lines
    assert "chars hidden" in lines[0]
    assert lines[2] == 'Sending request with id "7": workspace/applyEdit'


def test_content_filter_shows_content_with_trace() -> None:
    logger, lines = _capture(trace=True)
    logger.debug("prompt: %s", Content("def secret(): pass"))
    assert lines == ["prompt: def secret(): pass"]


def test_content_filter_reads_trace_live() -> None:
    state = {"trace": False}
    flt = ContentFilter(lambda: state["trace"])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", (Content("abc"),), None)
    flt.filter(record)
    assert "abc" not in record.getMessage()
    state["trace"] = True
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s", (Content("abc"),), None)
    flt.filter(record)
    assert record.getMessage() == "abc"


def test_content_without_filter_stays_hidden() -> None:
    assert "abc" not in str(Content("abc"))
