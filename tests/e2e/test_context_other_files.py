"""Context from other files through the real server: the prompt the model gets holds the
definition the code uses from another file, from its open buffer as edited (unsaved), and
nothing from a secret file of the workspace; the prewarm sends the same head."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.context.workspace import write_tree
from tests.e2e.harness import Doc, Editor, editor_session, server_env
from tests.replay.ollama import ReplayOllama

ON_DISK = "export function formatPrice(cents) {\n  return `$${cents / 100}`;\n}\n"
EDITED = (
    "/** Cents as a price in `currency`: formatPrice(250, 'EUR') is '2.50 EUR'. */\n"
    "export function formatPrice(cents, currency = 'USD') {\n"
    "  return `${(cents / 100).toFixed(2)} ${currency}`;\n"
    "}\n"
)
SIGNATURE = "export function formatPrice(cents, currency = 'USD') {"
CART = (
    "import { formatPrice } from './money.js';\n\n"
    "export function total(items) {\n"
    "  // gen: the sum of item.cents, formatted in EUR\n"
    "}\n"
)
REPLY = "  return formatPrice(items.reduce((sum, item) => sum + item.cents, 0), 'EUR');\n"
FIX_CART = (
    "import { formatPrice } from './money.js';\n\n"
    "// fix: format the total in EUR\n"
    "export function total(items) {\n"
    "  return items.length;\n"
    "}\n"
)
FIXED = "export function total(items) {\n" + REPLY + "}\n"


def generations(replay: ReplayOllama) -> list[dict[str, Any]]:
    return [e["body"] for e in replay.generation_requests()]


def open_workspace(editor: Editor, workspace: Path, source: str) -> Doc:
    editor.open("money.js", EDITED, "javascript", folder=workspace)  # unsaved: the disk differs
    return editor.open("cart.js", source, "javascript", folder=workspace)


async def run_cart(editor: Editor, workspace: Path, source: str = CART, line: int = 3) -> None:
    cart = open_workspace(editor, workspace, source)
    await editor.run_line(cart, line)
    await editor.wait_runs_done()
    assert "formatPrice(items.reduce" in cart.text


async def test_the_prompt_holds_the_definition_from_an_unsaved_open_buffer(
    replay_ollama: ReplayOllama, typilot_home: dict[str, str], tmp_path: Path
) -> None:
    write_tree(
        tmp_path,
        {"money.js": ON_DISK, "cart.js": CART, ".env.js": "export const TOKEN = 'hunter2';\n"},
    )
    replay_ollama.add_rule(match="formatted in EUR", reply=REPLY)
    env = server_env(typilot_home, replay_ollama.url)
    async with editor_session(env, workspace_folders=[tmp_path]) as editor:
        await run_cart(editor, tmp_path)
    sent = json.dumps(generations(replay_ollama)[-1])
    assert json.dumps(SIGNATURE)[1:-1] in sent
    assert json.dumps("Cents as a price in `currency`")[1:-1] in sent
    assert json.dumps("return `$${cents / 100}`;")[1:-1] not in sent  # the disk's text lost
    assert "hunter2" not in sent


async def test_a_fix_prompt_holds_it_in_its_head(
    replay_ollama: ReplayOllama, typilot_home: dict[str, str], tmp_path: Path
) -> None:
    write_tree(tmp_path, {"money.js": ON_DISK, "cart.js": FIX_CART})
    replay_ollama.add_rule(match="format the total in EUR", reply=FIXED)
    env = server_env(typilot_home, replay_ollama.url)
    async with editor_session(env, workspace_folders=[tmp_path]) as editor:
        await run_cart(editor, tmp_path, FIX_CART, 2)
    run = generations(replay_ollama)[-1]
    user = [m["content"] for m in run["messages"] if m["role"] == "user"][-1]
    head = user.split("Code before it:", 1)[0]  # the stable head, before this file's code
    assert "// From money.js\n/** Cents as a price" in head and SIGNATURE in head


async def test_the_prewarm_sends_the_same_definitions_as_the_run(
    replay_ollama: ReplayOllama, typilot_home: dict[str, str], tmp_path: Path
) -> None:
    write_tree(tmp_path, {"money.js": ON_DISK, "cart.js": CART})
    replay_ollama.add_rule(match="formatted in EUR", reply=REPLY)
    env = server_env(typilot_home, replay_ollama.url)
    async with editor_session(env, workspace_folders=[tmp_path]) as editor:
        cart = open_workspace(editor, tmp_path, CART.replace("formatted in EUR", ""))
        offset = cart.text.index("item.cents, ") + len("item.cents, ")
        for char in "formatted in EUR":  # the instruction typed key by key
            editor.type_at(cart, offset, char)
            offset += 1
        await editor.wait_until(lambda: len(generations(replay_ollama)) == 1)
        await editor.run_line(cart, 3)
        await editor.wait_runs_done()
    warm, run = generations(replay_ollama)[0], generations(replay_ollama)[-1]
    assert warm["options"]["num_predict"] == 1 and SIGNATURE in warm["prompt"]
    assert (run["prompt"], run["suffix"]) == (warm["prompt"], warm["suffix"])


async def test_context_other_files_false_sends_the_file_alone(
    replay_ollama: ReplayOllama, typilot_home: dict[str, str], tmp_path: Path
) -> None:
    write_tree(tmp_path, {"money.js": ON_DISK, "cart.js": CART})
    replay_ollama.add_rule(match="formatted in EUR", reply=REPLY)
    env = server_env(typilot_home, replay_ollama.url)
    settings = {"context": {"otherFiles": False}}
    async with editor_session(env, settings, workspace_folders=[tmp_path]) as editor:
        await run_cart(editor, tmp_path)
    sent = json.dumps(generations(replay_ollama)[-1])
    assert "currency = 'USD'" not in sent and "Cents as a price" not in sent
