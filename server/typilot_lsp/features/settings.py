"""Settings plumbing: the `typilot` section from initializationOptions,
workspace/configuration and didChangeConfiguration.

Whatever the source, settings go through `Config.from_dict`, so a bad value costs only
itself: the user gets a message and that key keeps its default. The new settings go to
`TypilotServer.set_config`, which tells every feature (`Feature.settings_changed`).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from typilot_lsp.config import Config
from typilot_lsp.feature import Feature
from typilot_lsp.privacy import PrivacyPolicy
from typilot_lsp.user_settings import config_with_user_settings

if TYPE_CHECKING:
    from typilot_lsp.server import TypilotServer

log = logging.getLogger(__name__)

# Imported off the event loop after `initialize`, so that start-up stays as fast as a bare
# pygls server and the first run does not pay for them.
WARM_IMPORTS = (
    "httpx",
    "typilot_lsp.backends.ollama",
    "typilot_lsp.backends.openai",
    "typilot_lsp.history",
)


class SettingsFeature(Feature):
    """Reads the `typilot` section from every source and warns once about privacy switches."""

    _privacy_warned = False

    def register(self) -> None:
        @self.server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
        async def on_did_change_configuration(
            ls: Any, params: types.DidChangeConfigurationParams
        ) -> None:
            settings = params.settings
            if isinstance(settings, dict) and isinstance(settings.get("typilot"), dict):
                self.apply(settings["typilot"], "didChangeConfiguration")
            else:
                await self.pull()

    async def initialize(self, params: types.InitializeParams) -> None:
        # Always: the user settings file applies even when the editor sends nothing.
        self.apply(params.initialization_options or {}, "initializationOptions")

    async def initialized(self, params: types.InitializedParams) -> None:
        await self.pull()
        self.server.run_task(warm_imports(self.server), "warm imports")

    def settings_changed(self, old: Config, new: Config) -> None:
        warning = PrivacyPolicy.from_config(new).warning()
        if warning and not self._privacy_warned:
            self._privacy_warned = True
            self.server.show_message(warning, types.MessageType.Warning)

    def apply(self, data: Any, source: str) -> None:
        """Validate `data` (the `typilot` section) over the user settings file (re-read each
        time) and make the result the server's settings."""
        config, errors = config_with_user_settings(data)
        if errors:
            shown = "; ".join(errors[:5]) + (
                f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
            )
            self.server.show_message(
                f"Typilot settings ({source}): {shown}", types.MessageType.Warning
            )
        self.server.set_config(config)

    async def pull(self) -> None:
        """Ask the client for the section (workspace/configuration), if it can answer."""
        caps = self.server.client_capabilities
        if not (caps and caps.workspace and caps.workspace.configuration):
            return
        try:
            result = await self.server.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section="typilot")])
            )
        except Exception:
            log.debug("workspace/configuration failed", exc_info=True)
            return
        if result and isinstance(result[0], dict) and result[0]:
            self.apply(result[0], "workspace/configuration")


async def warm_imports(server: TypilotServer) -> None:
    for name in WARM_IMPORTS:
        # An import holds the GIL for its whole length: one at a time, each only once the
        # editor has gone quiet, so that the burst after start-up (didOpen, code actions)
        # is answered first.
        await server.wait_editor_quiet()
        try:
            await asyncio.to_thread(importlib.import_module, name)
        except Exception:
            log.debug("warm import of %s failed", name, exc_info=True)
