"""The Ollama client (httpx, async) and the :class:`OllamaBackend` the run engine uses.

Wire facts are in ``shared/ollama-api.md``; the parts that shape this code:

- ``/api/generate`` and ``/api/chat`` stream NDJSON. The text of a chunk is ``response``
  (generate) or ``message.content`` (chat); ``thinking`` is reasoning text, never yielded.
  The ``done: true`` line may carry a last piece of text and carries the stats.
- Errors before the first byte come with their real status and ``{"error": ...}``; after
  streaming has started, an ``{"error": ...}`` line ends the stream with status 200.
- Closing the HTTP connection is the only way to cancel a generation. Connections are not
  kept alive, so closing a stream's response closes its socket at once.
- A cold model load happens before the response headers arrive, so the first chunk gets the
  long ``first_token_timeout``; every later chunk must follow within ``idle_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any

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
from typilot_lsp.backends.urls import host_name, resolve_ollama_host
from typilot_lsp.backends.waiting import ReadDeadline, within
from typilot_lsp.errors import (
    BackendError,
    CapabilityError,
    CloudModelRefused,
    ModelNotFound,
    NotOllama,
    OllamaAuthError,
    OllamaBusy,
    OllamaRequestError,
    OllamaServerError,
    OllamaStalled,
    OllamaStreamError,
    OllamaUnreachable,
)
from typilot_lsp.logging_utils import redact
from typilot_lsp.privacy import (
    PrivacyPolicy,
    check_host,
    check_model_info,
    check_model_name,
    is_loopback_host,
)

__all__ = ["OllamaBackend", "OllamaClient", "model_info_from_show"]

log = logging.getLogger(__name__)

SHOW_CACHE_SECONDS = 60.0
"""How long an ``/api/show`` answer is reused for the same (host, model)."""


def _error_text(response: httpx.Response) -> tuple[str, bool]:
    """The ``error`` of an Ollama error body, and whether the body was Ollama-shaped JSON."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        text = response.text.strip().replace("\n", " ")
        return (text[:200] or f"HTTP {response.status_code}"), False
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"], True
    return f"HTTP {response.status_code}", False


def _capability(message: str) -> str | None:
    marker = "does not support "
    idx = message.find(marker)
    if idx < 0:
        return None
    word = message[idx + len(marker) :].split()
    return word[0].strip("\"'.,") if word else "this request"


def _context_length(show: Mapping[str, Any]) -> int | None:
    info = show.get("model_info") or {}
    if isinstance(info, dict):
        arch = info.get("general.architecture")
        value = info.get(f"{arch}.context_length") if arch else None
        if value is None:
            value = next((v for k, v in info.items() if k.endswith(".context_length")), None)
        if isinstance(value, int):
            return value
    details = show.get("details") or {}
    value = details.get("context_length") if isinstance(details, dict) else None
    return value if isinstance(value, int) else None


def model_info_from_show(model: str, show: Mapping[str, Any]) -> ModelInfo:
    """A :class:`ModelInfo` from an ``/api/show`` answer."""
    caps = show.get("capabilities") or ()
    return ModelInfo(
        name=model,
        capabilities=tuple(str(c) for c in caps) if isinstance(caps, list) else (),
        context_length=_context_length(show),
        remote_host=show.get("remote_host") or None,
        remote_model=show.get("remote_model") or None,
    )


class OllamaClient:
    """A thin async client for one Ollama host.

    Every request first runs the host guard (:func:`typilot_lsp.privacy.check_host`), so a
    refused host never sees a connection attempt, nor a DNS query.
    """

    def __init__(
        self,
        host: str,
        *,
        allow_remote_host: bool = False,
        connect_timeout: float = 2.0,
        first_token_timeout: float = 120.0,
        idle_timeout: float = 30.0,
        request_timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.host = host.rstrip("/")
        self.allow_remote_host = allow_remote_host
        self.connect_timeout = connect_timeout
        self.first_token_timeout = first_token_timeout
        self.idle_timeout = idle_timeout
        self.request_timeout = request_timeout
        remote = not is_loopback_host(host_name(self.host))
        headers = {"User-Agent": f"typilot-lsp/{__version__}"}
        api_key = os.environ.get("OLLAMA_API_KEY")
        if remote and allow_remote_host and api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        limits = httpx.Limits(max_keepalive_connections=0)
        trust_env = allow_remote_host and remote
        self._http = httpx.AsyncClient(
            base_url=self.host,
            headers=headers,
            timeout=httpx.Timeout(request_timeout, connect=connect_timeout),
            # No keep-alive: a closed stream closes its socket, and a restarted Ollama
            # never meets a stale pooled connection.
            limits=limits,
            # Proxy variables would route loopback traffic elsewhere; honour them only
            # when the user allowed a remote host.
            trust_env=trust_env,
            # Plain HTTP without a proxy (a local model server): the leaner socket layer.
            transport=transport or loop_transport(self.host, limits, trust_env),
        )
        self._show_cache: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._show_locks: dict[tuple[str, str], asyncio.Lock] = {}

    # --- helpers ----------------------------------------------------------------------

    def _guard(self) -> None:
        check_host(self.host, self.allow_remote_host)

    def _transport_error(self, exc: httpx.HTTPError) -> BackendError:
        if isinstance(exc, httpx.ConnectTimeout):
            return OllamaUnreachable(
                self.host, f"no answer to the connection within {self.connect_timeout:g} s"
            )
        if isinstance(exc, httpx.ConnectError):
            return OllamaUnreachable(self.host)
        if isinstance(exc, httpx.RemoteProtocolError) and "without sending" in str(exc):
            return OllamaUnreachable(self.host, "the connection closed before any answer")
        if isinstance(exc, httpx.RemoteProtocolError):
            return NotOllama(self.host, f"bad HTTP answer: {exc}")
        if isinstance(exc, httpx.TimeoutException):
            return OllamaUnreachable(
                self.host, f"no answer within {self.request_timeout:g} s ({type(exc).__name__})"
            )
        return OllamaUnreachable(self.host, f"{type(exc).__name__}: {exc}")

    def _status_error(self, response: httpx.Response, model: str | None) -> BackendError:
        status = response.status_code
        message, ollama_shaped = _error_text(response)
        path = response.request.url.path
        if status == 404:
            if model is not None and ollama_shaped:
                return ModelNotFound(model)
            return NotOllama(self.host, f"{path} answered 404 {message}")
        if status == 400:
            capability = _capability(message)
            if capability and model is not None:
                return CapabilityError(model, capability, message)
            return OllamaRequestError(status, message)
        if status in (401, 403):
            return OllamaAuthError(model or "?", status, message)
        if status in (429, 503):
            return OllamaBusy(self.host, message)
        return OllamaServerError(status, message)

    async def _get_json(self, method: str, path: str, model: str | None = None, **kw: Any) -> Any:
        self._guard()
        try:
            response = await self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        if response.status_code != 200:
            raise self._status_error(response, model)
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError):
            raise NotOllama(self.host, f"{path} did not answer JSON") from None

    async def post_json(self, path: str, body: dict[str, Any], *, model: str) -> Any:
        """POST ``body`` and read the whole JSON answer (``"stream": false``)."""
        return await self._get_json("POST", path, model=model, json=body)

    # --- discovery --------------------------------------------------------------------

    async def version(self) -> str:
        """``GET /api/version``: the server's version string."""
        body = await self._get_json("GET", "/api/version")
        if not isinstance(body, dict) or not isinstance(body.get("version"), str):
            raise NotOllama(self.host, "/api/version has no version")
        return str(body["version"])

    async def tags(self) -> list[dict[str, Any]]:
        """``GET /api/tags``: the installed models (cloud stubs included)."""
        body = await self._get_json("GET", "/api/tags")
        models = body.get("models") if isinstance(body, dict) else None
        if not isinstance(models, list):
            raise NotOllama(self.host, "/api/tags has no model list")
        return [m for m in models if isinstance(m, dict)]

    async def show(self, model: str, *, refresh: bool = False) -> dict[str, Any]:
        """``POST /api/show``, cached for :data:`SHOW_CACHE_SECONDS` per (host, model)."""
        key = (self.host, model)
        # One question at a time per model: a prewarm and the run that follows it would
        # otherwise both ask, and the second gets the first's answer.
        async with self._show_locks.setdefault(key, asyncio.Lock()):
            cached = self._show_cache.get(key)
            now = time.monotonic()
            if cached and not refresh and now - cached[0] < SHOW_CACHE_SECONDS:
                return cached[1]
            return await self._fetch_show(key, model, now)

    async def _fetch_show(self, key: tuple[str, str], model: str, now: float) -> dict[str, Any]:
        body = await self._get_json("POST", "/api/show", model=model, json={"model": model})
        if not isinstance(body, dict):
            raise NotOllama(self.host, "/api/show did not answer an object")
        self._show_cache[key] = (now, body)
        return body

    async def model_info(self, model: str) -> ModelInfo:
        return model_info_from_show(model, await self.show(model))

    # --- streaming --------------------------------------------------------------------

    async def stream_chunks(
        self,
        path: str,
        body: dict[str, Any],
        *,
        stats: StreamStats | None = None,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """POST ``body`` to a streaming endpoint and yield each parsed chunk, the done line
        included. Raises :class:`BackendError` subclasses; closing the generator closes the
        connection."""
        self._guard()
        model = str(body.get("model", "?"))
        body = {**body, "stream": True}
        request = self._http.build_request(
            "POST",
            path,
            json=body,
            timeout=httpx.Timeout(
                self.request_timeout, connect=self.connect_timeout, read=None, pool=None
            ),
        )
        started = time.monotonic()
        if stats is not None:
            stats.started_at = started
        deadline = started + self.first_token_timeout
        try:
            response = await within(self._http.send(request, stream=True), self.first_token_timeout)
        except asyncio.TimeoutError:
            raise OllamaStalled(model, self.first_token_timeout, first=True) from None
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        try:
            if response.status_code != 200:
                with contextlib.suppress(asyncio.TimeoutError, httpx.HTTPError):
                    await within(response.aread(), self.idle_timeout)
                raise self._status_error(response, model)
            # Bytes split into lines here: httpx's text and line decoders cost more per token
            # than the parsing, and one deadline timer serves the whole stream.
            chunks = response.aiter_bytes()
            reads = ReadDeadline()
            buffered = b""
            first, ended = True, False
            try:
                while not ended:
                    until = deadline if first else time.monotonic() + self.idle_timeout
                    try:
                        data = await reads.read(chunks.__anext__(), until)
                    except StopAsyncIteration:
                        data, ended = b"\n", True  # a last line without its line break
                    except asyncio.TimeoutError:
                        seconds = self.first_token_timeout if first else self.idle_timeout
                        raise OllamaStalled(model, seconds, first=first) from None
                    except httpx.HTTPError as exc:
                        raise OllamaStreamError(
                            model, f"the connection broke ({type(exc).__name__})"
                        ) from None
                    *lines, buffered = (buffered + data).split(b"\n")
                    for line in lines:
                        if not line.strip():
                            continue
                        chunk = self._parse_line(line, model)
                        first = False
                        yield chunk
                        if chunk.get("done"):
                            return
            finally:
                reads.close()
            raise OllamaStreamError(model, "the connection closed before the answer was complete")
        finally:
            await response.aclose()

    @staticmethod
    def _parse_line(line: bytes, model: str) -> dict[str, Any]:
        try:
            chunk = json.loads(line)
        except ValueError:
            raise OllamaStreamError(model, "Ollama sent a line that is not JSON") from None
        if not isinstance(chunk, dict):
            raise OllamaStreamError(model, "Ollama sent a line that is not an object")
        if "error" in chunk:
            raise OllamaStreamError(model, f"Ollama said: {chunk['error']}")
        return chunk

    async def text_stream(
        self,
        path: str,
        body: dict[str, Any],
        stats: StreamStats | None,
        allow_cloud_models: bool,
    ) -> AsyncGenerator[str, None]:
        stats = stats if stats is not None else StreamStats()
        chunks = 0
        model = str(body.get("model", "?"))
        gen = self.stream_chunks(path, body, stats=stats)
        try:
            async for chunk in gen:
                if not allow_cloud_models and (
                    chunk.get("remote_host") or chunk.get("remote_model")
                ):
                    # Defence in depth: the cloud guard runs before the request; should a
                    # model still turn out to be remote, stop at the first chunk.
                    raise CloudModelRefused(model, chunk.get("remote_host") or "a remote host")
                message = chunk.get("message")
                if isinstance(message, dict):
                    text = message.get("content") or ""
                    thinking = message.get("thinking") or ""
                else:
                    text = chunk.get("response") or ""
                    thinking = chunk.get("thinking") or ""
                if thinking:
                    stats.thinking_chars += len(thinking)
                if chunk.get("done"):
                    stats.done_reason = chunk.get("done_reason")
                    eval_count = chunk.get("eval_count")
                    stats.prompt_eval_count = chunk.get("prompt_eval_count")
                    stats.eval_duration_ns = chunk.get("eval_duration")
                    stats.load_duration_ns = chunk.get("load_duration")
                    stats.total_duration_ns = chunk.get("total_duration")
                    if text:
                        chunks += 1
                    stats.token_count = eval_count if isinstance(eval_count, int) else chunks
                elif text:
                    chunks += 1
                    stats.token_count = chunks
                if text:
                    if stats.first_token_at is None:
                        stats.first_token_at = time.monotonic()
                    yield text
        finally:
            await gen.aclose()

    def generate(
        self,
        model: str,
        prompt: str,
        *,
        system: str | None = None,
        suffix: str | None = None,
        options: Mapping[str, Any] | None = None,
        keep_alive: str | int | None = None,
        think: bool | None = None,
        raw: bool | None = None,
        stats: StreamStats | None = None,
        allow_cloud_models: bool = False,
    ) -> AsyncGenerator[str, None]:
        """Stream ``/api/generate``; yields the ``response`` text (thinking is not yielded)."""
        body: dict[str, Any] = {"model": model, "prompt": prompt}
        for key, value in (
            ("system", system),
            ("suffix", suffix),
            ("options", dict(options) if options else None),
            ("keep_alive", keep_alive),
            ("think", think),
            ("raw", raw),
        ):
            if value is not None:
                body[key] = value
        return self.text_stream("/api/generate", body, stats, allow_cloud_models)

    def chat(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        options: Mapping[str, Any] | None = None,
        keep_alive: str | int | None = None,
        think: bool | None = None,
        stats: StreamStats | None = None,
        allow_cloud_models: bool = False,
    ) -> AsyncGenerator[str, None]:
        """Stream ``/api/chat``; yields ``message.content`` (thinking is not yielded)."""
        body: dict[str, Any] = {"model": model, "messages": messages}
        if options:
            body["options"] = dict(options)
        if keep_alive is not None:
            body["keep_alive"] = keep_alive
        if think is not None:
            body["think"] = think
        return self.text_stream("/api/chat", body, stats, allow_cloud_models)

    async def aclose(self) -> None:
        await self._http.aclose()


class OllamaBackend:
    """The :class:`~typilot_lsp.backends.base.Backend` on Ollama: ``/api/chat``, or
    ``/api/generate`` with a suffix for fill-in-the-middle. ``prepare``, ``stream`` and ``warm``
    each run the privacy guards (``_checked_info``)."""

    def __init__(
        self,
        client: OllamaClient,
        policy: PrivacyPolicy | None = None,
        *,
        trace: bool = False,
        keep_alive: str | int = "5m",
    ) -> None:
        self.client = client
        self.policy = policy or PrivacyPolicy()
        self.trace = trace
        self.keep_alive = keep_alive
        """How long Ollama keeps the model loaded after a request (`ollama.keepAlive`)."""

    @classmethod
    def from_config(
        cls, config: Any, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> OllamaBackend:
        """Build from a :class:`typilot_lsp.config.Config`. Raises
        :class:`~typilot_lsp.errors.InvalidHost` for a host that cannot be parsed; the host
        guard itself runs on each request."""
        ollama = config.ollama
        policy = PrivacyPolicy.from_config(config)
        client = OllamaClient(
            resolve_ollama_host(ollama.host),
            allow_remote_host=policy.allow_remote_host,
            connect_timeout=float(ollama.connect_timeout),
            first_token_timeout=float(ollama.first_token_timeout),
            idle_timeout=float(ollama.idle_timeout),
            transport=transport,
        )
        return cls(
            client,
            policy,
            trace=bool(getattr(config, "trace", False)),
            keep_alive=ollama.keep_alive,
        )

    @property
    def host(self) -> str:
        return self.client.host

    async def _checked_info(self, model: str) -> ModelInfo:
        """The model's `/api/show` facts, once the privacy guards passed: the cloud-name check
        needs no request, the host guard runs before the connection, and a model whose
        manifest points at another machine is refused before any prompt is sent."""
        check_model_name(model, self.policy.allow_cloud_models)  # no request at all
        info = await self.client.model_info(model)  # host guard runs inside
        check_model_info(info, self.policy.allow_cloud_models)
        return info

    async def prepare(self, model: str, notify: Notify | None = None) -> ModelInfo:
        # Ollama loads a model while the request waits: there is nothing to report here.
        info = await self._checked_info(model)
        if info.capabilities and "completion" not in info.capabilities:
            raise CapabilityError(
                model, "text generation", f"its capabilities are {', '.join(info.capabilities)}"
            )
        return info

    async def stream(
        self,
        request: GenerationRequest,
        stats: StreamStats | None = None,
        notify: Notify | None = None,
    ) -> AsyncIterator[str]:
        stats = stats if stats is not None else StreamStats()
        path, body = await self._request_body(request)
        stats.endpoint = "fim" if path == "/api/generate" else "chat"
        gen = self.client.text_stream(path, body, stats, self.policy.allow_cloud_models)
        try:
            async for piece in after_prefill(
                gen, request.prefill if stats.endpoint == "chat" else ""
            ):
                yield piece
        finally:
            await gen.aclose()

    async def warm(self, request: GenerationRequest) -> int | None:
        """The run's own request, one token, no stream: Ollama loads the model if it is not
        loaded (for `keep_alive`) and its runner reuses the evaluated prompt's same-prefix
        cache for the run that follows."""
        path, body = await self._request_body(request)
        body["options"] = {**body.get("options", {}), "num_predict": 1}
        answer = await self.client.post_json(path, {**body, "stream": False}, model=request.model)
        evaluated = answer.get("prompt_eval_count") if isinstance(answer, dict) else None
        return evaluated if isinstance(evaluated, int) else None

    async def _request_body(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        """The route and body for `request`: FIM through `/api/generate` with a suffix when the
        model can fill in the middle, else `/api/chat`. Capabilities come from `/api/show`
        (cached), which `prepare` already asked; the guards run again (`_checked_info`)."""
        info = await self._checked_info(request.model)
        options = dict(request.options)
        if request.max_tokens:
            options["num_predict"] = request.max_tokens
        body: dict[str, Any] = {"model": request.model, "keep_alive": self.keep_alive}
        if "thinking" in info.capabilities:
            body["think"] = False  # a code reply, not a reasoning trace
        if request.fim is not None and "insert" in info.capabilities:
            # Fill-in-the-middle: the model's template puts prompt and suffix around the gap.
            log.debug(
                "generate %s at %s with suffix: prefix %s, suffix %s",
                request.model,
                self.host,
                redact(request.fim.prefix, self.trace),
                redact(request.fim.suffix, self.trace),
            )
            # An empty suffix would turn Ollama's FIM template off (`if .Suffix`).
            body.update(prompt=request.fim.prefix, suffix=request.fim.suffix or "\n")
            if options:
                body["options"] = options
            return "/api/generate", body
        log.debug("chat %s at %s: %s", request.model, self.host, redact(request.prompt, self.trace))
        messages = request.messages()  # the reply continues the prefill, without repeating it
        if request.stop:
            options["stop"] = list(request.stop)
        body["messages"] = messages
        if options:
            body["options"] = options
        return "/api/chat", body

    async def aclose(self) -> None:
        await self.client.aclose()
