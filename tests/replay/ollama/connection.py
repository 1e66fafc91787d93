"""A small HTTP/1.1 server connection: requests parsed as Go's net/http reads them (keep-alive,
chunked bodies, ``Expect: 100-continue``), responses written and flushed one chunk at a time,
and a client's hang-up noticed at once, even in the middle of a response."""

from __future__ import annotations

import asyncio
import email.utils
import urllib.parse
from dataclasses import dataclass
from typing import Any

from tests.replay.ollama.wire import go_json, http_phrase

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
JSON_UTF8 = "application/json; charset=utf-8"


class BadRequest(Exception):
    """A request that cannot be read: answered 400, and the connection closed."""


@dataclass
class Request:
    method: str
    target: str
    path: str
    query: dict[str, str]
    version: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    """Method, target, version and headers (lower-case names; repeated ones joined)."""
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise BadRequest(f"malformed request line {lines[0]!r}") from None
    if not version.startswith("HTTP/1."):
        raise BadRequest(f"unsupported protocol {version!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequest(f"malformed header line {line!r}")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return method, target, version, headers


def _wants_keep_alive(version: str, headers: dict[str, str]) -> bool:
    connection = headers.get("connection", "").lower()
    return "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)


class Connection:
    """One client connection: request parsing, responses, and hang-up detection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.eof = False
        self.headers_sent = False
        self.close_after = False  # the client asked for Connection: close
        self._data = asyncio.Event()
        self.hangup = asyncio.Event()
        # One reader for the connection's whole life: it fills the buffer, so a client that
        # hangs up is noticed at once, even while a response is being produced.
        self._pump_task = asyncio.ensure_future(self._pump())

    async def _pump(self) -> None:
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                self.buf += data
                self._data.set()
        except (ConnectionError, OSError):
            pass
        finally:
            self.eof = True
            self._data.set()
            self.hangup.set()

    def close(self) -> None:
        self._pump_task.cancel()

    # -- reading -------------------------------------------------------------------------------

    async def _fill(self) -> bool:
        """Wait for more bytes; False at end of stream."""
        if self.eof:
            return False
        self._data.clear()
        await self._data.wait()
        return bool(self.buf) or not self.eof

    async def _read_until(self, sep: bytes, limit: int) -> bytes | None:
        start = 0
        while True:
            idx = self.buf.find(sep, start)
            if idx >= 0:
                out = bytes(self.buf[: idx + len(sep)])
                del self.buf[: idx + len(sep)]
                return out
            if len(self.buf) > limit:
                raise BadRequest("request header too large")
            start = max(0, len(self.buf) - len(sep) + 1)
            if self.eof or not await self._fill():
                return None

    async def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if self.eof or not await self._fill():
                raise BadRequest("unexpected end of request body")
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def _skip_blank_lines(self) -> bool:
        """Tolerate stray CRLFs between requests (RFC 9112 section 2.2); False at the end."""
        while True:
            while not self.buf:
                if self.eof or not await self._fill():
                    return False
            if not self.buf.startswith(b"\r\n"):
                return True
            del self.buf[:2]

    async def read_request(self) -> Request | None:
        """The next request, or None when the client closed the connection between requests."""
        if not await self._skip_blank_lines():
            return None
        head = await self._read_until(b"\r\n\r\n", MAX_HEADER_BYTES)
        if head is None:
            return None
        method, target, version, headers = _parse_head(head)
        if headers.get("expect", "").lower() == "100-continue":
            await self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await self._read_body(headers)
        parsed = urllib.parse.urlsplit(target)
        return Request(
            method=method,
            target=target,
            path=parsed.path,
            query=dict(urllib.parse.parse_qsl(parsed.query)),
            version=version,
            headers=headers,
            body=body,
            keep_alive=_wants_keep_alive(version, headers),
        )

    async def _read_body(self, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return await self._read_chunked_body()
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise BadRequest("bad Content-Length") from None
        if length > MAX_BODY_BYTES:
            raise BadRequest("request body too large")
        return await self._read_exact(length) if length else b""

    async def _read_chunked_body(self) -> bytes:
        body = bytearray()
        while True:
            line = await self._read_until(b"\r\n", 1024)
            if line is None:
                raise BadRequest("unexpected end of chunked body")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise BadRequest("bad chunk size") from None
            if size == 0:
                await self._skip_trailers()
                return bytes(body)
            body += await self._read_exact(size)
            await self._read_exact(2)
            if len(body) > MAX_BODY_BYTES:
                raise BadRequest("request body too large")

    async def _skip_trailers(self) -> None:
        while True:
            trailer = await self._read_until(b"\r\n", MAX_HEADER_BYTES)
            if trailer in (None, b"\r\n"):
                return

    # -- writing -------------------------------------------------------------------------------

    async def write(self, data: bytes) -> None:
        """Write and flush; raises ConnectionError if the client is gone."""
        if self.writer.is_closing():
            raise ConnectionResetError("connection closed")
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError) as exc:
            raise ConnectionResetError(str(exc)) from exc

    @staticmethod
    def _head(status: int, headers: list[tuple[str, str]]) -> bytes:
        lines = [f"HTTP/1.1 {status} {http_phrase(status)}"]
        lines += [f"{k}: {v}" for k, v in headers]
        lines.append(f"Date: {email.utils.formatdate(usegmt=True)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def send(
        self,
        status: int,
        body: bytes,
        content_type: str = JSON_UTF8,
        *,
        head_only: bool = False,
        close: bool = False,
    ) -> None:
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        if close or self.close_after:
            headers.append(("Connection", "close"))
        self.headers_sent = True
        await self.write(self._head(status, headers) + (b"" if head_only else body))

    async def send_json(self, status: int, obj: Any, **kw: Any) -> None:
        await self.send(status, go_json(obj), **kw)

    async def start_chunked(self, content_type: str = "application/x-ndjson") -> None:
        self.headers_sent = True
        headers = [("Content-Type", content_type), ("Transfer-Encoding", "chunked")]
        if self.close_after:
            headers.append(("Connection", "close"))
        await self.write(self._head(200, headers))

    async def send_chunk(self, data: bytes) -> None:
        await self.write(b"%x\r\n" % len(data) + data + b"\r\n")

    async def end_chunked(self) -> None:
        await self.write(b"0\r\n\r\n")

    async def wait_hangup(self) -> None:
        """Return when the client closes its side (EOF or reset). Data it pipelines is kept."""
        await self.hangup.wait()


class HangupWatch:
    """Hang-up detection while a response is being produced: sleeps that end early when the
    client leaves."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.task: asyncio.Task[None] = asyncio.ensure_future(conn.wait_hangup())

    @property
    def gone(self) -> bool:
        return self.task.done()

    async def sleep(self, seconds: float) -> bool:
        """Sleep; return False at once if the client hangs up meanwhile."""
        if self.task.done():
            return False
        if seconds <= 0:
            await asyncio.sleep(0)
            return not self.task.done()
        done, _ = await asyncio.wait({self.task}, timeout=seconds)
        return not done

    async def forever(self) -> None:
        await asyncio.shield(self.task)

    def close(self) -> None:
        if not self.task.done():
            self.task.cancel()
