"""docs/configuration.md and the settings model cannot drift apart."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typilot_lsp.config import Config, default_values

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
ROW = re.compile(r"^\| `(?P<key>[^`]+)` \| `(?P<default>.+?)` \| (?P<meaning>.+) \|$")


def documented() -> dict[str, str]:
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = ROW.match(line)
        if m and not m.group("key").isupper():
            rows[m.group("key")] = m.group("default")
    return rows


def test_every_setting_is_documented_with_its_default() -> None:
    docs = documented()
    defaults = default_values()
    assert set(docs) == set(defaults), (
        f"undocumented: {sorted(set(defaults) - set(docs))}, "
        f"documented but unknown: {sorted(set(docs) - set(defaults))}"
    )
    for key, value in defaults.items():
        assert json.loads(docs[key]) == value, key


def test_documented_defaults_parse_back_without_errors() -> None:
    nested: dict = {}
    for key, raw in documented().items():
        node = nested
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = json.loads(raw)
    config, errors = Config.from_dict(nested)
    assert errors == []
    assert config == Config()


def test_invalid_values_keep_defaults_with_messages() -> None:
    config, errors = Config.from_dict(
        {
            "ollama": {"idleTimeout": "soon", "model": "x:1b"},
            "history": {"retentionDays": -1},
            "commands": {"t:": {"mode": "insert"}},
            "nonsense": 1,
        }
    )
    assert config.ollama.model == "x:1b"
    assert config.ollama.idle_timeout == Config().ollama.idle_timeout
    assert config.history.retention_days == 30
    assert config.commands == {}
    text = "\n".join(errors)
    for fragment in ("idleTimeout", "retentionDays", "prompt", "nonsense"):
        assert fragment in text
