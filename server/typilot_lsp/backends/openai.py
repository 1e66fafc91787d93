"""The OpenAI-compatible backend: llama.cpp's ``llama-server``, LM Studio, vLLM, LocalAI, Jan.

Wire facts are in ``shared/openai-compatible-api.md``; the parts that shape this code:

- ``POST {baseUrl}/chat/completions`` with ``"stream": true`` answers server-sent events: one
  ``data: {json}`` line per event, a blank line after each. One HTTP chunk may carry several
  events and an event may be split across chunks, so events are parsed from bytes, by lines.
  The text is ``choices[0].delta.content``; the last chunk carries ``finish_reason``
  (``"length"`` when ``max_tokens`` cut the reply), then ``data: [DONE]``.
- An error after the stream has started is an event ``data: {"error": {...}}`` (vLLM:
  ``{"object": "error", "message": ...}``; other servers ``event: error``) and the stream
  ends there; its message is shown. An event of the wrong shape (no ``choices`` list, a
  ``delta.content`` that is not text) stops the run rather than putting junk in the buffer,
  and a stream that ends inside an event says so. Before it, the status says it: 503 while the model loads (retried within the
  first-token timeout), 400 ``exceed_context_size_error``, 401 without a valid key, 404 for an
  unknown model (vLLM).
- Fill-in-the-middle (llama.cpp): ``POST {root}/infill`` with ``input_prefix`` /
  ``input_suffix`` streams llama.cpp's own events (``content``, and ``stop: true`` with
  ``stop_type`` at the end, no ``[DONE]``); a model without FIM tokens answers 501, other
  servers 404. Either way the backend falls back to chat and remembers it for that model.
- Closing the HTTP connection cancels the generation (llama-server logs ``stop: cancel task``).
  Connections are not kept alive, so closing a stream's response closes its socket at once.
- UTF-8: a character is never mojibake, whether its bytes are split across HTTP chunks, across
  events (a server that streams raw token bytes), or its UTF-16 surrogate halves across two
  JSON escapes.

The privacy guard runs before every request: a base URL that is not loopback is refused
before any connection or DNS query unless ``privacy.allowRemoteHost``. The API key is read
from the environment variable that ``openai.apiKeyEnv`` names; it is sent only as the
``Authorization`` header and never appears in a message or a log.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import logging
import os
import time
import urllib.parse
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

import attrs
import httpx

from typilot_lsp import __version__
from typilot_lsp.backends.base import (
    GenerationRequest,
    ModelInfo,
    Notify,
    StreamStats,
    after_prefill,
)
from typilot_lsp.backends.transport import loop_transport
from typilot_lsp.backends.urls import host_name
from typilot_lsp.backends.waiting import ReadDeadline, within
from typilot_lsp.errors import (
    ApiKeyMissing,
    AuthRejected,
    BackendError,
    ContextTooLong,
    ModelLoading,
    ServerRequestError,
    ServerStalled,
    ServerStreamError,
    ServerUnreachable,
    UnknownModel,
)
from typilot_lsp.logging_utils import redact
from typilot_lsp.privacy import PrivacyPolicy, check_host, check_model_name, is_loopback_host

__all__ = [
    "OpenAIBackend",
    "OpenAIClient",
    "SSEParser",
    "TextAssembler",
    "server_root",
]

log = logging.getLogger(__name__)

SECTION = "openai"
MODEL_SETTING = "typilot.openai.model"
URL_SETTING = "typilot.openai.baseUrl"
MODELS_CACHE_SECONDS = 60.0
LOAD_RETRY_FIRST = 0.25
LOAD_RETRY_MAX = 2.0


# --- server-sent events -----------------------------------------------------------------------


class SSEParser:
    """Incremental server-sent-events parser: bytes in, ``(event, data)`` pairs out.

    Lines end with LF, CRLF or CR (a CR at the end of a chunk waits for the next one); ``data``
    lines of one event are joined with LF; comments (``:ping``) are skipped; an event is
    dispatched at its blank line. Bytes are decoded incrementally, so a character split across
    chunks is whole; bytes that are not UTF-8 are kept as surrogate escapes for
    :class:`TextAssembler` to join across events.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self._buffer = ""
        self._data: list[str] = []
        self._event = ""
        self._skip_lf = False

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        return self._split(self._decoder.decode(chunk))

    def close(self) -> list[tuple[str, str]]:
        """The events still pending at the end of the stream (a last event without its blank
        line counts)."""
        events = self._split(self._decoder.decode(b"", final=True))
        if self._buffer:
            line, self._buffer = self._buffer, ""
            self._line(line, events)
        if self._data:
            events.append((self._event or "message", "\n".join(self._data)))
            self._data, self._event = [], ""
        return events

    def _split(self, text: str) -> list[tuple[str, str]]:
        events: list[tuple[str, str]] = []
        if self._skip_lf and text:
            self._skip_lf = False
            if text.startswith("\n"):
                text = text[1:]
        buf = self._buffer + text
        if not buf:
            return events
        # A CR at the end ends its line; an LF that opens the next chunk belongs to it.
        ends_cr = buf.endswith("\r")
        if ends_cr:
            buf = buf[:-1]
        lines = buf.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self._buffer = lines.pop()
        if ends_cr:
            lines.append(self._buffer)
            self._buffer = ""
            self._skip_lf = True
        for line in lines:
            self._line(line, events)
        return events

    def _line(self, line: str, events: list[tuple[str, str]]) -> None:
        if line == "":
            if self._data:
                events.append((self._event or "message", "\n".join(self._data)))
            self._data, self._event = [], ""
            return
        if line.startswith(":"):
            return
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value


class TextAssembler:
    """Joins streamed text pieces so that no character is ever broken.

    Handles a UTF-16 surrogate pair split across two JSON escapes and UTF-8 bytes split across
    events (kept as surrogate escapes by :class:`SSEParser`); an incomplete tail waits for the
    next piece."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._high = ""

    def feed(self, piece: str) -> str:
        text = self._high + piece
        self._high = ""
        if text and 0xD800 <= ord(text[-1]) <= 0xDBFF:
            self._high, text = text[-1], text[:-1]
        pending = self._decoder.getstate()[0]
        if not pending and not any(0xD800 <= ord(c) <= 0xDFFF for c in text):
            return text
        out = bytearray()
        i = 0
        while i < len(text):
            code = ord(text[i])
            if (
                0xD800 <= code <= 0xDBFF
                and i + 1 < len(text)
                and 0xDC00 <= ord(text[i + 1]) <= 0xDFFF
            ):
                point = 0x10000 + ((code - 0xD800) << 10) + (ord(text[i + 1]) - 0xDC00)
                out += chr(point).encode("utf-8")
                i += 2
                continue
            if 0xDC80 <= code <= 0xDCFF:  # a raw byte kept by surrogateescape
                out.append(code - 0xDC00)
            elif 0xD800 <= code <= 0xDFFF:  # a lone surrogate: nothing can complete it
                out += "\ufffd".encode()
            else:
                out += text[i].encode("utf-8")
            i += 1
        return self._decoder.decode(bytes(out))

    def finish(self) -> str:
        return self._decoder.decode(b"", final=True) + ("\ufffd" if self._high else "")


# --- helpers ------------------------------------------------------------------------------------


def server_root(base_url: str) -> str:
    """The server's root for llama.cpp's own routes (``/infill``, ``/health``): the base URL
    without a trailing ``/v1``."""
    base = base_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def _error_message(response: httpx.Response) -> tuple[str, str]:
    """(message, type) of an error body: ``{"error": {...}}``, ``{"error": "..."}`` or vLLM's
    top-level ``{"object": "error", "message": ...}``."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        text = response.text.strip().replace("\n", " ")
        return (text[:200] or f"HTTP {response.status_code}"), ""
    return _error_of(body, response.status_code)


def _error_of(body: Any, status: int | None = None) -> tuple[str, str]:
    if isinstance(body, dict):
        err = body.get("error", body if body.get("object") == "error" else None)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("type") or err)[:300], str(
                err.get("type") or ""
            )
        if isinstance(err, str):
            return err[:300], ""
    return (f"HTTP {status}" if status else str(body)[:200]), ""


def _context_too_long(message: str, kind: str) -> bool:
    lowered = message.lower()
    return (
        kind == "exceed_context_size_error"
        or "exceeds the available context size" in lowered
        or "maximum context length" in lowered
        or "context length exceeded" in lowered
        or "context_length_exceeded" in lowered
    )


def _context_length(entry: Mapping[str, Any]) -> int | None:
    meta = entry.get("meta")
    candidates = [
        meta.get("n_ctx") if isinstance(meta, dict) else None,  # llama.cpp: the slot's context
        entry.get("max_model_len"),  # vLLM
        entry.get("context_length"),
        entry.get("max_context_length"),  # LM Studio
    ]
    return next((c for c in candidates if isinstance(c, int) and c > 0), None)


def _port_of(url: str) -> int:
    parts = urllib.parse.urlsplit(url)
    try:
        return parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return 8080


class _FimUnsupported(Exception):
    """``/infill`` is not there (404) or not for this model (501): use chat."""


# --- the client ---------------------------------------------------------------------------------


class OpenAIClient:
    """A thin async client for one OpenAI-compatible server.

    Every request first runs the host guard, so a refused URL never sees a connection attempt,
    nor a DNS query."""

    def __init__(
        self,
        base_url: str,
        *,
        allow_remote_host: bool = False,
        api_key_env: str | None = None,
        connect_timeout: float = 2.0,
        first_token_timeout: float = 120.0,
        idle_timeout: float = 30.0,
        request_timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.root = server_root(self.base_url)
        self.allow_remote_host = allow_remote_host
        self.api_key_env = api_key_env
        self.connect_timeout = connect_timeout
        self.first_token_timeout = first_token_timeout
        self.idle_timeout = idle_timeout
        self.request_timeout = request_timeout
        remote = not is_loopback_host(host_name(self.base_url))
        headers = {"User-Agent": f"typilot-lsp/{__version__}"}
        key = os.environ.get(api_key_env) if api_key_env else None
        self.key_missing = bool(api_key_env) and not key
        if key:
            headers["Authorization"] = f"Bearer {key}"
        limits = httpx.Limits(max_keepalive_connections=0)
        trust_env = allow_remote_host and remote
        self._http = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(request_timeout, connect=connect_timeout),
            # No keep-alive: a closed stream closes its socket (that is the cancel), and a
            # restarted server never meets a stale pooled connection.
            limits=limits,
            # Proxy variables would route loopback traffic elsewhere; honour them only when
            # the user allowed a remote host.
            trust_env=trust_env,
            # Plain HTTP without a proxy (a local model server): the leaner socket layer.
            transport=transport or loop_transport(self.base_url, limits, trust_env),
        )

    # --- errors ---------------------------------------------------------------------------

    def guard(self) -> None:
        check_host(
            self.base_url,
            self.allow_remote_host,
            server="the model server",
            local_setting=f"`{URL_SETTING}` = http://127.0.0.1:{_port_of(self.base_url)}/v1",
        )
        if self.key_missing and self.api_key_env:
            raise ApiKeyMissing(self.api_key_env)

    def unreachable(self, detail: str | None = None) -> ServerUnreachable:
        hint = (
            f"Start one, e.g. `llama-server -m MODEL.gguf --port {_port_of(self.base_url)}` "
            "(llama.cpp) or LM Studio's server"
        )
        return ServerUnreachable(self.base_url, detail, hint, URL_SETTING)

    def transport_error(self, exc: httpx.HTTPError) -> BackendError:
        if isinstance(exc, httpx.ConnectTimeout):
            return self.unreachable(
                f"no answer to the connection within {self.connect_timeout:g} s"
            )
        if isinstance(exc, httpx.ConnectError):
            return self.unreachable()
        if isinstance(exc, httpx.RemoteProtocolError) and "without sending" in str(exc):
            return self.unreachable("the connection closed before any answer")
        if isinstance(exc, httpx.TimeoutException):
            return self.unreachable(f"no answer within {self.request_timeout:g} s")
        return self.unreachable(f"{type(exc).__name__}")

    def status_error(self, response: httpx.Response, model: str | None) -> BackendError:
        status = response.status_code
        message, kind = _error_message(response)
        if status in (401, 403):
            return AuthRejected(self.base_url, status, message, self.api_key_env)
        if status == 400 and _context_too_long(message, kind):
            return ContextTooLong(message)
        if status == 404 and model is not None and "model" in message.lower():
            return UnknownModel(model, self.base_url, [], MODEL_SETTING)
        if status == 404:
            return ServerRequestError(
                self.base_url,
                status,
                f"{response.request.url.path}: {message}; is `{URL_SETTING}` the API's base "
                "URL, usually ending in /v1?",
            )
        return ServerRequestError(self.base_url, status, message)

    # --- sending, with the model-loading retry --------------------------------------------

    async def _send(
        self,
        build: Any,
        *,
        stream: bool,
        model: str | None,
        notify: Notify | None,
        deadline: float,
        started: float,
    ) -> httpx.Response:
        """Send (again while the server answers 503) until a non-503 answer or the deadline."""
        delay = LOAD_RETRY_FIRST
        said = False
        while True:
            self.guard()
            remaining = deadline - time.monotonic()
            try:
                response = await within(
                    self._http.send(build(), stream=stream), max(0.001, remaining)
                )
            except asyncio.TimeoutError:
                raise ServerStalled(model or "?", self.first_token_timeout, True, SECTION) from None
            except httpx.HTTPError as exc:
                raise self.transport_error(exc) from None
            if response.status_code != 503:
                return response
            with contextlib.suppress(asyncio.TimeoutError, httpx.HTTPError):
                await within(response.aread(), self.idle_timeout)
            await response.aclose()
            message, _ = _error_message(response)
            if notify is not None and not said:
                said = True
                notify("model loading" if "load" in message.lower() else f"server busy: {message}")
            if time.monotonic() + delay > deadline:
                raise ModelLoading(
                    self.base_url,
                    time.monotonic() - started,
                    f"typilot.{SECTION}.firstTokenTimeout",
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, LOAD_RETRY_MAX)

    async def _whole(
        self,
        method: str,
        url: str,
        *,
        body: dict[str, Any] | None = None,
        model: str | None = None,
        notify: Notify | None = None,
    ) -> httpx.Response:
        """One request whose whole answer is read at once (nothing streamed)."""
        started = time.monotonic()
        return await self._send(
            lambda: self._http.build_request(method, url, json=body),
            stream=False,
            model=model,
            notify=notify,
            deadline=started + self.first_token_timeout,
            started=started,
        )

    async def get_json(self, url: str, *, notify: Notify | None = None) -> Any:
        response = await self._whole("GET", url, notify=notify)
        if response.status_code != 200:
            raise self.status_error(response, None)
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError):
            raise ServerRequestError(
                self.base_url, 200, f"{url} did not answer JSON; is `{URL_SETTING}` right?"
            ) from None

    async def post_json(self, url: str, body: dict[str, Any], *, model: str) -> Any:
        """POST ``body`` and read the whole JSON answer (a request that streams nothing)."""
        response = await self._whole("POST", url, body=body, model=model)
        if response.status_code != 200:
            if url.endswith("/infill") and response.status_code in (404, 405, 501):
                raise _FimUnsupported(_error_message(response)[0])
            raise self.status_error(response, model)
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError):
            return None

    async def models(self, notify: Notify | None = None) -> list[dict[str, Any]]:
        """``GET {baseUrl}/models``: the served models (``data``)."""
        body = await self.get_json(f"{self.base_url}/models", notify=notify)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise ServerRequestError(
                self.base_url, 200, f"/models has no model list; is `{URL_SETTING}` right?"
            )
        return [m for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]

    async def fim_supported(self) -> bool | None:
        """Does ``/infill`` work for the loaded model? True, False (501/404), None (other)."""
        self.guard()
        try:
            response = await self._http.post(
                f"{self.root}/infill",
                json={"input_prefix": "", "input_suffix": "", "n_predict": 0, "stream": False},
            )
        except httpx.HTTPError as exc:
            raise self.transport_error(exc) from None
        if response.status_code in (404, 405, 501):
            return False
        return True if response.status_code == 200 else None

    # --- streaming --------------------------------------------------------------------------

    async def events(
        self,
        url: str,
        body: dict[str, Any],
        *,
        model: str,
        stats: StreamStats | None = None,
        notify: Notify | None = None,
        fim: bool = False,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """POST ``body`` to a streaming route and yield each event's JSON object until the end
        of the stream, or :data:`DONE` for ``data: [DONE]``. Raises :class:`BackendError` subclasses
        (``_FimUnsupported`` for ``fim`` routes that are not there); closing the generator
        closes the connection."""
        started = time.monotonic()
        if stats is not None:
            stats.started_at = started
        deadline = started + self.first_token_timeout
        timeout = httpx.Timeout(
            self.request_timeout, connect=self.connect_timeout, read=None, pool=None
        )
        response = await self._send(
            lambda: self._http.build_request("POST", url, json=body, timeout=timeout),
            stream=True,
            model=model,
            notify=notify,
            deadline=deadline,
            started=started,
        )
        reads: ReadDeadline | None = None
        try:
            if response.status_code != 200:
                with contextlib.suppress(asyncio.TimeoutError, httpx.HTTPError):
                    await within(response.aread(), self.idle_timeout)
                if fim and response.status_code in (404, 405, 501):
                    raise _FimUnsupported(_error_message(response)[0])
                raise self.status_error(response, model)
            parser = SSEParser()
            chunks = response.aiter_bytes()
            reads = ReadDeadline()  # one timer for the stream, not a task per chunk
            got_text = False
            any_event = False
            head = bytearray()  # the body's start, while no event came: what was it?
            while True:
                try:
                    chunk = await reads.read(chunks.__anext__(), deadline)
                except StopAsyncIteration:
                    pending, ended = parser.close(), True
                except asyncio.TimeoutError:
                    seconds = self.idle_timeout if got_text else self.first_token_timeout
                    raise ServerStalled(model, seconds, not got_text, SECTION) from None
                except httpx.HTTPError as exc:
                    raise ServerStreamError(
                        model, f"the connection broke ({type(exc).__name__})"
                    ) from None
                else:
                    pending, ended = parser.feed(chunk), False
                    if not any_event and len(head) < 4096:
                        head += chunk[: 4096 - len(head)]
                if ended and not any_event and not pending:
                    raise ServerStreamError(model, _not_events(bytes(head)))
                for event, data in pending:
                    any_event = True
                    if data.strip() == "[DONE]":
                        yield DONE
                        return
                    try:
                        obj = json.loads(data)
                    except ValueError:
                        if event == "error":  # `event: error` with a plain-text message
                            raise ServerStreamError(
                                model, f"the server said: {_clip(data)}"
                            ) from None
                        # At the end of the stream, an event without its blank line is one
                        # the connection cut short.
                        detail = (
                            "the connection closed in the middle of an event"
                            if ended
                            else "the server sent an event that is not JSON"
                        )
                        raise ServerStreamError(model, detail) from None
                    if not isinstance(obj, dict):
                        raise ServerStreamError(
                            model, "the server sent an event that is not an object"
                        )
                    if obj.get("error") or obj.get("object") == "error" or event == "error":
                        # llama.cpp's {"error": {...}}, vLLM's {"object": "error", ...}, or an
                        # `event: error` whose data is the error itself.
                        message, _ = _error_of(obj if "error" in obj else {"error": obj})
                        raise ServerStreamError(model, f"the server said: {message}")
                    if _has_text(obj):
                        got_text = True
                    if got_text:
                        deadline = time.monotonic() + self.idle_timeout
                    yield obj
                if ended:
                    return
        finally:
            if reads is not None:
                reads.close()
            await response.aclose()


DONE: dict[str, Any] = {}
"""What :meth:`OpenAIClient.events` yields for ``data: [DONE]`` (compared by identity)."""


def _not_events(head: bytes) -> str:
    """Why a 200 answer that ended without one event is no answer: empty, a single JSON body
    (a server that ignored ``"stream": true``, or its error), or something else."""
    text = head.decode("utf-8", errors="replace").strip()
    if not text:
        return "the server's answer was empty"
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and (body.get("error") or body.get("object") == "error"):
        return f"the server said: {_error_of(body)[0]}"
    return (
        "the server did not answer with server-sent events (no `data:` line); is "
        f"`{URL_SETTING}` an OpenAI-compatible API that streams?"
    )


def _clip(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shape_problem(event: Mapping[str, Any], fim: bool) -> str | None:
    """Why an event is not what the route streams (None when it is): a chat-completion chunk
    (``choices`` a list of objects whose ``delta.content`` is text or null; the usage event
    may have no ``choices``), or llama.cpp's infill event (``content`` text, or ``stop``)."""
    if fim:
        if isinstance(event.get("content"), str) or event.get("stop") is True:
            return None
        return (
            "the server sent an event that is not a fill-in-the-middle (/infill) event "
            "(no `content`)"
        )
    choices = event.get("choices")
    if choices is None and "usage" in event:
        return None
    if not isinstance(choices, list):
        return (
            "the server sent an event that is not a chat completion chunk (no `choices` "
            f"list); is `{URL_SETTING}` an OpenAI-compatible API?"
        )
    for choice in choices:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        content = delta.get("content") if isinstance(delta, dict) else None
        if not isinstance(choice, dict) or not (delta is None or isinstance(delta, dict)):
            return "the server sent an event that is not a chat completion chunk (a bad choice)"
        if content is not None and not isinstance(content, str):
            return (
                "the server sent an event that is not a chat completion chunk "
                "(`delta.content` is not text)"
            )
    return None


def _has_text(obj: Mapping[str, Any]) -> bool:
    if obj.get("content"):
        return True
    choices = obj.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        delta = choices[0].get("delta") or {}
        return bool(
            isinstance(delta, dict) and (delta.get("content") or delta.get("reasoning_content"))
        ) or bool(choices[0].get("finish_reason"))
    return bool(obj.get("stop"))


# --- the backend --------------------------------------------------------------------------------


class OpenAIBackend:
    """The :class:`~typilot_lsp.backends.base.Backend` on an OpenAI-compatible server."""

    def __init__(
        self, client: OpenAIClient, policy: PrivacyPolicy | None = None, *, trace: bool = False
    ) -> None:
        self.client = client
        self.policy = policy or PrivacyPolicy()
        self.trace = trace
        self._models: tuple[float, list[dict[str, Any]] | None] | None = None
        self.no_fim: set[str] = set()
        """Models whose server answered that it cannot fill in the middle (remembered)."""
        self.no_prefill: set[str] = set()
        """Models whose server refused a reply to continue (a 400 for the prefill; remembered)."""

    @classmethod
    def from_config(
        cls, config: Any, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> OpenAIBackend:
        openai = config.openai
        policy = PrivacyPolicy.from_config(config)
        client = OpenAIClient(
            openai.base_url,
            allow_remote_host=policy.allow_remote_host,
            api_key_env=openai.api_key_env,
            connect_timeout=float(openai.connect_timeout),
            first_token_timeout=float(openai.first_token_timeout),
            idle_timeout=float(openai.idle_timeout),
            transport=transport,
        )
        return cls(client, policy, trace=bool(getattr(config, "trace", False)))

    @property
    def host(self) -> str:
        return self.client.base_url

    async def served_models(self, notify: Notify | None = None) -> list[dict[str, Any]] | None:
        """``/models`` (cached a minute); None when the server has no such route."""
        now = time.monotonic()
        if self._models is not None and now - self._models[0] < MODELS_CACHE_SECONDS:
            return self._models[1]
        try:
            models: list[dict[str, Any]] | None = await self.client.models(notify)
        except ServerRequestError as exc:
            if exc.status != 404:
                raise
            models = None
        self._models = (now, models)
        return models

    async def prepare(self, model: str, notify: Notify | None = None) -> ModelInfo:
        check_model_name(model, self.policy.allow_cloud_models)  # Ollama's /v1 cloud names
        models = await self.served_models(notify)  # the host guard runs inside
        if models is None:
            if not model:
                raise UnknownModel("", self.host, [], MODEL_SETTING)
            return ModelInfo(
                name=model, capabilities=("completion",), context_length=None, remote_host=None
            )
        ids = [str(m["id"]) for m in models]
        entry = _find_model(models, model)
        if entry is None:
            if model or len(models) != 1:
                raise UnknownModel(model, self.host, ids, MODEL_SETTING)
            entry = models[0]
        name = model or str(entry["id"])
        return ModelInfo(
            name=name,
            capabilities=("completion",),
            context_length=_context_length(entry),
            remote_host=None,
            label=model or file_label(name),
        )

    async def stream(
        self,
        request: GenerationRequest,
        stats: StreamStats | None = None,
        notify: Notify | None = None,
    ) -> AsyncIterator[str]:
        stats = stats if stats is not None else StreamStats()
        request = self._checked(request)
        model = request.model
        if request.fim is not None and model not in self.no_fim:
            gen = self._text(
                f"{self.client.root}/infill",
                {**self._infill_body(request), "stream": True},
                model,
                stats,
                notify,
                fim=True,
            )
            try:
                async for piece in gen:
                    yield piece
                return
            except _FimUnsupported:
                self._no_fim(model, notify)
            finally:
                await gen.aclose()
        try:
            async for piece in self._chat(request, stats, notify):
                yield piece
        except ServerRequestError as exc:
            # A chat template that cannot continue an assistant message (llama.cpp answers 400,
            # e.g. "Assistant response prefill is incompatible with enable_thinking"): before
            # any text, ask again without it, and remember.
            if exc.status != 400 or not request.prefill or stats.first_token_at is not None:
                raise
            self.no_prefill.add(model)
            log.info("%s cannot continue a reply at %s: asking without a prefill", model, self.host)
            async for piece in self._chat(attrs.evolve(request, prefill=""), stats, notify):
                yield piece

    async def _chat(
        self, request: GenerationRequest, stats: StreamStats, notify: Notify | None
    ) -> AsyncIterator[str]:
        model = request.model
        body = {
            **self._chat_body(request),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        gen = self._text(f"{self.client.base_url}/chat/completions", body, model, stats, notify)
        try:
            async for piece in after_prefill(gen, request.prefill):
                yield piece
        except UnknownModel as exc:
            self._models = None  # a stale list: ask again next time
            models = await self.served_models()
            raise UnknownModel(
                model, self.host, [str(m["id"]) for m in models or []], MODEL_SETTING
            ) from exc
        finally:
            await gen.aclose()

    async def warm(self, request: GenerationRequest) -> int | None:
        """The run's own request, at most one token and no stream: llama-server keeps the
        evaluated prompt in its slot (`cache_prompt`, on by default), vLLM in its prefix cache."""
        request = self._checked(request)
        answer = None
        if request.fim is not None and request.model not in self.no_fim:
            body = {**self._infill_body(request), "n_predict": 1, "stream": False}
            try:
                answer = await self.client.post_json(
                    f"{self.client.root}/infill", body, model=request.model
                )
            except _FimUnsupported:
                self._no_fim(request.model, None)
        if answer is None:
            body = {**self._chat_body(request), "max_tokens": 1, "stream": False}
            answer = await self.client.post_json(
                f"{self.client.base_url}/chat/completions", body, model=request.model
            )
        timings = answer.get("timings") if isinstance(answer, dict) else None
        evaluated = timings.get("prompt_n") if isinstance(timings, dict) else None
        return evaluated if isinstance(evaluated, int) else None

    def _checked(self, request: GenerationRequest) -> GenerationRequest:
        """`request` once the cloud-name guard passed (as `prepare`, before a byte is sent),
        without the prefill for a model known not to take one."""
        check_model_name(request.model, self.policy.allow_cloud_models)
        if request.model in self.no_prefill:
            return attrs.evolve(request, prefill="")
        return request

    def _no_fim(self, model: str, notify: Notify | None) -> None:
        self.no_fim.add(model)
        log.info("%s cannot fill in the middle at %s: using chat", model, self.host)
        if notify is not None:
            notify("no fill-in-the-middle for this model: using chat")

    def _infill_body(self, request: GenerationRequest) -> dict[str, Any]:
        assert request.fim is not None
        log.debug(
            "infill %s at %s: prefix %s, suffix %s",
            request.model,
            self.host,
            redact(request.fim.prefix, self.trace),
            redact(request.fim.suffix, self.trace),
        )
        body: dict[str, Any] = {
            **_infill_options(request.options),
            "input_prefix": request.fim.prefix,
            "input_suffix": request.fim.suffix,
        }
        if request.max_tokens:
            body["n_predict"] = request.max_tokens
        return body

    def _chat_body(self, request: GenerationRequest) -> dict[str, Any]:
        log.debug("chat %s at %s: %s", request.model, self.host, redact(request.prompt, self.trace))
        messages = request.messages()  # llama-server repeats the prefill in its reply
        body: dict[str, Any] = {**request.options, "model": request.model, "messages": messages}
        if request.max_tokens:
            body["max_tokens"] = request.max_tokens
        if request.stop:
            body["stop"] = list(request.stop)
        return body

    async def _text(
        self,
        url: str,
        body: dict[str, Any],
        model: str,
        stats: StreamStats,
        notify: Notify | None,
        *,
        fim: bool = False,
    ) -> AsyncGenerator[str, None]:
        """The text of a stream (chat deltas or llama.cpp infill ``content``), stats filled in."""
        stats.endpoint = "fim" if fim else "chat"
        assembler = TextAssembler()
        finished = False
        count = 0
        events = self.client.events(url, body, model=model, stats=stats, notify=notify, fim=fim)
        try:
            async for event in events:
                if event is DONE:
                    # The server says the answer is complete, finish_reason or not.
                    finished = True
                    break
                problem = _shape_problem(event, fim)
                if problem is not None:
                    raise ServerStreamError(model, problem)
                text = ""
                if fim:
                    text = str(event.get("content") or "")
                    if event.get("stop"):
                        finished = True
                        stop_type = event.get("stop_type")
                        stats.done_reason = "length" if stop_type == "limit" else "stop"
                        predicted = event.get("tokens_predicted")
                        if isinstance(predicted, int):
                            count = max(count, predicted)
                else:
                    choices = event.get("choices")
                    choice = choices[0] if isinstance(choices, list) and choices else None
                    if isinstance(choice, dict):
                        delta = choice.get("delta") or {}
                        if isinstance(delta, dict):
                            text = str(delta.get("content") or "")
                            thinking = delta.get("reasoning_content") or ""
                            if thinking:
                                stats.thinking_chars += len(str(thinking))
                        if choice.get("finish_reason"):
                            finished = True
                            stats.done_reason = str(choice["finish_reason"])
                    usage = event.get("usage")
                    if isinstance(usage, dict):
                        finished = finished or not choices
                        if isinstance(usage.get("completion_tokens"), int):
                            count = max(count, usage["completion_tokens"])
                        if isinstance(usage.get("prompt_tokens"), int):
                            stats.prompt_eval_count = usage["prompt_tokens"]
                timings = event.get("timings")
                if isinstance(timings, dict):
                    if isinstance(timings.get("prompt_n"), int):
                        stats.prompt_eval_count = timings["prompt_n"]
                    predicted_ms = timings.get("predicted_ms")
                    if isinstance(predicted_ms, int | float):
                        stats.eval_duration_ns = int(predicted_ms * 1e6)
                if text:
                    count += 1
                    stats.token_count = max(stats.token_count, count)
                    text = assembler.feed(text)
                    if text:
                        if stats.first_token_at is None:
                            stats.first_token_at = time.monotonic()
                        yield text
                stats.token_count = max(stats.token_count, count)
            tail = assembler.finish()
            if tail:
                yield tail
            if not finished:
                raise ServerStreamError(
                    model, "the connection closed before the answer was complete"
                )
        finally:
            await events.aclose()

    async def aclose(self) -> None:
        await self.client._http.aclose()


def file_label(model_id: str) -> str:
    """The name a person knows a model by when the server names it by its file
    (llama-server without `--alias`: `/models/SmolLM2-135M-Instruct.Q4_1.gguf`)."""
    base = model_id.replace("\\", "/").rsplit("/", 1)[-1]
    return base[: -len(".gguf")] if base.lower().endswith(".gguf") else base or model_id


def _find_model(models: list[dict[str, Any]], model: str) -> dict[str, Any] | None:
    if not model:
        return None
    for entry in models:
        names = [str(entry["id"])]
        aliases = entry.get("aliases")
        if isinstance(aliases, list):
            names.extend(str(a) for a in aliases)
        if model in names or any(n.rsplit("/", 1)[-1] == model for n in names):
            return entry
    return None


_CHAT_ONLY = frozenset({"model", "messages", "stream", "stream_options", "max_tokens", "n"})


def _infill_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The pass-through options that mean the same on llama.cpp's ``/infill``."""
    return {k: v for k, v in options.items() if k not in _CHAT_ONLY}
