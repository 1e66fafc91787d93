"""The command line: --version, stdio by default, TCP bound to loopback only."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

from typilot_lsp import __version__

CMD = [sys.executable, "-m", "typilot_lsp"]


def test_version() -> None:
    out = subprocess.run([*CMD, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"typilot-lsp {__version__}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _frame(payload: dict) -> bytes:
    body = json.dumps(payload).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _read_message(sock: socket.socket) -> dict:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, rest = data.partition(b"\r\n\r\n")
    headers = dict(line.split(b":", 1) for line in head.split(b"\r\n"))
    length = int(headers[b"Content-Length"])
    while len(rest) < length:
        rest += sock.recv(4096)
    return json.loads(rest[:length])


def test_tcp_serves_lsp_on_loopback_only(typilot_home) -> None:
    port = _free_port()
    proc = subprocess.Popen([*CMD, "serve", "--tcp", "--port", str(port)], env=typilot_home)
    try:
        # Where it listens, read before the first client connects (`ss -Hltn`: State Recv-Q
        # Send-Q Local:Port Peer:Port; a listener's peer is always `0.0.0.0:*`).
        deadline = time.monotonic() + 60
        local: list[str] = []
        while not local:
            assert proc.poll() is None, "typilot-lsp serve --tcp exited"
            listening = subprocess.run(
                ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=False
            ).stdout
            local = [line.split()[3] for line in listening.splitlines() if line.strip()]
            if not local:
                assert time.monotonic() < deadline, f"nothing listens on port {port}"
                time.sleep(0.1)
        assert all(address == f"127.0.0.1:{port}" for address in local), local
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        with sock:
            sock.sendall(
                _frame(
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "initialize",
                        "params": {"processId": None, "rootUri": None, "capabilities": {}},
                    }
                )
            )
            reply = _read_message(sock)
            assert reply["result"]["serverInfo"]["name"] == "typilot-lsp"
            assert "codeActionProvider" in reply["result"]["capabilities"]
            commands = reply["result"]["capabilities"]["executeCommandProvider"]["commands"]
            assert {"typilot.run", "typilot.cancel"} <= set(commands)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_stdio_flag_is_accepted(typilot_home) -> None:
    """`typilot-lsp --stdio` (what editors run) serves LSP on stdin/stdout and exits cleanly."""
    initialize = {"processId": None, "rootUri": None, "capabilities": {}}
    proc = subprocess.Popen(
        [*CMD, "--stdio"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=typilot_home,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(_frame(_request(1, "initialize", initialize)))
        proc.stdin.flush()
        assert _answer(proc.stdout, 1)["result"]["serverInfo"]["name"] == "typilot-lsp"
        proc.stdin.write(_frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
        proc.stdin.write(_frame(_request(2, "shutdown", None)))
        proc.stdin.flush()
        assert _answer(proc.stdout, 2) == {"jsonrpc": "2.0", "id": 2, "result": None}
        proc.stdin.write(_frame({"jsonrpc": "2.0", "method": "exit", "params": None}))
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    stderr = proc.stderr.read() if proc.stderr else b""
    assert b"Traceback" not in stderr, stderr.decode(errors="replace")


def _request(id_: int, method: str, params: object) -> dict:
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}


def _answer(stream, id_: int) -> dict:
    """The answer to request `id_` from a Content-Length framed stream (skipping the server's
    own requests and notifications before it)."""
    while True:
        length = 0
        while (line := stream.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        assert length, "the server closed stdout before answering"
        message = json.loads(stream.read(length))
        if message.get("id") == id_ and "method" not in message:
            return message
