"""TypeScript: interfaces, types, enums and classes, imported the ways TypeScript resolves."""

from __future__ import annotations

from pathlib import Path

from tests.context.workspace import by_name, gather, write_tree
from typilot_lsp.context.model import DefinitionKind, Rank

MODELS = (
    "export enum Role {\n  Admin = 'admin',\n  Member = 'member',\n}\n\n"
    "export type Id = number;\n\n"
    "export interface Account {\n  id: Id;\n  role: Role;\n  owner: Person;\n}\n\n"
    "interface Person {\n  name: string;\n}\n"
)


def test_types_named_by_a_signature_come_with_what_they_name(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "src/models.ts": MODELS,
            "src/admin.ts": (
                "import { Account, Role } from './models';\n\n"
                "export function isAdmin(account: Account): boolean {\n"
                "  // gen: whether the account's role is Role.Admin\n"
                "}\n"
            ),
        },
    )
    found = by_name(gather(tmp_path, "src/admin.ts"))
    assert found["Account"].kind is DefinitionKind.INTERFACE
    assert found["Account"].rank is Rank.DIRECT
    assert found["Role"].kind is DefinitionKind.ENUM and "Admin = 'admin'" in found["Role"].text
    # Account's fields name Id and Person: the model sees what they are too.
    assert found["Id"].kind is DefinitionKind.TYPE and found["Id"].rank is Rank.INDIRECT
    assert "name: string" in found["Person"].text


def test_an_esm_import_written_with_js_finds_the_ts_file(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "src/models.ts": MODELS,
            "src/ids.ts": "import type { Id } from './models.js';\n// gen: parse an Id\n",
        },
    )
    assert by_name(gather(tmp_path, "src/ids.ts"))["Id"].path == "src/models.ts"


def test_a_class_implementing_an_interface_and_a_namespace_import(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "store.ts": (
                "export interface Store<T> {\n  get(key: string): T | undefined;\n"
                "  set(key: string, value: T): void;\n}\n\n"
                "export class MemoryStore<T> implements Store<T> {\n"
                "  private items = new Map<string, T>();\n"
                "  get(key: string): T | undefined {\n    return this.items.get(key);\n  }\n"
                "  set(key: string, value: T): void {\n    this.items.set(key, value);\n  }\n}\n"
            ),
            "cache.ts": (
                "import * as stores from './store';\n\n"
                "export function cached(store: stores.Store<number>, key: string): number {\n"
                "  // gen: the stored value, or compute(key) stored and returned\n"
                "}\n"
            ),
        },
    )
    found = by_name(gather(tmp_path, "cache.ts"))
    assert found["Store"].kind is DefinitionKind.INTERFACE
    assert "set(key: string, value: T): void;" in found["Store"].text


def test_tsx_imports_a_props_type(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "props.ts": "export type CardProps = { title: string; subtitle?: string };\n",
            "Card.tsx": (
                "import type { CardProps } from './props';\n\n"
                "export function Card(props: CardProps) {\n"
                "  // gen: an <h2> with the title and a <p> with the subtitle if any\n"
                "}\n"
            ),
        },
    )
    props = by_name(gather(tmp_path, "Card.tsx"))["CardProps"]
    assert "subtitle?: string" in props.text and props.language == "typescript"


def test_a_declaration_file_is_found(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "legacy.d.ts": "export declare function legacyHash(input: string): number;\n",
            "use.ts": "import { legacyHash } from './legacy';\n// gen: legacyHash of the name\n",
        },
    )
    found = by_name(gather(tmp_path, "use.ts"))
    assert "legacyHash(input: string): number" in found["legacyHash"].text
