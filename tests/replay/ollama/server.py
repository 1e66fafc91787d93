"""``ReplayOllama``: the replay server itself, on its own thread and event loop. It reads
requests, routes them (discovery, generation, the control API), keeps the settings, the
scripted rules and the event log, and hands each accepted generation to ``GenerationAnswer``."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from typing import Any, TextIO

from tests.replay.background import BackgroundLoop
from tests.replay.ollama.connection import BadRequest, Connection, HangupWatch, Request
from tests.replay.ollama.control import answer_control
from tests.replay.ollama.discovery import ps_entry, show_body, tag_entry
from tests.replay.ollama.events import EventLog, Predicate
from tests.replay.ollama.faults import (
    BUSY_ERROR,
    ErrorReply,
    refusal_before_model,
    refusal_for_model,
    scripted_failure,
)
from tests.replay.ollama.generation import Generation, GenerationAnswer, Pacing
from tests.replay.ollama.models import DEFAULT_MODELS, LoadedModels, find_model, normalize_model
from tests.replay.ollama.replies import prompt_text
from tests.replay.ollama.rules import Rule
from tests.replay.ollama.slots import GenerationSlots
from tests.replay.ollama.wire import (
    BodyError,
    decode_body,
    event_body,
    go_json,
    is_loopback,
    parse_keep_alive,
)

DEFAULT_VERSION = "0.12.6"
DEFAULT_TOKENS_PER_SECOND = 150.0
DEFAULT_FIRST_TOKEN_DELAY = 0.03
CLOUD_MODES = ("ok", "unauthorized", "disabled")

Route = Callable[[Connection, Request, int], Awaitable[bool]]


GENERATION_PATHS = ("/api/chat", "/api/generate")


class ReplayOllama:
    """An Ollama-compatible HTTP server on its own thread and event loop.

    ``cloud`` is ``"ok"``, ``"unauthorized"`` (cloud models answer 401 with ``signin_url``) or
    ``"disabled"`` (403). ``load_delay``: seconds a cold local model takes to load;
    ``num_parallel``: generations served at once (None: no limit), the others queue;
    ``max_queue``: queued generations beyond which new ones get 503 ``server busy`` (None: no
    limit). ``event_log``: a text stream that also gets every event as a JSON line. All public
    methods are thread-safe.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        models: Iterable[str | dict[str, Any]] | None = None,
        tokens_per_second: float = DEFAULT_TOKENS_PER_SECOND,
        first_token_delay: float = DEFAULT_FIRST_TOKEN_DELAY,
        prefill_rate: float | None = None,
        load_delay: float = 0.0,
        num_parallel: int | None = None,
        max_queue: int | None = None,
        version: str = DEFAULT_VERSION,
        cloud: str = "ok",
        rules: Iterable[Rule | dict[str, Any]] = (),
        event_log: TextIO | None = None,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"ReplayOllama only binds loopback addresses, not {host!r}")
        if tokens_per_second <= 0:
            raise ValueError(f"tokens_per_second must be > 0, got {tokens_per_second!r}")
        self.host = host
        self.port = port
        self._defaults: dict[str, Any] = {
            "models": [normalize_model(m) for m in (DEFAULT_MODELS if models is None else models)],
            "tokens_per_second": float(tokens_per_second),
            "first_token_delay": float(first_token_delay),
            "prefill_rate": prefill_rate,
            "load_delay": float(load_delay),
            "num_parallel": num_parallel or None,
            "max_queue": max_queue,
            "version": version,
            "cloud": cloud,
            "rules": [r if isinstance(r, Rule) else Rule.from_dict(r) for r in rules],
        }
        self._lock = threading.RLock()  # settings and rules
        self._log = EventLog(event_log)
        self._loaded = LoadedModels()
        self._slots = GenerationSlots(self)
        self._background = BackgroundLoop("replay-ollama")
        self._server: asyncio.base_events.Server | None = None
        self._conn_tasks: set[asyncio.Task[None]] = set()
        self._routes: dict[tuple[str, str], Route] = self._route_table()
        self._apply_defaults()

    # -- configuration -------------------------------------------------------------------------

    def _apply_defaults(self) -> None:
        d = self._defaults
        with self._lock:
            self.models: list[dict[str, Any]] = [dict(m) for m in d["models"]]
            self.tokens_per_second: float = d["tokens_per_second"]
            self.first_token_delay: float = d["first_token_delay"]
            self.prefill_rate: float | None = d["prefill_rate"]
            self.load_delay: float = d["load_delay"]
            self.num_parallel: int | None = d["num_parallel"]
            self.max_queue: int | None = d["max_queue"]
            self.version: str = d["version"]
            self.set_cloud(d["cloud"])
            self._rules: list[Rule] = list(d["rules"])
        self._log.clear()
        self._loaded.clear()

    def set_cloud(self, mode: str) -> None:
        """``"ok"``, ``"unauthorized"`` (401 + signin_url) or ``"disabled"`` (403) for cloud models."""
        if mode not in CLOUD_MODES:
            raise ValueError(f"cloud mode must be ok, unauthorized or disabled, got {mode!r}")
        with self._lock:
            self.cloud = mode

    def set_models(self, models: Iterable[str | dict[str, Any]]) -> None:
        """Replace the model list (names or dicts with keys as in ``DEFAULT_MODELS``)."""
        normalized = [normalize_model(m) for m in models]
        with self._lock:
            self.models = normalized

    def add_rule(
        self,
        match: str | Callable[[dict[str, Any]], bool] | Rule | None = None,
        reply: str | None = None,
        **options: Any,
    ) -> Rule:
        """Add a scripted reply (see ``Rule`` for the options); returns the rule."""
        rule = match if isinstance(match, Rule) else Rule(match=match, reply=reply, **options)
        with self._lock:
            self._rules.append(rule)
        return rule

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    def clear_rules(self) -> None:
        with self._lock:
            self._rules.clear()

    def reset(self) -> None:
        """Back to the constructor's state: rules, models, settings; the event log is emptied."""
        self._apply_defaults()

    def configure(
        self,
        *,
        cloud: str | None = None,
        tokens_per_second: float | None = None,
        first_token_delay: float | None = None,
        prefill_rate: float | None = None,
        load_delay: float | None = None,
        num_parallel: int | None = None,
        max_queue: int | None = None,
        version: str | None = None,
    ) -> None:
        """Change server-wide settings at run time (``None`` leaves a setting as it is; a
        ``prefill_rate`` or ``num_parallel`` of 0 and a negative ``max_queue`` mean none)."""
        if cloud is not None:
            self.set_cloud(cloud)
        if tokens_per_second is not None and tokens_per_second <= 0:
            raise ValueError("tokens_per_second must be > 0")
        with self._lock:
            if tokens_per_second is not None:
                self.tokens_per_second = float(tokens_per_second)
            if first_token_delay is not None:
                self.first_token_delay = float(first_token_delay)
            if prefill_rate is not None:
                self.prefill_rate = float(prefill_rate) if prefill_rate > 0 else None
            if load_delay is not None:
                self.load_delay = max(0.0, float(load_delay))
            if num_parallel is not None:
                self.num_parallel = int(num_parallel) if num_parallel > 0 else None
            if max_queue is not None:
                self.max_queue = int(max_queue) if max_queue >= 0 else None
            if version is not None:
                self.version = version
        self._slots.wake()

    def settings(self) -> dict[str, Any]:
        with self._lock:
            return {
                "cloud": self.cloud,
                "tokens_per_second": self.tokens_per_second,
                "first_token_delay": self.first_token_delay,
                "prefill_rate": self.prefill_rate,
                "load_delay": self.load_delay,
                "num_parallel": self.num_parallel,
                "max_queue": self.max_queue,
                "version": self.version,
                "models": [m["name"] for m in self.models],
            }

    # -- events --------------------------------------------------------------------------------

    @property
    def events(self) -> list[dict[str, Any]]:
        """A snapshot of the event log (dicts with ``kind``, ``path``, ``id``, ``time``...)."""
        return self._log.events

    def events_of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind]

    def generation_requests(self) -> list[dict[str, Any]]:
        """The requests to generate (`/api/chat`, `/api/generate`): runs and prewarms."""
        return [e for e in self.events_of("request") if e["path"] in GENERATION_PATHS]

    def wait_for(
        self, kind: str, predicate: Predicate | None = None, timeout: float = 10, *, since: int = 0
    ) -> dict[str, Any]:
        """Block until an event of ``kind`` (matching ``predicate``) is in the log; return it.

        Events already logged count (from index ``since``). Raises ``TimeoutError`` listing
        the events seen. Do not call it from a coroutine running the code under test on the
        same loop: use ``await wait_for_async(...)`` there.
        """
        return self._log.wait_for(kind, predicate, timeout, since=since)

    async def wait_for_async(
        self, kind: str, predicate: Predicate | None = None, timeout: float = 10, *, since: int = 0
    ) -> dict[str, Any]:
        """``wait_for`` for coroutines: polls without blocking the caller's event loop."""
        return await self._log.wait_for_async(kind, predicate, timeout, since=since)

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port == 0:
            raise RuntimeError("ReplayOllama has no port yet: call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> ReplayOllama:
        if self._background.running:
            raise RuntimeError("ReplayOllama already started")
        try:
            self._background.start(self._astart)
        except Exception as exc:
            raise RuntimeError(
                f"ReplayOllama could not listen on {self.host}:{self.port}: {exc}"
            ) from exc
        return self

    def stop(self) -> None:
        self._background.stop(self._astop)
        self._server = None

    def __enter__(self) -> ReplayOllama:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _astart(self) -> None:
        self._slots.bind(asyncio.get_running_loop())
        self._server = await asyncio.start_server(self._on_connect, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _astop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._conn_tasks):
            task.cancel()
        if self._conn_tasks:
            await asyncio.wait(self._conn_tasks, timeout=5)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    # -- connections ---------------------------------------------------------------------------

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conn_tasks.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:  # one token per chunk must leave at once, as Ollama's do
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Connection(reader, writer)
        try:
            await self._serve(conn)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._conn_tasks.discard(task)
            conn.close()
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _serve(self, conn: Connection) -> None:
        """Answer the connection's requests, one after the other, while it is kept alive."""
        while True:
            try:
                req = await conn.read_request()
            except BadRequest as exc:
                with contextlib.suppress(ConnectionError):
                    message = f"400 Bad Request: {exc}".encode()
                    await conn.send(400, message, "text/plain; charset=utf-8", close=True)
                return
            if req is None:
                return
            conn.headers_sent = False
            conn.close_after = not req.keep_alive
            keep = await self._dispatch(conn, req)
            if not (keep and req.keep_alive):
                return

    def _route_table(self) -> dict[tuple[str, str], Route]:
        routes: dict[tuple[str, str], Route] = {
            ("GET", "/api/ps"): self._ps,
            ("GET", "/api/status"): self._status,
            ("POST", "/api/show"): self._show,
            ("POST", "/api/generate"): self._generate,
            ("POST", "/api/chat"): self._generate,
        }
        for path, route in (("/", self._root), ("/api/version", self._version)):
            routes[("GET", path)] = routes[("HEAD", path)] = route
        routes[("GET", "/api/tags")] = routes[("HEAD", "/api/tags")] = self._tags
        return routes

    async def _dispatch(self, conn: Connection, req: Request) -> bool:
        """Answer one request; return False when the connection must not be reused."""
        if req.path.startswith("/_replay/"):
            await answer_control(self, conn, req)
            return True
        rid = self._log.next_request_id()
        self._log.record(
            "request",
            id=rid,
            method=req.method,
            path=req.path,
            query=req.query,
            body=event_body(req.body),
            headers=dict(req.headers),
        )
        route = self._routes.get((req.method, req.path))
        if route is not None:
            return await route(conn, req, rid)
        if any(path == req.path for _, path in self._routes):
            # gin with HandleMethodNotAllowed, as Ollama configures it.
            await conn.send(405, b"405 method not allowed", "text/plain")
        else:
            await conn.send(404, b"404 page not found", "text/plain")
        return True

    # -- discovery -----------------------------------------------------------------------------

    async def _root(self, conn: Connection, req: Request, rid: int) -> bool:
        head_only = req.method == "HEAD"
        await conn.send(200, b"Ollama is running", "text/plain; charset=utf-8", head_only=head_only)
        return True

    async def _version(self, conn: Connection, req: Request, rid: int) -> bool:
        await conn.send_json(200, {"version": self.version}, head_only=req.method == "HEAD")
        return True

    async def _tags(self, conn: Connection, req: Request, rid: int) -> bool:
        tags = {"models": [tag_entry(m) for m in self._models()]}
        await conn.send_json(200, tags, head_only=req.method == "HEAD")
        return True

    async def _ps(self, conn: Connection, req: Request, rid: int) -> bool:
        entries = []
        for name, until in self._loaded.snapshot().items():
            m = self._lookup(name)
            if m is not None and not m["remote_host"]:
                entries.append(ps_entry(m, until))
        await conn.send_json(200, {"models": entries})
        return True

    async def _status(self, conn: Connection, req: Request, rid: int) -> bool:
        disabled = self.cloud == "disabled"
        cloud = {"disabled": disabled, "source": "env" if disabled else "none"}
        await conn.send_json(200, {"cloud": cloud})
        return True

    async def _show(self, conn: Connection, req: Request, rid: int) -> bool:
        try:
            body = decode_body(req.path, req.body)
        except BodyError as exc:
            await conn.send_json(400, {"error": str(exc)})
            return True
        name = body.get("model") or body.get("name") or ""
        if not isinstance(name, str) or not name:
            await conn.send_json(400, {"error": "model is required"})
            return True
        m = self._lookup(name)
        if m is None:
            await conn.send_json(404, {"error": f"model '{name}' not found"})
        elif m["remote_host"] and self.cloud == "disabled":
            message = "ollama cloud is disabled: remote model details are unavailable"
            await conn.send_json(403, {"error": message})
        else:
            await conn.send_json(200, show_body(m))
        return True

    def _models(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.models)

    def _lookup(self, name: str) -> dict[str, Any] | None:
        return find_model(self._models(), name)

    # -- generation ----------------------------------------------------------------------------

    def _pick_rule(self, path: str, model: str, text: str, body: dict[str, Any]) -> Rule | None:
        """The newest rule that matches (a rule whose ``match`` raises does not); it is used."""
        with self._lock:
            for rule in reversed(self._rules):
                try:
                    hit = rule.matches(path, model, text, body)
                except Exception:
                    hit = False
                if hit:
                    rule.used += 1
                    return rule
        return None

    async def _refuse(
        self, conn: Connection, req: Request, rid: int, error: ErrorReply, model_name: str = ""
    ) -> bool:
        """Answer an error instead of a generation (after its delay) and log it."""
        path = req.path
        if error.delay:
            watch = HangupWatch(conn)
            try:
                if not await watch.sleep(error.delay):
                    self._log.record(
                        "disconnect", id=rid, path=path, model=model_name, tokens_sent=0
                    )
                    return False
            finally:
                watch.close()
        body = error.body
        self._log.record(
            "error", id=rid, path=path, status=error.status, error=body.get("error"), body=body
        )
        await conn.send(error.status, go_json(body), error.content_type)
        return True

    def _accept(self, req: Request, rid: int, body: dict[str, Any]) -> Generation | ErrorReply:
        """The generation to produce, or the error Ollama answers instead (in its order)."""
        is_chat = req.path == "/api/chat"
        refusal = refusal_before_model(body, is_chat)
        if refusal is not None:
            return refusal
        name = body.get("model") or ""
        m = self._lookup(name) if name else None
        if m is None:
            return ErrorReply(404, {"error": f"model '{name}' not found"})
        rule = self._pick_rule(req.path, m["name"], prompt_text(body, is_chat), body)
        refusal = scripted_failure(rule, m) or refusal_for_model(body, m, is_chat, self.cloud)
        if refusal is not None:
            return refusal
        with self._lock:
            pacing = Pacing(self.tokens_per_second, self.first_token_delay, self.prefill_rate)
        return Generation(
            id=rid,
            path=req.path,
            body=body,
            model=m,
            rule=rule,
            pacing=pacing.for_rule(rule),
            thinking="thinking" in m["capabilities"] and body.get("think") is not False,
            arrival=0.0,
            load_s=0.0,
        )

    async def _generate(self, conn: Connection, req: Request, rid: int) -> bool:
        arrival = time.perf_counter()
        try:
            body = decode_body(req.path, req.body)
        except BodyError as exc:
            await conn.send_json(400, {"error": str(exc)})
            self._log.record("error", id=rid, path=req.path, status=400, error="bad request body")
            return True
        accepted = self._accept(req, rid, body)
        if isinstance(accepted, ErrorReply):
            return await self._refuse(conn, req, rid, accepted, str(body.get("model") or ""))
        watch = HangupWatch(conn)
        slot = await self._slots.acquire(watch, lambda position: self._queued(accepted, position))
        if slot is not True:
            watch.close()
            if slot is None:
                return await self._refuse(conn, req, rid, ErrorReply(503, {"error": BUSY_ERROR}))
            self._log.record(
                "disconnect", id=rid, path=req.path, model=accepted.model_name, tokens_sent=0
            )
            return False
        return await self._produce(accepted, conn, watch, arrival)

    def _queued(self, gen: Generation, position: int) -> None:
        self._log.record(
            "queued", id=gen.id, path=gen.path, model=gen.model_name, position=position
        )

    async def _produce(
        self, accepted: Generation, conn: Connection, watch: HangupWatch, arrival: float
    ) -> bool:
        """Produce an accepted generation once it holds a slot; the slot is freed after."""
        model = accepted.model
        load_s = self.load_delay if self._loaded.is_cold(model) else 0.0
        gen = replace(accepted, arrival=arrival, load_s=load_s)
        try:
            return await GenerationAnswer(gen, conn, watch, self._log, self._loaded).run()
        except ConnectionError:
            return False
        finally:
            self._slots.release()
            watch.close()
            self._loaded.keep(model, parse_keep_alive(gen.body.get("keep_alive")))
