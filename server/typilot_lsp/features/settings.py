"""The `typilot` settings section: initializationOptions, workspace/configuration, changes.

Whatever the source, settings go through `Config.from_dict`, so a bad value
costs only itself: the user gets a message and the default is kept.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import Any

from lsprotocol import types

from typilot_lsp.server import TypilotServer
from typilot_lsp.user_settings import config_with_user_settings

log = logging.getLogger(__name__)

# Imported off the event loop after `initialize`, so that start-up stays as fast as a bare
# pygls server and the first run does not pay for them.
WARM_IMPORTS = ("httpx", "typilot_lsp.backends.ollama", "typilot_lsp.history")


def apply_settings(server: TypilotServer, data: Any, source: str) -> None:
    """Editor settings `data` over the user settings file (re-read each time), then applied."""
    config, errors = config_with_user_settings(data)
    if errors:
        shown = "; ".join(errors[:5]) + (
            f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        )
        server.show_message(f"Typilot settings ({source}): {shown}", types.MessageType.Warning)
    old, server.config = server.config, config
    if old.ollama != config.ollama or old.privacy != config.privacy:
        server.reset_backend()
    if old.prefixes != config.prefixes or old.commands.keys() != config.commands.keys():
        server.reset_matchers()
    if server.history is not None and old.history != config.history:
        server.history.update_settings(config.history)
    for listener in list(server.config_listeners):
        try:
            listener(old, config)
        except Exception:
            log.exception("settings listener failed")
    server.warn_privacy_once()


async def pull_settings(server: TypilotServer) -> None:
    caps = server.client_capabilities
    if not (caps and caps.workspace and caps.workspace.configuration):
        return
    try:
        result = await server.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section="typilot")])
        )
    except Exception:
        log.debug("workspace/configuration failed", exc_info=True)
        return
    if result and isinstance(result[0], dict) and result[0]:
        apply_settings(server, result[0], "workspace/configuration")


def start_history(server: TypilotServer) -> None:
    # A cheap import: SQLAlchemy/dataset load on the history's own worker thread.
    from typilot_lsp.history import AsyncHistory
    from typilot_lsp.history.service import RETENTION_INTERVAL_S

    def warn(message: str) -> None:
        server.show_message(message, types.MessageType.Warning)

    # The store opens at its first use (recording a run, listing, purging), which applies
    # retention; an idle server never loads SQLAlchemy. While the server runs, retention is
    # applied again every hour.
    server.history = AsyncHistory(server.config.history, warn=warn, open_now=False)
    server.run_task(
        server.history.run_retention(first_delay_s=RETENTION_INTERVAL_S), "history retention"
    )


async def warm_imports() -> None:
    for name in WARM_IMPORTS:
        try:
            await asyncio.to_thread(importlib.import_module, name)
        except Exception:
            log.debug("warm import of %s failed", name, exc_info=True)


def setup(server: TypilotServer) -> None:
    @server.feature(types.INITIALIZE)
    def on_initialize(ls: TypilotServer, params: types.InitializeParams) -> None:
        # Always: the user settings file applies even when the editor sends nothing.
        apply_settings(ls, params.initialization_options or {}, "initializationOptions")

    @server.feature(types.INITIALIZED)
    async def on_initialized(ls: TypilotServer, params: types.InitializedParams) -> None:
        await pull_settings(ls)
        ls.run_task(warm_imports(), "warm imports")
        # At once (not as a task), so that no run can end before there is a history.
        start_history(ls)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def on_did_change_configuration(
        ls: TypilotServer, params: types.DidChangeConfigurationParams
    ) -> None:
        settings = params.settings
        if isinstance(settings, dict) and isinstance(settings.get("typilot"), dict):
            apply_settings(ls, settings["typilot"], "didChangeConfiguration")
        else:
            await pull_settings(ls)

    @server.feature(types.SHUTDOWN)
    async def on_shutdown(ls: TypilotServer, params: Any = None) -> None:
        ls.runs.cancel(reason="shutdown")
        await ls.runs.wait_idle()
        for hook in list(ls.shutdown_hooks):
            try:
                await hook()
            except Exception:
                log.exception("shutdown hook failed")
        if ls.history is not None:
            await ls.history.aclose()
