"""Each setting's checks live on its own field (server/typilot_lsp/config.py): a bad value read
from the client costs only that setting, with a message naming its key, and the same check holds
for a config built in code."""

from __future__ import annotations

import re
from typing import Any

import attrs
import pytest

from typilot_lsp.config import (
    Config,
    GenConfig,
    OpenAIConfig,
    StreamingConfig,
    VoiceConfig,
    setting_keys,
)

BAD_VALUES = [
    ("backend", "llamacpp", "expected one of 'ollama', 'openai'"),
    ("gen.fim", "always", "expected one of 'auto', 'off'"),
    ("openai.baseUrl", "localhost:8080", "http:// or https:// URL"),
    ("ollama.connectTimeout", 0, "greater than 0"),
    ("ollama.firstTokenTimeout", -1, "greater than 0"),
    ("ollama.idleTimeout", 0, "greater than 0"),
    ("openai.connectTimeout", -0.5, "greater than 0"),
    ("openai.firstTokenTimeout", 0, "greater than 0"),
    ("openai.idleTimeout", 0, "greater than 0"),
    ("voice.maxSeconds", 0, "greater than 0"),
    ("voice.silenceSeconds", -0.2, "greater than 0"),
    ("gen.maxTokens", -1, "must not be negative"),
    ("fix.maxTokens", -1, "must not be negative"),
    ("sum.maxTokens", -1, "must not be negative"),
    ("history.retentionDays", -1, "must not be negative"),
    ("streaming.editIntervalMs", -1, "must not be negative"),
    ("streaming.maxEditIntervalMs", -1, "must not be negative"),
    ("streaming.echoTimeoutMs", -1, "must not be negative"),
    ("context.maxChars", -1, "must not be negative"),
    ("prewarm.delayMs", -1, "must not be negative"),
]


def wire(key: str, value: Any) -> dict[str, Any]:
    """`{"gen": {"fim": value}}` for `gen.fim`."""
    section, _, name = key.rpartition(".")
    return {section: {name: value}} if section else {name: value}


@pytest.mark.parametrize(("key", "bad", "said"), BAD_VALUES, ids=[k for k, _, _ in BAD_VALUES])
def test_a_bad_value_keeps_the_default_and_names_its_key(key: str, bad: Any, said: str) -> None:
    config, errors = Config.from_dict(wire(key, bad))
    assert config == Config()
    assert len(errors) == 1 and errors[0].startswith(f"typilot.{key}: "), errors
    assert said in errors[0] and "using the default" in errors[0]


def test_every_checked_setting_is_covered() -> None:
    """A setting that gains a check gets a row in BAD_VALUES: the list above is the contract."""
    assert checked_keys() == {key for key, _, _ in BAD_VALUES}


def checked_keys() -> set[str]:
    """The dotted keys of every setting whose field carries a validator."""
    keys: set[str] = set()
    for key in setting_keys():
        owner: Any = Config()
        *sections, name = [re.sub(r"(?<!^)(?=[A-Z])", "_", part).lower() for part in key.split(".")]
        for section in sections:
            owner = getattr(owner, section)
        if attrs.fields_dict(type(owner))[name].validator is not None:
            keys.add(key)
    return keys


def test_the_good_edge_values_pass() -> None:
    config, errors = Config.from_dict(
        {
            "backend": "openai",
            "openai": {"baseUrl": "https://models.example:8443/v1", "idleTimeout": 0.1},
            "gen": {"fim": "off", "maxTokens": 0},
            "streaming": {"editIntervalMs": 0},
        }
    )
    assert errors == []
    assert config.openai.idle_timeout == 0.1 and config.gen.max_tokens == 0


def test_a_user_command_with_an_unknown_mode_is_ignored_alone() -> None:
    config, errors = Config.from_dict(
        {"commands": {"t:": {"prompt": "a test", "mode": "append"}, "d:": {"prompt": "docs"}}}
    )
    assert list(config.commands) == ["d:"]
    assert len(errors) == 1 and errors[0].startswith("typilot.commands.t:")
    assert "expected one of 'insert', 'replace', 'comment'" in errors[0]


def test_the_same_checks_hold_for_a_config_built_in_code() -> None:
    for build in (
        lambda: GenConfig(fim="always"),
        lambda: OpenAIConfig(base_url="localhost"),
        lambda: StreamingConfig(edit_interval_ms=-1),
        lambda: VoiceConfig(silence_seconds=0),
        lambda: Config(backend="llamacpp"),
    ):
        with pytest.raises(ValueError):
            build()
