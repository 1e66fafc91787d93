"""Voice errors: each message says what is wrong and how to fix it.

They travel from the sidecar to the server as ``{"event": "error", "code", "message"}`` and are
shown to the user as they are.
"""

from __future__ import annotations

from typilot_lsp.errors import TypilotError

__all__ = [
    "AudioFileError",
    "InputDeviceError",
    "ModelError",
    "NoInputDevice",
    "PortAudioMissing",
    "VoiceDependencyMissing",
    "VoiceError",
]


class VoiceError(TypilotError):
    code = "voice"


class VoiceDependencyMissing(VoiceError):
    code = "dependency"

    def __init__(self, module: str, detail: str) -> None:
        super().__init__(
            f"voice needs the Python package {module!r}, which is not installed ({detail}): "
            "install the voice extra with `pip install 'typilot-lsp[voice]'` "
            "(or `pipx inject typilot-lsp faster-whisper sounddevice`)"
        )


class PortAudioMissing(VoiceError):
    code = "portaudio"

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"the PortAudio library is missing, so the microphone cannot be opened ({detail}): "
            "install it (Debian/Ubuntu: `sudo apt install libportaudio2`; Fedora: "
            "`sudo dnf install portaudio`; macOS: `brew install portaudio`) and try again"
        )


class NoInputDevice(VoiceError):
    code = "no-device"

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"no microphone found ({detail}): connect one (and check it is not muted or "
            "blocked), or set `typilot.voice.inputDevice` to a device name or index from "
            "`python -m sounddevice`"
        )


class InputDeviceError(VoiceError):
    code = "device"

    def __init__(self, device: str | int | None, detail: str, available: list[str]) -> None:
        which = "the default input device" if device is None else f"input device {device!r}"
        listing = "; ".join(available) if available else "none found"
        super().__init__(
            f"cannot record from {which} ({detail}): set `typilot.voice.inputDevice` to one of "
            f"the input devices [{listing}], or leave it unset for the system default"
        )


class ModelError(VoiceError):
    code = "model"


class AudioFileError(VoiceError):
    code = "audio-file"

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(
            f"cannot read audio file {path} ({detail}): give a WAV file (16 kHz mono is best; "
            "convert with `sox in.wav -r 16000 -c 1 out.wav`)"
        )
