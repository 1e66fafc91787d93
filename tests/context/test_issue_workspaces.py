"""The five workspaces of issue 25: in each, the definition the code uses from another file
is found (0 of 5 before), from the buffer as edited where one is open."""

from __future__ import annotations

from pathlib import Path

from tests.context.workspace import SHOP, by_name, gather, write_tree
from typilot_lsp.context.model import DefinitionKind, Rank
from typilot_lsp.context.render import definitions_text, within_budget


def test_python_function_from_a_sibling_module_that_is_not_open(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "slugs.py": (
                "import re\n\n\n"
                "def slugify(title: str, *, max_length: int = 40, sep: str = '-') -> str:\n"
                '    """Lower-case `title`, words joined by `sep`, at most `max_length` long."""\n'
                "    words = re.findall(r'[a-z0-9]+', title.lower())\n"
                "    return sep.join(words)[:max_length]\n"
            ),
            "posts.py": (
                "from slugs import slugify\n\n\n"
                "def post_url(title):\n"
                "    # gen: the URL /posts/<slug>/ of the title, slugs at most 30 long\n"
            ),
        },
    )
    found = by_name(gather(tmp_path, "posts.py"))
    slugify = found["slugify"]
    assert slugify.path == "slugs.py" and slugify.kind is DefinitionKind.FUNCTION
    assert "max_length: int = 40" in slugify.text and "Lower-case" in slugify.text
    # The code does not call it yet: the import alone names it, so it ranks last.
    assert slugify.rank is Rank.IMPORTED and not slugify.from_buffer


def test_javascript_import_from_a_file_open_with_unsaved_changes(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "money.js": "export function formatPrice(cents) {\n  return `$${cents / 100}`;\n}\n",
            "cart.js": (
                "import { formatPrice } from './money';\n\n"
                "export function total(items) {\n"
                "  // gen: the sum of item.cents, formatted\n"
                "}\n"
            ),
        },
    )
    edited = (
        "/** Cents as a price in `currency`, e.g. formatPrice(250, 'EUR') is '2.50 EUR'. */\n"
        "export function formatPrice(cents, currency = 'USD') {\n"
        "  return `${(cents / 100).toFixed(2)} ${currency}`;\n"
        "}\n"
    )
    result = gather(tmp_path, "cart.js", open_files={"money.js": edited})
    price = by_name(result)["formatPrice"]
    assert price.from_buffer
    assert "currency = 'USD'" in price.text and "Cents as a price" in price.text
    assert "$${cents / 100}" not in price.text  # the disk's older text lost


def test_fix_of_a_python_function_using_a_class_from_another_module(tmp_path: Path) -> None:
    write_tree(tmp_path, SHOP)
    found = by_name(gather(tmp_path, "shop/report.py"))
    item = found["StockItem"]
    assert item.path == "shop/inventory.py" and item.rank is Rank.DIRECT
    assert "self.quantity = quantity" in item.text and "self.unit_price" in item.text
    assert "def value(self) -> float" in item.text


def test_go_method_defined_in_another_file_of_the_package(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "go.mod": "module example.com/cache\n\ngo 1.21\n",
            "cache/cache.go": (
                "package cache\n\n"
                "// Cache holds values until they expire.\n"
                "type Cache struct {\n\tentries map[string]entry\n}\n\n"
                "type entry struct {\n\tvalue string\n\texpires int64\n}\n"
            ),
            "cache/lookup.go": (
                "package cache\n\n"
                "// Lookup returns the value of key and whether it was there at time now.\n"
                "func (c *Cache) Lookup(key string, now int64) (string, bool) {\n"
                "\te, ok := c.entries[key]\n"
                '\tif !ok || e.expires < now {\n\t\treturn "", false\n\t}\n'
                "\treturn e.value, true\n}\n"
            ),
            "cache/warm.go": (
                "package cache\n\n"
                "func Warm(c *Cache, keys []string, now int64) int {\n"
                "\t// gen: count the keys whose value c.Lookup finds\n"
                "\treturn 0\n}\n"
            ),
        },
    )
    found = by_name(gather(tmp_path, "cache/warm.go"))
    cache = found["Cache"]
    assert cache.kind is DefinitionKind.STRUCT and cache.path == "cache/cache.go"
    assert "func (c *Cache) Lookup(key string, now int64) (string, bool)" in cache.text
    assert cache.rank is Rank.DIRECT


def test_typescript_interface_imported_from_another_file(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "src/types.ts": (
                "/** A user of the service. */\n"
                "export interface User {\n"
                "  id: number;\n"
                "  displayName: string;\n"
                "  email?: string;\n"
                "}\n"
            ),
            "src/greet.ts": (
                "import type { User } from './types';\n\n"
                "export function greeting(user: User): string {\n"
                "  // gen: 'Hello, ' and the user's display name\n"
                "}\n"
            ),
        },
    )
    found = by_name(gather(tmp_path, "src/greet.ts"))
    user = found["User"]
    assert user.kind is DefinitionKind.INTERFACE and user.language == "typescript"
    assert "displayName: string;" in user.text and "A user of the service" in user.text


def test_the_prompt_text_names_each_file_and_stays_in_its_budget(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "a.py": "def alpha(x: int) -> int:\n    return x + 1\n",
            "b.py": "def beta(y: str) -> str:\n    return y * 2\n",
            "main.py": "from a import alpha\nfrom b import beta\n# gen: alpha of beta\n",
        },
    )
    definitions = gather(tmp_path, "main.py").definitions
    text = definitions_text(definitions)
    assert "# From a.py\ndef alpha" in text and "# From b.py\ndef beta" in text
    one = within_budget(definitions, len(text) // 2 + 5)
    assert len(one) == 1 and one[0].name == "alpha"
    assert within_budget(definitions, 0) == []
