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
        deadline = time.monotonic() + 20
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
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
        listening = subprocess.run(
            ["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=False
        ).stdout
        # `ss -Hltn`: State Recv-Q Send-Q Local:Port Peer:Port; the peer column of a listening
        # socket is always `0.0.0.0:*`, so only the local address is checked.
        for row in listening.splitlines():
            local = row.split()[3]
            assert local.startswith("127.0.0.1:"), row
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_stdio_flag_is_accepted(typilot_home) -> None:
    proc = subprocess.run(
        [*CMD, "--stdio"], input=b"", capture_output=True, env=typilot_home, timeout=30, check=False
    )
    # End of input: the server exits without a traceback.
    assert b"Traceback" not in proc.stderr
