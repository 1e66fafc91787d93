"""Stand between an editor and typilot-lsp and deliver each response glued to what follows it.

Usage: python coalescing_relay.py SERVER [ARGS...]

The editor's input goes to the server as it comes. The server's output is re-framed: a
response (a message with an `id` and no `method`) is held until the server's next message,
and both are written in one write, so the editor reads them in one chunk. A response that
nothing follows within HOLD_S (the answer to `initialize`: the server waits for the editor)
goes alone. Under load that happens by chance; here it happens every time, which is what a
client that stops reading a chunk after the response to its synchronous request (lsp-mode's
`lsp-request`) must survive.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from typing import BinaryIO

HOLD_S = 1.0


def read_message(stream: BinaryIO) -> bytes | None:
    """One framed message (headers and body), or None at the end of the stream."""
    headers = b""
    length = 0
    while True:
        line = stream.readline()
        if not line:
            return None
        headers += line
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    return headers + stream.read(length)


def is_response(message: bytes) -> bool:
    body = json.loads(message.split(b"\r\n\r\n", 1)[1])
    return isinstance(body, dict) and "id" in body and "method" not in body


def pump_input(server: subprocess.Popen[bytes]) -> None:
    assert server.stdin is not None
    while chunk := os.read(0, 65536):
        server.stdin.write(chunk)
        server.stdin.flush()
    server.stdin.close()


def pump_output(stream: BinaryIO, messages: queue.Queue[bytes | None]) -> None:
    while (message := read_message(stream)) is not None:
        messages.put(message)
    messages.put(None)


def main(argv: list[str]) -> int:
    server = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert server.stdout is not None
    messages: queue.Queue[bytes | None] = queue.Queue()
    threading.Thread(target=pump_input, args=(server,), daemon=True).start()
    threading.Thread(target=pump_output, args=(server.stdout, messages), daemon=True).start()
    while (message := messages.get()) is not None:
        if is_response(message):
            try:
                following = messages.get(timeout=HOLD_S)
            except queue.Empty:
                following = b""
            if following is None:
                os.write(1, message)
                break
            message += following
        os.write(1, message)
    return server.wait()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
