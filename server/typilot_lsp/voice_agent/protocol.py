"""The voice sidecar protocol: typed requests and events, one JSON object per line.

Both sides import this module and nothing else of the other: the sidecar
(`typilot_lsp.voice_agent.sidecar`) decodes requests and encodes events, the voice feature's
client (`typilot_lsp.features.voice.client`) encodes requests and decodes events. It needs only
attrs, cattrs and the config model, so the language server can import it without loading audio or
model libraries.

On the wire, field names are camelCase; a request carries ``op`` and usually ``id``, an event
carries ``event`` and the ``id`` of the request it answers (None for hello and protocol errors).

Requests:
    configure  the voice settings (the `typilot.voice` section, flattened) and the user commands;
               the model is loaded and kept warm                  -> configured | error
    listen     record from the microphone until the end-pointer, `stop` or `abort` ends it
               -> listening, speech, partial*, transcribing, result | aborted | error
    stop       end the capture of listen `id` and transcribe it (push-to-talk)
    abort      end it and drop the audio (stop and abort are ignored once that capture ended)
    transcribe a WAV file                                          -> transcribing, result | error
    ping                                                           -> pong
    shutdown   exit

At start the sidecar writes `Hello`. Errors carry a code and a message that names the fix.
"""

from __future__ import annotations

import enum
import json
from typing import Any, ClassVar, Union

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from typilot_lsp.config import VoiceConfig, _camel, structure_config

__all__ = [
    "TERMINAL_EVENTS",
    "Abort",
    "Aborted",
    "Configure",
    "Configured",
    "EndReason",
    "Error",
    "Event",
    "Hello",
    "Listen",
    "Listening",
    "Partial",
    "Ping",
    "Pong",
    "ProtocolError",
    "Request",
    "Result",
    "Shutdown",
    "Speech",
    "Stop",
    "Transcribe",
    "Transcribing",
    "decode_event",
    "decode_request",
    "encode",
]


class ProtocolError(ValueError):
    """A line that is not a message of this protocol."""


class EndReason(str, enum.Enum):
    """Why a capture ended (or where the audio came from)."""

    SILENCE = "silence"
    """The end-pointer heard `voice.silenceSeconds` of non-speech after speech."""
    MAX = "max"
    """`voice.maxSeconds` reached."""
    STOP = "stop"
    """Push-to-talk released (`stop`)."""
    ABORT = "abort"
    NO_SPEECH = "no-speech"
    """Nothing was said (a muted or wrong microphone)."""
    DEVICE_LOST = "device-lost"
    FILE = "file"
    """`transcribe` of a file, not a capture."""


# --- requests ------------------------------------------------------------------------------


@attrs.frozen
class Configure:
    op: ClassVar[str] = "configure"
    voice: VoiceConfig = attrs.field(factory=VoiceConfig)
    user_commands: tuple[str, ...] = ()
    id: int | None = None


@attrs.frozen
class Listen:
    op: ClassVar[str] = "listen"
    vad: bool = True
    """False: only `stop`, `abort` or maxSeconds end the capture."""
    id: int | None = None


@attrs.frozen
class Stop:
    op: ClassVar[str] = "stop"
    id: int | None = None


@attrs.frozen
class Abort:
    op: ClassVar[str] = "abort"
    id: int | None = None


@attrs.frozen
class Transcribe:
    op: ClassVar[str] = "transcribe"
    path: str = ""
    id: int | None = None


@attrs.frozen
class Ping:
    op: ClassVar[str] = "ping"
    id: int | None = None


@attrs.frozen
class Shutdown:
    op: ClassVar[str] = "shutdown"
    id: int | None = None


Request = Union[Configure, Listen, Stop, Abort, Transcribe, Ping, Shutdown]  # noqa: UP007

# --- events --------------------------------------------------------------------------------


@attrs.frozen
class Hello:
    event: ClassVar[str] = "hello"
    pid: int
    version: str = ""
    id: int | None = None


@attrs.frozen
class Configured:
    event: ClassVar[str] = "configured"
    model: str
    path: str
    load_seconds: float = 0.0
    id: int | None = None


@attrs.frozen
class Listening:
    event: ClassVar[str] = "listening"
    id: int | None = None


@attrs.frozen
class Speech:
    """Speech started."""

    event: ClassVar[str] = "speech"
    id: int | None = None


@attrs.frozen
class Partial:
    """The words heard so far, transcribed at a pause while the user may go on speaking."""

    event: ClassVar[str] = "partial"
    text: str
    audio_seconds: float = 0.0
    id: int | None = None


@attrs.frozen
class Transcribing:
    """Capture ended; the result follows (at once when the last pause was already transcribed)."""

    event: ClassVar[str] = "transcribing"
    reason: EndReason
    audio_seconds: float = 0.0
    speech: bool = True
    id: int | None = None


@attrs.frozen
class Result:
    event: ClassVar[str] = "result"
    text: str
    command: str | None
    instruction: str = ""
    reason: EndReason | None = None
    audio_seconds: float = 0.0
    transcribe_seconds: float = 0.0
    latency_seconds: float | None = None
    """End of speech (the last speech window's arrival) to this result; None for a file."""
    speculative: bool = False
    """True when the transcript was made at the last pause, before the end was decided."""
    id: int | None = None


@attrs.frozen
class Aborted:
    event: ClassVar[str] = "aborted"
    audio_seconds: float = 0.0
    id: int | None = None


@attrs.frozen
class Pong:
    event: ClassVar[str] = "pong"
    pid: int
    id: int | None = None


@attrs.frozen
class Error:
    event: ClassVar[str] = "error"
    code: str
    message: str
    id: int | None = None


Event = Union[  # noqa: UP007
    Hello, Configured, Listening, Speech, Partial, Transcribing, Result, Aborted, Pong, Error
]

TERMINAL_EVENTS: tuple[type, ...] = (Result, Error, Aborted, Configured, Pong)
"""The events that end a request: nothing more comes for its id."""

_REQUESTS: dict[str, type] = {
    cls.op: cls for cls in (Configure, Listen, Stop, Abort, Transcribe, Ping, Shutdown)
}
_EVENTS: dict[str, type] = {
    cls.event: cls
    for cls in (
        Hello,
        Configured,
        Listening,
        Speech,
        Partial,
        Transcribing,
        Result,
        Aborted,
        Pong,
        Error,
    )
}

# --- encoding ------------------------------------------------------------------------------


def _strict(kind: type, accepts: tuple[type, ...]) -> Any:
    def structure(value: Any, _type: Any) -> Any:
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, accepts):
            raise TypeError(f"expected {kind.__name__}, got {value!r}")
        return kind(value)

    return structure


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False)
    # No coercion: a list is not a path, a string is not a number.
    conv.register_structure_hook(str, _strict(str, (str,)))
    conv.register_structure_hook(int, _strict(int, (int,)))
    conv.register_structure_hook(float, _strict(float, (int, float)))
    conv.register_structure_hook(bool, _strict(bool, (bool,)))
    # EndReason is a str: without its own hook the one for str would take it.
    conv.register_structure_hook(EndReason, lambda value, _type: EndReason(value))
    for cls in (*_REQUESTS.values(), *_EVENTS.values()):
        if cls is Configure:
            continue
        renames = {a.name: override(rename=_camel(a.name)) for a in attrs.fields(cls)}
        conv.register_unstructure_hook(cls, make_dict_unstructure_fn(cls, conv, **renames))  # type: ignore[arg-type]
        conv.register_structure_hook(cls, make_dict_structure_fn(cls, conv, **renames))  # type: ignore[arg-type]
    return conv


_converter = _make_converter()


def encode(message: Request | Event) -> str:
    """One JSON line (without the newline) for a request or an event."""
    if isinstance(message, Configure):
        from typilot_lsp.config import converter as config_converter

        data: dict[str, Any] = {
            "op": Configure.op,
            "id": message.id,
            **config_converter.unstructure(message.voice),
            "userCommands": list(message.user_commands),
        }
    else:
        tag = {"op": message.op} if hasattr(message, "op") else {"event": message.event}
        data = {**tag, **_converter.unstructure(message)}
    return json.dumps(data, ensure_ascii=False)


def _parse(line: str | bytes | dict[str, Any]) -> dict[str, Any]:
    if isinstance(line, dict):
        return line
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(f"bad line: {exc}") from exc
    if not isinstance(data, dict):
        raise ProtocolError("bad line: not an object")
    return data


def _request_id(data: dict[str, Any]) -> int | None:
    value = data.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def decode_request(line: str | bytes | dict[str, Any]) -> Request:
    """The request on one line; ProtocolError (with the id when there is one) if it is none."""
    data = _parse(line)
    op = data.get("op")
    cls = _REQUESTS.get(op) if isinstance(op, str) else None
    if cls is None:
        error = ProtocolError(f"unknown op {op!r}")
        error.id = _request_id(data)  # type: ignore[attr-defined]
        raise error
    if cls is Configure:
        # The settings go through the config model: a bad value keeps its default.
        fields = {k: v for k, v in data.items() if k not in ("op", "id", "userCommands")}
        config, _errors = structure_config({"voice": fields})
        commands = data.get("userCommands") or ()
        return Configure(
            voice=config.voice,
            user_commands=tuple(str(c) for c in commands) if isinstance(commands, list) else (),
            id=_request_id(data),
        )
    try:
        request: Request = _converter.structure(data, cls)
    except Exception as exc:
        error = ProtocolError(f"bad {op} request: {exc}")
        error.id = _request_id(data)  # type: ignore[attr-defined]
        raise error from exc
    return request


def decode_event(line: str | bytes | dict[str, Any]) -> Event:
    """The event on one line; ProtocolError if it is none."""
    data = _parse(line)
    kind = data.get("event")
    cls = _EVENTS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(f"unknown event {kind!r}")
    try:
        event: Event = _converter.structure(data, cls)
    except Exception as exc:
        raise ProtocolError(f"bad {kind} event: {exc}") from exc
    return event
