"""One server-initiated progress in the editor (`window/workDoneProgress/create`, `$/progress`).

Runs (`features.runs.RunProgress`) and voice sessions show their progress through it. Nothing
is shown, and every call is a no-op, when the client cannot show server-initiated progress
(`window.workDoneProgress`) or refuses the token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from lsprotocol import types
from pygls.lsp.server import LanguageServer

log = logging.getLogger(__name__)


class WorkDoneProgress:
    """`begin`, any number of `report`s, `end`: one progress under one token."""

    def __init__(self, server: LanguageServer, token: str) -> None:
        self.server = server
        self.token = token
        self.cancellable = False
        self.shown = False
        """Whether the editor shows it (from a successful `begin` to `end`)."""

    async def begin(
        self,
        title: str,
        message: str,
        *,
        cancellable: bool = True,
        on_cancel: Callable[[], None] | None = None,
    ) -> bool:
        """Ask the editor for the token and show `title`; whether it is shown.

        `on_cancel` is called if the user cancels it in the editor (pygls then cancels the
        token's future); a feature may instead handle `window/workDoneProgress/cancel`."""
        caps = self.server.client_capabilities
        window = caps.window if caps else None
        if not (window and window.work_done_progress):
            return False
        progress = self.server.work_done_progress
        try:
            await progress.create_async(self.token)
        except Exception:
            log.debug("the client refused progress token %s", self.token)
            return False
        self.shown, self.cancellable = True, cancellable
        progress.begin(
            self.token,
            types.WorkDoneProgressBegin(title=title, message=message, cancellable=cancellable),
        )
        future = progress.tokens.get(self.token)
        if on_cancel is not None and future is not None:
            future.add_done_callback(lambda f: on_cancel() if f.cancelled() else None)
        return True

    def report(self, message: str) -> None:
        if self.shown:
            self.server.work_done_progress.report(
                self.token,
                types.WorkDoneProgressReport(message=message, cancellable=self.cancellable),
            )

    def end(self, message: str) -> None:
        """Close the progress (only the first call does anything)."""
        if not self.shown:
            return
        self.shown = False
        self.server.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
        self.server.work_done_progress.tokens.pop(self.token, None)
