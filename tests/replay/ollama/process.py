"""The Ollama replay server as its own process (``python -m tests.replay.ollama``), scripted and
read through its control API: for a test that kills it with ``kill -9``, or a benchmark whose
client must not share the GIL with the server it measures against."""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.request
from typing import Any

from tests import REPO_ROOT
from tests.replay import ollama_process


class ReplayOllamaProcess:
    """``port`` 0: any free port, read from the ``LISTENING`` line (and kept for a restart)."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        """Start it and wait until it listens."""
        self.proc = subprocess.Popen(
            ollama_process("--port", str(self.port)),
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until it listens (or exits)
        assert line.startswith("LISTENING"), line
        self.url = line.split()[1]
        self.port = int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        """SIGTERM, and wait for it to end."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def kill(self) -> None:
        """SIGKILL: the server dies mid-answer, as a crash leaves it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One control API request (``/_replay/...``); its JSON answer."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=30) as reply:
            return json.load(reply)

    async def call_async(self, method: str, path: str, body: Any = None) -> Any:
        """``call`` on a worker thread, so that the caller's event loop keeps running."""
        return await asyncio.to_thread(self.call, method, path, body)

    def add_rule(self, **rule: Any) -> None:
        """A scripted reply (the keys of ``Rule``)."""
        self.call("POST", "/_replay/rules", rule)

    def events(self, since: int = 0) -> list[dict[str, Any]]:
        return list(self.call("GET", f"/_replay/events?since={since}")["events"])
