"""The `typilot` settings section: one attrs model, camelCase on the wire.

Settings arrive from initializationOptions, workspace/configuration and
workspace/didChangeConfiguration. Invalid values never stop the server: the
offending key keeps its default and a message says what was wrong.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

COMMAND_MODES = ("insert", "replace", "comment")


@attrs.define
class OllamaConfig:
    host: str | None = None
    """Ollama base URL; None means $OLLAMA_HOST, else http://127.0.0.1:11434."""
    model: str = "qwen2.5-coder:1.5b"
    keep_alive: str | int = "5m"
    options: dict[str, Any] = attrs.Factory(dict)
    connect_timeout: float = 2.0
    first_token_timeout: float = 120.0
    idle_timeout: float = 30.0


@attrs.define
class PrivacyConfig:
    allow_remote_host: bool = False
    allow_cloud_models: bool = False


@attrs.define
class UserCommand:
    prompt: str
    mode: str = attrs.field(default="insert", validator=attrs.validators.in_(COMMAND_MODES))


@attrs.define
class HistoryConfig:
    enabled: bool = True
    retention_days: int = 30
    store_content: bool = True
    path: str | None = None
    """Override of the history file; None means the platform's user data directory."""


@attrs.define
class VoiceConfig:
    model: str = "tiny.en"
    compute_type: str = "int8"
    input_device: str | int | None = None
    language: str = "en"
    max_seconds: float = 30.0
    silence_seconds: float = 0.7


@attrs.define
class StreamingConfig:
    edit_interval_ms: int = 50
    """Tokens arriving within this window are sent to the editor as one edit."""
    max_edit_interval_ms: int = 250
    """The window doubles after every edit up to this, so a long reply is a few dozen edits."""
    echo_timeout_ms: int = 3000
    """How long to wait for the editor to report a streamed edit back before giving up."""


@attrs.define
class ContextConfig:
    max_chars: int = 8000
    """Budget for the surrounding code sent with a prompt (also capped by the model's context)."""


def _default_prefixes() -> dict[str, str]:
    return {"gen": "gen:", "fix": "fix:", "sum": "sum:"}


@attrs.define
class Config:
    ollama: OllamaConfig = attrs.Factory(OllamaConfig)
    privacy: PrivacyConfig = attrs.Factory(PrivacyConfig)
    prefixes: dict[str, str] = attrs.Factory(_default_prefixes)
    commands: dict[str, UserCommand] = attrs.Factory(dict)
    history: HistoryConfig = attrs.Factory(HistoryConfig)
    voice: VoiceConfig = attrs.Factory(VoiceConfig)
    streaming: StreamingConfig = attrs.Factory(StreamingConfig)
    context: ContextConfig = attrs.Factory(ContextConfig)
    trace: bool = False

    @classmethod
    def from_dict(cls, data: Any) -> tuple[Config, list[str]]:
        """Build a Config from the wire form; bad keys keep their defaults."""
        return structure_config(data)

    def to_dict(self) -> dict[str, Any]:
        return converter.unstructure(self)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


SECTIONS: tuple[type, ...] = (
    OllamaConfig,
    PrivacyConfig,
    UserCommand,
    HistoryConfig,
    VoiceConfig,
    StreamingConfig,
    ContextConfig,
    Config,
)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False)

    def _strict_bool(value: Any, _type: Any) -> bool:
        if isinstance(value, bool):
            return value
        raise ValueError(f"expected true or false, got {value!r}")

    def _strict_int(value: Any, _type: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            raise ValueError(f"expected a whole number, got {value!r}")
        return int(value)

    def _strict_float(value: Any, _type: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {value!r}")
        return float(value)

    def _strict_str(value: Any, _type: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        return value

    conv.register_structure_hook(bool, _strict_bool)
    conv.register_structure_hook(int, _strict_int)
    conv.register_structure_hook(float, _strict_float)
    conv.register_structure_hook(str, _strict_str)

    def _str_or_int(value: Any, _type: Any) -> str | int:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(f"expected a string or a number, got {value!r}")
        return value

    conv.register_structure_hook(str | int, _str_or_int)

    def _str_int_none(value: Any, _type: Any) -> str | int | None:
        if value is None or value == "":
            return None
        return _str_or_int(value, _type)

    conv.register_structure_hook(str | int | None, _str_int_none)

    for cls in SECTIONS:
        renames = {a.name: override(rename=_camel(a.name)) for a in attrs.fields(cls)}
        conv.register_structure_hook(cls, make_dict_structure_fn(cls, conv, **renames))  # type: ignore[arg-type]
        conv.register_unstructure_hook(cls, make_dict_unstructure_fn(cls, conv, **renames))  # type: ignore[arg-type]
    return conv


converter = _make_converter()


def _structure_section(
    cls: type, data: Any, path: str, errors: list[str], nested: dict[str, type]
) -> Any:
    """Structure one attrs class field by field so one bad value spoils only itself."""
    default = cls()
    if data is None:
        return default
    if not isinstance(data, dict):
        errors.append(f"typilot{path}: expected an object, got {data!r}; using defaults")
        return default
    known = {_camel(a.name): a for a in attrs.fields(cls)}
    values: dict[str, Any] = {}
    for key, raw in data.items():
        field = known.get(key) or known.get(_camel(_snake(key)))
        where = f"typilot{path}.{key}"
        if field is None:
            errors.append(f"{where}: unknown setting, ignored")
            continue
        if field.name in nested:
            values[field.name] = _structure_section(
                nested[field.name], raw, f"{path}.{_camel(field.name)}", errors, {}
            )
            continue
        try:
            values[field.name] = _structure_value(field, raw, where, errors)
        except Exception as exc:
            errors.append(f"{where}: {_describe(exc)}; using the default")
    try:
        return attrs.evolve(default, **values)
    except Exception as exc:
        errors.append(f"typilot{path}: {_describe(exc)}; using defaults")
        return default


def _structure_value(field: attrs.Attribute[Any], raw: Any, where: str, errors: list[str]) -> Any:
    if field.name == "commands":
        if not isinstance(raw, dict):
            raise ValueError(f"expected an object of commands, got {raw!r}")
        commands: dict[str, UserCommand] = {}
        for prefix, spec in raw.items():
            try:
                if not isinstance(prefix, str) or not prefix.strip():
                    raise ValueError("a command's prefix must be a non-empty string")
                commands[prefix.strip()] = converter.structure(spec, UserCommand)
            except Exception as exc:
                errors.append(f"{where}.{prefix}: {_describe(exc)}; command ignored")
        return commands
    if field.name == "prefixes":
        if not isinstance(raw, dict):
            raise ValueError(f"expected an object like {_default_prefixes()}, got {raw!r}")
        prefixes = _default_prefixes()
        for name, prefix in raw.items():
            if name not in prefixes:
                errors.append(f"{where}.{name}: unknown command (gen, fix, sum); ignored")
            elif not isinstance(prefix, str) or not prefix.strip():
                errors.append(f"{where}.{name}: expected a non-empty string; using the default")
            else:
                prefixes[name] = prefix.strip()
        return prefixes
    if field.name == "options":
        if not isinstance(raw, dict):
            raise ValueError(f"expected an object of Ollama options, got {raw!r}")
        return dict(raw)
    value = converter.structure(raw, field.type)  # type: ignore[arg-type]
    non_negative = {
        "retention_days",
        "edit_interval_ms",
        "max_edit_interval_ms",
        "max_chars",
        "echo_timeout_ms",
    }
    if field.name in non_negative and value < 0:
        raise ValueError(f"must not be negative, got {raw!r}")
    if (field.name.endswith("timeout") or field.name.endswith("_seconds")) and value <= 0:
        raise ValueError(f"must be greater than 0, got {raw!r}")
    return value


def _describe(exc: BaseException) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        inner = [_describe(e) for e in exc.exceptions]
        return "; ".join(inner) or str(exc)
    if isinstance(exc, KeyError):
        return f"missing required key {exc.args[0]!r}"
    return str(exc)


_NESTED: dict[str, type] = {
    "ollama": OllamaConfig,
    "privacy": PrivacyConfig,
    "history": HistoryConfig,
    "voice": VoiceConfig,
    "streaming": StreamingConfig,
    "context": ContextConfig,
}


def structure_config(data: Any) -> tuple[Config, list[str]]:
    errors: list[str] = []
    if isinstance(data, dict) and "typilot" in data and isinstance(data["typilot"], dict):
        # Some clients send the whole settings object rather than the section.
        data = data["typilot"]
    config = _structure_section(Config, data or {}, "", errors, _NESTED)
    return config, errors


def setting_keys() -> list[str]:
    """Every setting as a dotted camelCase key, e.g. `ollama.keepAlive` (docs and clients)."""
    keys: list[str] = []
    for field in attrs.fields(Config):
        name = _camel(field.name)
        nested = _NESTED.get(field.name)
        if nested is None:
            keys.append(name)
        else:
            keys.extend(f"{name}.{_camel(f.name)}" for f in attrs.fields(nested))
    return keys


def default_values() -> dict[str, Any]:
    """Dotted camelCase key -> default, from the model itself."""
    flat: dict[str, Any] = {}
    wire = Config().to_dict()
    for key in setting_keys():
        node: Any = wire
        for part in key.split("."):
            node = node[part]
        flat[key] = node
    return flat
