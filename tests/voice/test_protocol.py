"""The sidecar protocol: every message survives a trip over the wire; bad lines are refused."""

from __future__ import annotations

import json

import pytest

from typilot_lsp.config import Config, VoiceConfig
from typilot_lsp.voice_agent import protocol as p

REQUESTS: list[p.Request] = [
    p.Configure(
        VoiceConfig(model="/models/tiny", input_device=3, silence_seconds=0.5), ("test",), 1
    ),
    p.Configure(id=7),
    p.Listen(id=2),
    p.Listen(vad=False, id=3),
    p.Stop(id=2),
    p.Abort(id=2),
    p.Transcribe(path="/tmp/x.wav", id=4),
    p.Ping(id=5),
    p.Shutdown(),
]

EVENTS: list[p.Event] = [
    p.Hello(pid=12, version="0.1.0"),
    p.Configured(model="tiny.en", path="/m", load_seconds=0.8, id=1),
    p.Listening(id=2),
    p.Speech(id=2),
    p.Partial(text="generate a function that", audio_seconds=1.9, id=2),
    p.Transcribing(reason=p.EndReason.SILENCE, audio_seconds=3.1, id=2),
    p.Result(
        text="Generate a stack.",
        command="gen",
        instruction="a stack",
        reason=p.EndReason.SILENCE,
        audio_seconds=3.1,
        transcribe_seconds=0.12,
        latency_seconds=0.71,
        speculative=True,
        id=2,
    ),
    p.Result(text="", command=None, reason=p.EndReason.NO_SPEECH, id=3),
    p.Aborted(audio_seconds=0.4, id=2),
    p.Pong(pid=12, id=5),
    p.Error(code="device", message="cannot record", id=2),
]


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: type(r).__name__)
def test_requests_round_trip(request_: p.Request) -> None:
    line = p.encode(request_)
    assert "\n" not in line
    assert json.loads(line)["op"] == request_.op
    assert p.decode_request(line) == request_


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_events_round_trip(event: p.Event) -> None:
    line = p.encode(event)
    assert json.loads(line)["event"] == event.event
    decoded = p.decode_event(line)
    assert decoded == event
    reason = getattr(decoded, "reason", None)
    assert reason is None or type(reason) is p.EndReason


def test_the_wire_is_camel_case_and_configure_is_the_voice_section() -> None:
    wire = json.loads(p.encode(p.Configure(VoiceConfig(silence_seconds=0.5), ("test",), 1)))
    voice = Config().to_dict()["voice"]
    assert wire == {
        "op": "configure",
        "id": 1,
        **voice,
        "silenceSeconds": 0.5,
        "userCommands": ["test"],
    }
    result = json.loads(p.encode(EVENTS[6]))
    assert {"audioSeconds", "transcribeSeconds", "latencySeconds"} <= result.keys()
    assert result["reason"] == "silence"


def test_configure_takes_defaults_for_missing_and_bad_settings() -> None:
    request = p.decode_request(
        '{"op": "configure", "id": 1, "model": "base.en", "silenceSeconds": "soon"}'
    )
    assert isinstance(request, p.Configure)
    assert request.voice == VoiceConfig(model="base.en")
    assert request.user_commands == ()


@pytest.mark.parametrize(
    ("line", "message", "id"),
    [
        ("not json", "bad line", None),
        ("[1, 2]", "not an object", None),
        ('{"op": "bogus", "id": 9}', "unknown op 'bogus'", 9),
        ('{"id": 3}', "unknown op None", 3),
        ('{"op": "transcribe", "id": 4, "path": ["x"]}', "bad transcribe request", 4),
    ],
)
def test_bad_request_lines(line: str, message: str, id: int | None) -> None:
    with pytest.raises(p.ProtocolError, match=message) as info:
        p.decode_request(line)
    assert getattr(info.value, "id", None) == id


def test_bad_event_lines() -> None:
    with pytest.raises(p.ProtocolError, match="unknown event"):
        p.decode_event('{"event": "surprise"}')
    with pytest.raises(p.ProtocolError, match="bad result event"):
        p.decode_event('{"event": "result", "id": 1}')


def test_terminal_events() -> None:
    terminal = {type(e) for e in EVENTS if isinstance(e, p.TERMINAL_EVENTS)}
    assert terminal == {p.Configured, p.Result, p.Aborted, p.Pong, p.Error}
