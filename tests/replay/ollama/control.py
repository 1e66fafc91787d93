"""The control API under ``/_replay/``, through which a test in another process (an editor's
test suite) scripts the server and reads its event log:

- ``POST /_replay/rules`` (a rule object or a list) -> ``{"rules": N}``; ``GET`` lists them,
  ``DELETE`` clears them;
- ``GET /_replay/events[?kind=K&since=I]`` -> ``{"events": [...]}``;
- ``GET /_replay/wait?kind=K[&path=P&timeout=S&since=I]`` -> the first matching event, or 408;
- ``POST /_replay/reset``; ``POST /_replay/models`` (``{"models": [...]}``);
- ``GET|POST /_replay/settings`` (``cloud``, ``tokens_per_second``, ``first_token_delay``,
  ``prefill_rate``, ``load_delay``, ``num_parallel``, ``max_queue``, ``version``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from tests.replay.ollama.connection import Connection, Request
from tests.replay.ollama.rules import Rule

if TYPE_CHECKING:
    from tests.replay.ollama.server import ReplayOllama

Answer = tuple[int, Any]
Handler = Callable[["ReplayOllama", Request, Any], Awaitable[Answer]]


async def _add_rules(server: ReplayOllama, req: Request, data: Any) -> Answer:
    items: list[Any] = data if isinstance(data, list) else [data]
    for item in items:
        server.add_rule(Rule.from_dict(item))
    return 200, {"rules": len(server.rules)}


async def _list_rules(server: ReplayOllama, req: Request, data: Any) -> Answer:
    return 200, {"rules": [r.to_dict() for r in server.rules]}


async def _clear_rules(server: ReplayOllama, req: Request, data: Any) -> Answer:
    server.clear_rules()
    return 200, {"rules": 0}


async def _events(server: ReplayOllama, req: Request, data: Any) -> Answer:
    since = int(req.query.get("since", "0"))
    kind = req.query.get("kind")
    events = [e for e in server.events[since:] if kind is None or e["kind"] == kind]
    return 200, {"events": events}


async def _wait(server: ReplayOllama, req: Request, data: Any) -> Answer:
    want_path = req.query.get("path")
    try:
        event = await server.wait_for_async(
            req.query.get("kind", "complete"),
            (lambda e: e.get("path") == want_path) if want_path else None,
            float(req.query.get("timeout", "10")),
            since=int(req.query.get("since", "0")),
        )
    except TimeoutError as exc:
        return 408, {"error": str(exc)}
    return 200, event


async def _reset(server: ReplayOllama, req: Request, data: Any) -> Answer:
    server.reset()
    return 200, {"ok": True}


async def _set_models(server: ReplayOllama, req: Request, data: Any) -> Answer:
    models = data.get("models") if isinstance(data, dict) else data
    if not isinstance(models, list):
        raise ValueError('expected {"models": [...]}')
    server.set_models(models)
    return 200, {"models": [m["name"] for m in server.models]}


async def _configure(server: ReplayOllama, req: Request, data: Any) -> Answer:
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object of settings")
    server.configure(**data)
    return 200, server.settings()


async def _settings(server: ReplayOllama, req: Request, data: Any) -> Answer:
    return 200, server.settings()


ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "/_replay/rules"): _add_rules,
    ("GET", "/_replay/rules"): _list_rules,
    ("DELETE", "/_replay/rules"): _clear_rules,
    ("GET", "/_replay/events"): _events,
    ("GET", "/_replay/wait"): _wait,
    ("POST", "/_replay/reset"): _reset,
    ("POST", "/_replay/models"): _set_models,
    ("POST", "/_replay/settings"): _configure,
    ("GET", "/_replay/settings"): _settings,
}


async def answer_control(server: ReplayOllama, conn: Connection, req: Request) -> None:
    """Answer one ``/_replay/`` request; a bad body or value is a 400 that names it."""
    try:
        data = json.loads(req.body) if req.body.strip() else None
    except json.JSONDecodeError as exc:
        await conn.send_json(400, {"error": f"invalid JSON: {exc}"})
        return
    handler = ROUTES.get((req.method, req.path))
    if handler is None:
        await conn.send_json(404, {"error": f"no control endpoint {req.method} {req.path}"})
        return
    try:
        status, body = await handler(server, req, data)
    except (ValueError, TypeError) as exc:
        status, body = 400, {"error": str(exc)}
    await conn.send_json(status, body)
