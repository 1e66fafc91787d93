"""The sidecar process through the server's VoiceClient: real capture, real Whisper, restarts.

Audio reaches the sidecar the way a microphone's would: played into a PulseAudio null sink whose
monitor is the default input device that sounddevice (PortAudio -> ALSA -> pulse) records from.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests import prerequisites
from tests.voice.audio import PHRASES, PulseNullSink, speak_with_pause
from typilot_lsp.config import VoiceConfig
from typilot_lsp.features.voice.client import SidecarError, VoiceClient
from typilot_lsp.voice_agent import protocol as p

SERVER_SRC = str(Path(__file__).resolve().parents[2] / "server")


def sidecar_env(pulse: PulseNullSink | None, tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(pulse.env if pulse is not None else {})
    env["HOME"] = str(tmp_path)
    env["HF_HUB_OFFLINE"] = "1"  # the tests never download a model
    env["PYTHONPATH"] = os.pathsep.join([SERVER_SRC, env.get("PYTHONPATH", "")])
    return env


@pytest.fixture
async def client(pulse: PulseNullSink, tmp_path: Path, tiny_en: str) -> AsyncIterator[VoiceClient]:
    voice = VoiceClient(env=sidecar_env(pulse, tmp_path))
    try:
        yield voice
    finally:
        await voice.aclose()


def configure(model: str, **extra: Any) -> p.Configure:
    return p.Configure(VoiceConfig(model=model, **extra))


async def listen_to(client: VoiceClient, pulse: PulseNullSink, wav: Path) -> list[p.Event]:
    """Start listening, play `wav` into the microphone, and collect the listen's events."""
    listen = await client.request(p.Listen())
    first = await asyncio.wait_for(listen.next_event(), 20)
    assert isinstance(first, p.Listening), first
    await asyncio.to_thread(pulse.play, wav)
    events = [first]
    await asyncio.wait_for(collect(listen, events), 60)  # asyncio.timeout is 3.11+
    return events


async def collect(listen: AsyncIterator[p.Event], events: list[p.Event]) -> None:
    """Every event of a listen until it ends, appended to `events`."""
    async for event in listen:
        events.append(event)


@pytest.mark.parametrize("phrase", list(PHRASES))
async def test_capture_from_the_microphone_ends_on_silence(
    client: VoiceClient,
    pulse: PulseNullSink,
    phrases: dict[str, Path],
    tiny_en: str,
    phrase: str,
) -> None:
    configured = await (await client.request(configure(tiny_en))).final()
    assert isinstance(configured, p.Configured)
    assert configured.path == tiny_en
    events = await listen_to(client, pulse, phrases[phrase])
    kinds = [type(e) for e in events if not isinstance(e, p.Partial)]
    assert kinds == [p.Listening, p.Speech, p.Transcribing, p.Result], events
    transcribing, result = events[-2], events[-1]
    assert isinstance(transcribing, p.Transcribing) and isinstance(result, p.Result)
    assert transcribing.reason is p.EndReason.SILENCE
    assert result.command == PHRASES[phrase], result
    assert result.audio_seconds > 0.8
    assert result.latency_seconds is not None
    # The words were ready at the pause before the end was decided, and shown while listening.
    assert result.speculative, result
    partials = [e for e in events if isinstance(e, p.Partial)]
    assert partials and partials[-1].text == result.text, events


async def test_a_pause_mid_sentence_stays_one_command(
    client: VoiceClient, pulse: PulseNullSink, tiny_en: str, tmp_path: Path
) -> None:
    """At the default silenceSeconds, 0.5 s of silence mid-sentence does not end the command."""
    wav = speak_with_pause("generate a function that", "adds two numbers", 0.5, tmp_path / "p.wav")
    await (await client.request(p.Configure(VoiceConfig(model=tiny_en)))).final()
    events = await listen_to(client, pulse, wav)
    results = [e for e in events if isinstance(e, p.Result)]
    assert len(results) == 1, events
    [result] = results
    assert result.reason is p.EndReason.SILENCE
    assert result.command == "gen", result
    # Both halves are in the one command (tiny.en may hear "adds two" as "add to").
    assert "function" in result.instruction and "numbers" in result.instruction, result
    # The first half was transcribed at the pause and shown while the user went on.
    partials = [e.text for e in events if isinstance(e, p.Partial)]
    assert partials and "numbers" not in partials[0], events


async def test_push_to_talk_stop_ends_capture(
    client: VoiceClient, pulse: PulseNullSink, phrases: dict[str, Path], tiny_en: str
) -> None:
    await client.request(configure(tiny_en, silence_seconds=10.0))
    listen = await client.request(p.Listen())
    assert isinstance(await listen.next_event(), p.Listening)
    await asyncio.to_thread(pulse.play, phrases["summarize this function"])
    assert isinstance(await asyncio.wait_for(listen.next_event(), 20), p.Speech)
    await client.notify(p.Stop(id=listen.id))
    events: list[p.Event] = []
    await asyncio.wait_for(collect(listen, events), 60)
    [transcribing] = [e for e in events if isinstance(e, p.Transcribing)]
    assert transcribing.reason is p.EndReason.STOP
    result = events[-1]
    assert isinstance(result, p.Result) and result.command == "sum", events
    # Stopping a capture that already ended is harmless.
    await client.notify(p.Stop(id=listen.id))
    assert await client.ping() == client.pid


async def test_abort_drops_the_audio(client: VoiceClient, tiny_en: str) -> None:
    await client.request(configure(tiny_en))
    listen = await client.request(p.Listen())
    assert isinstance(await listen.next_event(), p.Listening)
    await client.notify(p.Abort(id=listen.id))
    final = await asyncio.wait_for(listen.final(), 20)
    assert isinstance(final, p.Aborted)


async def test_transcribe_a_file(
    client: VoiceClient, phrases: dict[str, Path], tiny_en: str
) -> None:
    await client.request(configure(tiny_en))
    req = await client.request(p.Transcribe(path=str(phrases["cancel"])))
    result = await asyncio.wait_for(req.final(), 60)
    assert isinstance(result, p.Result) and result.command == "cancel"
    missing = await client.request(p.Transcribe(path="/nonexistent.wav"))
    with pytest.raises(SidecarError, match="cannot read audio file"):
        await asyncio.wait_for(missing.final(), 20)


async def test_unknown_input_device_names_the_setting(client: VoiceClient, tiny_en: str) -> None:
    await client.request(configure(tiny_en, input_device="no such microphone"))
    listen = await client.request(p.Listen())
    with pytest.raises(SidecarError) as info:
        await asyncio.wait_for(listen.final(), 20)
    assert info.value.code == "device"
    assert "typilot.voice.inputDevice" in str(info.value)
    assert "no such microphone" in str(info.value)


SOUND_DEVICES = Path("/dev/snd")


def without_sound_devices() -> list[str] | None:
    """A command that starts the sidecar with no sound card in sight: under a private mount of an
    empty /dev/snd where the machine has sound devices (root and unshare), else the plain one."""
    if not SOUND_DEVICES.exists():
        return None
    prerequisites.require_root(f"hide this machine's sound devices ({SOUND_DEVICES})")
    prerequisites.require_tools("unshare", how="install util-linux")
    hide = f"mount -t tmpfs -o size=4k,mode=0755 none {SOUND_DEVICES}"
    return ["unshare", "-m", "sh", "-c", f"{hide} && exec {sys.executable} -m typilot_lsp voice"]


async def test_no_pulseaudio_means_no_microphone_with_the_fix(tmp_path: Path, tiny_en: str) -> None:
    """No sound server and no sound card: the user is told to connect or pick a microphone."""
    env = sidecar_env(None, tmp_path)
    env["PULSE_SERVER"] = f"unix:{tmp_path / 'no-such-socket'}"
    env["XDG_RUNTIME_DIR"] = env["PULSE_RUNTIME_PATH"] = str(tmp_path)
    voice = VoiceClient(command=without_sound_devices(), env=env)
    try:
        await voice.request(configure(tiny_en))
        listen = await voice.request(p.Listen())
        with pytest.raises(SidecarError) as info:
            await asyncio.wait_for(listen.final(), 20)
        assert info.value.code == "no-device"
        assert "no microphone found" in str(info.value)
        assert "typilot.voice.inputDevice" in str(info.value)
    finally:
        await voice.aclose()


async def test_bad_model_is_reported_on_configure(client: VoiceClient, tmp_path: Path) -> None:
    req = await client.request(configure(str(tmp_path / "nowhere")))
    with pytest.raises(SidecarError) as info:
        await asyncio.wait_for(req.final(), 30)
    assert info.value.code == "model"
    assert "typilot.voice.model" in str(info.value)


async def test_a_killed_sidecar_is_restarted_with_its_model(
    client: VoiceClient, phrases: dict[str, Path], tiny_en: str
) -> None:
    await (await client.request(configure(tiny_en))).final()
    first_pid = await client.ping()
    # Killed in the middle of a request: the request fails with a message, not a hang.
    pending = await client.request(
        p.Transcribe(path=str(phrases["generate a function that adds two numbers"]))
    )
    os.kill(first_pid, signal.SIGKILL)
    with pytest.raises(SidecarError, match="stopped unexpectedly"):
        await asyncio.wait_for(pending.final(), 20)
    deadline = time.monotonic() + 60  # no asyncio.timeout: Python 3.10 has none
    while client.pid in (None, first_pid):
        assert time.monotonic() < deadline, "the sidecar was not restarted"
        await asyncio.sleep(0.05)
    assert client.restarts == 1
    second_pid = await client.ping()
    assert second_pid != first_pid
    # The restarted sidecar got the last configure again: it transcribes with the same model.
    result = await (await client.request(p.Transcribe(path=str(phrases["cancel"])))).final()
    assert isinstance(result, p.Result) and result.command == "cancel"


async def test_aclose_stops_the_sidecar(tmp_path: Path) -> None:
    voice = VoiceClient(env=sidecar_env(None, tmp_path))
    pid = await voice.start()
    assert await voice.ping() == pid  # the started sidecar is the one that answers
    await voice.aclose()
    assert voice.pid is None
    # It exited by itself on the shutdown request (status 0; a kill would give -9 after 3 s).
    assert voice.process is not None and voice.process.returncode == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # and it is gone (reaped), not left behind


async def test_sidecar_exits_when_its_server_goes_away(tmp_path: Path) -> None:
    """stdin closing (the server died without shutdown) ends the sidecar."""
    voice = VoiceClient(env=sidecar_env(None, tmp_path), auto_restart=False)
    await voice.start()
    assert voice.process is not None and voice.process.stdin is not None
    voice.process.stdin.close()
    assert await asyncio.wait_for(voice.process.wait(), 10) == 0
    await voice.aclose()


def test_bad_requests_get_errors_and_the_sidecar_goes_on(tmp_path: Path) -> None:
    lines = [
        "not json",
        "[1, 2]",
        json.dumps({"op": "bogus", "id": 1}),
        json.dumps({"op": "transcribe", "id": 2, "path": str(tmp_path / "missing.wav")}),
        json.dumps({"op": "stop", "id": 99}),  # nothing to stop: ignored
        json.dumps({"op": "ping", "id": 3}),
        json.dumps({"op": "shutdown"}),
    ]
    done = subprocess.run(
        [sys.executable, "-m", "typilot_lsp", "voice"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        env=sidecar_env(None, tmp_path),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events[0]["event"] == "hello"
    by_id = {e["id"]: e for e in events[1:] if e["id"] is not None}
    protocol_errors = [e for e in events if e["id"] is None and e["event"] == "error"]
    assert [e["code"] for e in protocol_errors] == ["protocol", "protocol"]
    assert by_id[1]["code"] == "protocol" and "bogus" in by_id[1]["message"]
    assert by_id[2]["code"] == "audio-file" and "no such file" in by_id[2]["message"]
    assert by_id[3] == {"event": "pong", "id": 3, "pid": events[0]["pid"]}
    assert 99 not in by_id
    # stdout carries protocol lines only.
    assert all(line.startswith("{") for line in done.stdout.splitlines())


def _portaudio_file() -> Path | None:
    listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        if "libportaudio.so" in line and "=>" in line:
            return Path(line.split("=>")[1].strip()).resolve()
    return None


async def test_missing_portaudio_names_the_package(tmp_path: Path) -> None:
    """PortAudio made unloadable for the sidecar alone (a private mount over the library)."""

    library = _portaudio_file()
    prerequisites.require(None if library else "the PortAudio library (libportaudio2)")
    prerequisites.require_root("hide PortAudio from one process (a private mount namespace)")
    prerequisites.require_tools("unshare", how="install util-linux")
    hide = f"mount --bind /dev/null {library}"
    probe = subprocess.run(["unshare", "-m", "sh", "-c", hide], capture_output=True, text=True)
    prerequisites.require(
        f"a bind mount in a private mount namespace ({probe.stderr.strip()})"
        if probe.returncode
        else None,
        "run as root in a container or VM that allows unshare -m (CI does)",
    )
    script = f"{hide} && exec {sys.executable} -m typilot_lsp voice"
    voice = VoiceClient(
        command=["unshare", "-m", "sh", "-c", script], env=sidecar_env(None, tmp_path)
    )
    try:
        listen = await voice.request(p.Listen())
        with pytest.raises(SidecarError) as info:
            await asyncio.wait_for(listen.final(), 20)
    finally:
        await voice.aclose()
    assert info.value.code == "portaudio"
    assert "PortAudio library is missing" in str(info.value)
    assert "apt install libportaudio2" in str(info.value)
