"""The `typilot` settings section: one attrs model, camelCase on the wire.

Settings arrive from initializationOptions, workspace/configuration and
workspace/didChangeConfiguration. Invalid values never stop the server: the
offending key keeps its default and a message says what was wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from typilot_lsp.context.model import DEFAULT_EXCLUDE
from typilot_lsp.prefixes import BUILTIN_COMMANDS, Mode

COMMAND_MODES = tuple(mode.value for mode in Mode)
BACKENDS = ("ollama", "openai")
FIM_MODES = ("auto", "off")
DEFAULT_OPENAI_BASE_URL = "http://127.0.0.1:8080/v1"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Each setting's checks sit on its own field (attrs validators, run on every value read from the
# client and on construction), so a renamed field keeps them.
Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def _one_of(*choices: str) -> Validator:
    def check(_instance: Any, _attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(map(repr, choices))}, got {value!r}")

    return check


def _not_negative(_instance: Any, _attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"must not be negative, got {value!r}")


def _positive(_instance: Any, _attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")


def _http_url(_instance: Any, _attribute: attrs.Attribute[Any], value: str) -> None:
    if not re.match(r"(?i)^https?://[^/\s]+", value):
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")


def _read_env_var_name(raw: Any) -> str | None:
    """An environment variable's name, or None for none; never the value in a message."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or not _ENV_NAME.match(raw):
        # Never echo the value: it may be the key itself, pasted in the wrong place.
        raise ValueError(
            "expected the NAME of an environment variable that holds the key (letters, "
            "digits and _, e.g. OPENAI_API_KEY), never the key itself; the value is not shown"
        )
    return raw


READ = "typilot.read"
"""Field metadata: a function that reads the field's raw value from the client in place of
cattrs (it raises ValueError with a message that must not show the value)."""


def _timeout(default: float) -> Any:
    return attrs.field(default=default, validator=_positive)


def _max_tokens(default: int) -> Any:
    return attrs.field(default=default, validator=_not_negative)


@attrs.define
class OllamaConfig:
    host: str | None = None
    """Ollama base URL; None means $OLLAMA_HOST, else http://127.0.0.1:11434."""
    model: str = "qwen2.5-coder:1.5b"
    keep_alive: str | int = "5m"
    options: dict[str, Any] = attrs.Factory(dict)
    connect_timeout: float = _timeout(2.0)
    first_token_timeout: float = _timeout(120.0)
    idle_timeout: float = _timeout(30.0)


@attrs.define
class OpenAIConfig:
    """An OpenAI-compatible server: llama.cpp's llama-server, LM Studio, vLLM, ..."""

    base_url: str = attrs.field(default=DEFAULT_OPENAI_BASE_URL, validator=_http_url)
    model: str = ""
    """The model id; "" means the one model the server lists (llama-server serves one)."""
    api_key_env: str | None = attrs.field(default=None, metadata={READ: _read_env_var_name})
    """The NAME of an environment variable that holds the API key (never the key itself)."""
    options: dict[str, Any] = attrs.Factory(dict)
    """Extra request fields: temperature, top_p, seed, stop, ..."""
    connect_timeout: float = _timeout(2.0)
    first_token_timeout: float = _timeout(120.0)
    idle_timeout: float = _timeout(30.0)


@attrs.define
class GenConfig:
    fim: str = attrs.field(default="auto", validator=_one_of(*FIM_MODES))
    """Fill-in-the-middle when the model supports it (`auto`), or always chat (`off`)."""
    max_tokens: int = _max_tokens(1024)


@attrs.define
class FixConfig:
    max_tokens: int = _max_tokens(2048)


@attrs.define
class SumConfig:
    max_tokens: int = _max_tokens(256)


@attrs.define
class PrivacyConfig:
    allow_remote_host: bool = False
    allow_cloud_models: bool = False


@attrs.define
class UserCommand:
    prompt: str
    mode: str = attrs.field(default="insert", validator=_one_of(*COMMAND_MODES))


@attrs.define
class HistoryConfig:
    enabled: bool = True
    retention_days: int = attrs.field(default=30, validator=_not_negative)
    store_content: bool = True
    path: str | None = None
    """Override of the history file; None means the platform's user data directory."""


@attrs.define
class VoiceConfig:
    model: str = "tiny.en"
    compute_type: str = "int8"
    input_device: str | int | None = None
    language: str = "en"
    max_seconds: float = attrs.field(default=30.0, validator=_positive)
    silence_seconds: float = attrs.field(default=0.7, validator=_positive)


@attrs.define
class StreamingConfig:
    edit_interval_ms: int = attrs.field(default=50, validator=_not_negative)
    """Tokens arriving within this window are sent to the editor as one edit."""
    max_edit_interval_ms: int = attrs.field(default=250, validator=_not_negative)
    """The window doubles after every edit up to this, so a long reply is a few dozen edits."""
    echo_timeout_ms: int = attrs.field(default=3000, validator=_not_negative)
    """How long to wait for the editor to report a streamed edit back before giving up."""


def _default_exclude() -> list[str]:
    return list(DEFAULT_EXCLUDE)


@attrs.define
class ContextConfig:
    max_chars: int = attrs.field(default=3000, validator=_not_negative)
    """Budget for the surrounding code sent with a prompt (also capped by the model's context)."""
    other_files: bool = True
    """Send the definitions the code at hand uses from other files of the workspace."""
    exclude: list[str] = attrs.Factory(_default_exclude)
    """Files never read for context (gitignore syntax). The secret patterns always apply:
    a list here adds to them, it never lets one through."""


def _default_prefixes() -> dict[str, str]:
    return {command: f"{command}:" for command in BUILTIN_COMMANDS}


@attrs.define
class PrewarmConfig:
    enabled: bool = True
    """Send a prefixed line's prompt to the model server while the user types, so that the
    server's prompt cache holds it when the run starts (nothing is generated)."""
    delay_ms: int = attrs.field(default=300, validator=_not_negative)
    """How long the editor stays quiet after a prefixed line changed before its prompt is sent
    (asking for the code actions sends it at once)."""
    remote_host: bool = False
    """Also to a model server that is not on this machine (`privacy.allowRemoteHost` must
    allow it too): off, a prompt goes to a remote server only when you pick the action."""


@attrs.define
class Config:
    backend: str = attrs.field(default="ollama", validator=_one_of(*BACKENDS))
    ollama: OllamaConfig = attrs.Factory(OllamaConfig)
    openai: OpenAIConfig = attrs.Factory(OpenAIConfig)
    privacy: PrivacyConfig = attrs.Factory(PrivacyConfig)
    prefixes: dict[str, str] = attrs.Factory(_default_prefixes)
    commands: dict[str, UserCommand] = attrs.Factory(dict)
    history: HistoryConfig = attrs.Factory(HistoryConfig)
    voice: VoiceConfig = attrs.Factory(VoiceConfig)
    streaming: StreamingConfig = attrs.Factory(StreamingConfig)
    context: ContextConfig = attrs.Factory(ContextConfig)
    prewarm: PrewarmConfig = attrs.Factory(PrewarmConfig)
    gen: GenConfig = attrs.Factory(GenConfig)
    fix: FixConfig = attrs.Factory(FixConfig)
    sum: SumConfig = attrs.Factory(SumConfig)
    trace: bool = False

    @property
    def model(self) -> str:
        """The model of the selected backend ("" for `openai`: the one the server serves)."""
        return self.openai.model if self.backend == "openai" else self.ollama.model

    @property
    def generation_options(self) -> dict[str, Any]:
        """The selected backend's pass-through options."""
        return dict(self.openai.options if self.backend == "openai" else self.ollama.options)

    def with_overrides(
        self, *, backend: str | None = None, host: str | None = None, model: str | None = None
    ) -> Config:
        """Command-line overrides (``--backend``, ``--host``, ``--model``) applied to the
        selected backend: ``--host`` is Ollama's host or the OpenAI-compatible base URL."""
        config = attrs.evolve(self, backend=backend) if backend in BACKENDS else self
        if config.backend == "openai":
            openai = config.openai
            if host:
                openai = attrs.evolve(openai, base_url=host)
            if model:
                openai = attrs.evolve(openai, model=model)
            return attrs.evolve(config, openai=openai)
        ollama = config.ollama
        if host:
            ollama = attrs.evolve(ollama, host=host)
        if model:
            ollama = attrs.evolve(ollama, model=model)
        return attrs.evolve(config, ollama=ollama)

    def max_tokens_for(self, command: str, mode: str) -> tuple[int, str]:
        """The reply-length bound of a command (0: none) and the setting that holds it.

        A user command takes the bound of the built-in command with its mode."""
        if command not in ("gen", "fix", "sum"):
            command = {"replace": "fix", "comment": "sum"}.get(mode, "gen")
        bound = {"gen": self.gen.max_tokens, "fix": self.fix.max_tokens}.get(
            command, self.sum.max_tokens
        )
        return bound, f"typilot.{command}.maxTokens"

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
    OpenAIConfig,
    GenConfig,
    FixConfig,
    SumConfig,
    PrivacyConfig,
    UserCommand,
    HistoryConfig,
    VoiceConfig,
    StreamingConfig,
    ContextConfig,
    PrewarmConfig,
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
            raise ValueError(f"expected an object of options, got {raw!r}")
        return dict(raw)
    if field.name == "exclude":
        return _exclude_patterns(raw, where, errors)
    read = field.metadata.get(READ)
    if read is not None:
        return read(raw)
    value = converter.structure(raw, field.type)  # type: ignore[arg-type]
    if field.validator is not None:
        field.validator(None, field, value)
    return value


def _exclude_patterns(raw: Any, where: str, errors: list[str]) -> list[str]:
    """`context.exclude`: a list of gitignore patterns; a bad one costs only itself. The
    secret patterns are added back: a list that leaves them out still excludes them."""
    if not isinstance(raw, list):
        raise ValueError(f'expected a list of patterns such as ["*.log", "build/"], got {raw!r}')
    import pathspec  # only when a user sets the list: the server starts without it

    patterns: list[str] = []
    for pattern in raw:
        if not isinstance(pattern, str) or not pattern.strip():
            errors.append(f"{where}: {pattern!r} is not a pattern (a non-empty string); ignored")
            continue
        try:
            pathspec.GitIgnoreSpec.from_lines([pattern])
        except Exception as exc:
            errors.append(f"{where}: {pattern!r} is not a gitignore pattern ({exc}); ignored")
            continue
        patterns.append(pattern)
    return [*DEFAULT_EXCLUDE, *(p for p in patterns if p not in DEFAULT_EXCLUDE)]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        inner = [_describe(e) for e in exc.exceptions]
        return "; ".join(inner) or str(exc)
    if isinstance(exc, KeyError):
        return f"missing required key {exc.args[0]!r}"
    return str(exc)


_NESTED: dict[str, type] = {
    "ollama": OllamaConfig,
    "openai": OpenAIConfig,
    "gen": GenConfig,
    "fix": FixConfig,
    "sum": SumConfig,
    "privacy": PrivacyConfig,
    "history": HistoryConfig,
    "voice": VoiceConfig,
    "streaming": StreamingConfig,
    "context": ContextConfig,
    "prewarm": PrewarmConfig,
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
