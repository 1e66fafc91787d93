"""Context from other files through the real server: the prompt the model gets holds the
definition the code uses from another file, from its open buffer as edited (unsaved), and
nothing from a secret file of the workspace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.context.workspace import write_tree
from tests.e2e.harness import Editor, server_env, start_editor, stop_editor

ON_DISK = "export function formatPrice(cents) {\n  return `$${cents / 100}`;\n}\n"
EDITED = (
    "/** Cents as a price in `currency`: formatPrice(250, 'EUR') is '2.50 EUR'. */\n"
    "export function formatPrice(cents, currency = 'USD') {\n"
    "  return `${(cents / 100).toFixed(2)} ${currency}`;\n"
    "}\n"
)
CART = (
    "import { formatPrice } from './money.js';\n\n"
    "export function total(items) {\n"
    "  // gen: the sum of item.cents, formatted in EUR\n"
    "}\n"
)
REPLY = "  return formatPrice(items.reduce((sum, item) => sum + item.cents, 0), 'EUR');\n"


def model_requests(replay_ollama: Any) -> list[str]:
    """Every generating request's body as the model server got it."""
    return [
        json.dumps(event["body"])
        for event in replay_ollama.events
        if event["kind"] == "request" and event["path"] in ("/api/chat", "/api/generate")
    ]


async def run_cart(session: Editor, workspace: Path, source: str = CART, line: int = 3) -> None:
    session.open("money.js", EDITED, "javascript", folder=workspace)  # unsaved: the disk differs
    cart = session.open("cart.js", source, "javascript", folder=workspace)
    actions = await session.code_actions(cart, line)
    await session.execute(actions[0].command)
    await session.wait_runs_done()
    assert "formatPrice(items.reduce" in cart.text


async def test_the_prompt_holds_the_definition_from_an_unsaved_open_buffer(
    replay_ollama: Any, typilot_home: dict[str, str], tmp_path: Path
) -> None:
    write_tree(
        tmp_path,
        {"money.js": ON_DISK, "cart.js": CART, ".env.js": "export const TOKEN = 'hunter2';\n"},
    )
    replay_ollama.add_rule(match="formatted in EUR", reply=REPLY)
    env = server_env(typilot_home, replay_ollama.url)
    session = await start_editor(env, workspace_folders=[tmp_path])
    try:
        await run_cart(session, tmp_path)
    finally:
        await stop_editor(session)
    sent = model_requests(replay_ollama)[-1]
    assert json.dumps("export function formatPrice(cents, currency = 'USD') {")[1:-1] in sent
    assert json.dumps("Cents as a price in `currency`")[1:-1] in sent
    assert json.dumps("return `$${cents / 100}`;")[1:-1] not in sent  # the disk's text lost
    assert "hunter2" not in sent


FIX_CART = (
    "import { formatPrice } from './money.js';\n\n"
    "// fix: format the total in EUR\n"
    "export function total(items) {\n"
    "  return items.length;\n"
    "}\n"
)
FIXED = (
    "export function total(items) {\n"
    "  return formatPrice(items.reduce((sum, item) => sum + item.cents, 0), 'EUR');\n"
    "}\n"
)


async def test_a_fix_prompt_holds_it_in_its_head(
    replay_ollama: Any, typilot_home: dict[str, str], tmp_path: Path
) -> None:
    write_tree(tmp_path, {"money.js": ON_DISK, "cart.js": FIX_CART})
    replay_ollama.add_rule(match="format the total in EUR", reply=FIXED)
    env = server_env(typilot_home, replay_ollama.url)
    session = await start_editor(env, workspace_folders=[tmp_path])
    try:
        await run_cart(session, tmp_path, FIX_CART, 2)
    finally:
        await stop_editor(session)
    sent = json.loads(model_requests(replay_ollama)[-1])
    user = [m["content"] for m in sent["messages"] if m["role"] == "user"][-1]
    head = user.split("Code before it:", 1)[0]  # the stable head, before this file's code
    assert "// From money.js\n/** Cents as a price" in head
    assert "export function formatPrice(cents, currency = 'USD') {" in head


async def test_context_other_files_false_sends_the_file_alone(
    replay_ollama: Any, typilot_home: dict[str, str], tmp_path: Path
) -> None:
    write_tree(tmp_path, {"money.js": ON_DISK, "cart.js": CART})
    replay_ollama.add_rule(match="formatted in EUR", reply=REPLY)
    env = server_env(typilot_home, replay_ollama.url)
    settings = {"context": {"otherFiles": False}}
    session = await start_editor(env, settings, workspace_folders=[tmp_path])
    try:
        await run_cart(session, tmp_path)
    finally:
        await stop_editor(session)
    sent = model_requests(replay_ollama)[-1]
    assert "currency = 'USD'" not in sent and "Cents as a price" not in sent
