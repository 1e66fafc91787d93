"""Voice: the LSP feature (`feature.py`) and its client of the voice sidecar (`client.py`).

The sidecar itself (capture, end-pointing, Whisper, the command grammar) is the separate package
`typilot_lsp.voice_agent`, run as its own process; `typilot_lsp.voice_agent.protocol` holds the
typed messages both sides speak. Nothing here imports faster-whisper or sounddevice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from typilot_lsp.features.voice.client import SidecarError, VoiceClient, VoiceRequest
from typilot_lsp.features.voice.feature import (
    START_COMMAND,
    STOP_COMMAND,
    VoiceFeature,
    prefixed_line,
)

if TYPE_CHECKING:
    from typilot_lsp.server import TypilotServer

__all__ = [
    "START_COMMAND",
    "STOP_COMMAND",
    "SidecarError",
    "VoiceClient",
    "VoiceFeature",
    "VoiceRequest",
    "prefixed_line",
    "setup",
]


def setup(server: TypilotServer) -> None:
    feature = VoiceFeature(server)
    server.add_feature(feature)
    # Until the server calls every feature's hooks itself, they are reached through its lists
    # (both hooks may safely run twice).
    server.config_listeners.append(feature.settings_changed)
    server.shutdown_hooks.append(feature.shutdown)
