"""JavaScript: ES `import`, CommonJS `require`, re-exports and barrels, resolved like Node."""

from __future__ import annotations

from pathlib import Path

from tests.context.workspace import by_name, gather, recorded_reads, write_tree
from typilot_lsp.context.model import DefinitionKind, Rank


def test_named_default_and_namespace_imports(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "lib/math.js": (
                "/** The sum of xs. */\n"
                "export function sum(xs) {\n  return xs.reduce((a, b) => a + b, 0);\n}\n\n"
                "export const mean = (xs) => sum(xs) / xs.length;\n"
            ),
            "lib/logger.js": "export default class Logger {\n  info(msg) {\n"
            "    console.log(msg);\n  }\n}\n",
            "lib/strings.js": "export function pad(s, n) {\n  return s.padStart(n);\n}\n",
            "main.js": (
                "import Logger from './lib/logger.js';\n"
                "import { mean as average } from './lib/math';\n"
                "import * as strings from './lib/strings';\n\n"
                "const log = new Logger();\n"
                "// gen: log the average of the scores, padded with strings.pad\n"
                "log.info(strings.pad(String(average(scores)), 8));\n"
            ),
        },
    )
    found = by_name(gather(tmp_path, "main.js"))
    assert found["mean"].kind is DefinitionKind.FUNCTION and found["mean"].rank is Rank.DIRECT
    assert found["pad"].path == "lib/strings.js"
    assert found["Logger"].kind is DefinitionKind.CLASS and "info(msg)" in found["Logger"].text


def test_require_and_commonjs_exports(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "db.js": (
                "function connect(url, { retries = 3 } = {}) {\n  return { url, retries };\n}\n"
                "exports.connect = connect;\n"
                "module.exports.close = function close(conn) {\n  conn.closed = true;\n};\n"
            ),
            "server.js": (
                "const { connect: open } = require('./db');\n"
                "const db = require('./db');\n\n"
                "// gen: open the database at DB_URL with 5 retries, close it on exit\n"
                "const conn = open(process.env.DB_URL);\n"
                "process.on('exit', () => db.close(conn));\n"
            ),
        },
    )
    found = by_name(gather(tmp_path, "server.js"))
    assert "retries = 3" in found["connect"].text
    assert "conn.closed = true" in found["close"].text


def test_a_barrel_index_and_export_star_are_followed(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "utils/index.js": "export * from './dates';\nexport { slug as toSlug } from './text';\n",
            "utils/dates.js": "export function isoDay(d) {\n  return d.toISOString().slice(0, 10);\n}\n",
            "utils/text.js": "export function slug(s) {\n  return s.toLowerCase();\n}\n",
            "page.js": (
                "import { isoDay, toSlug } from './utils';\n\n"
                "// gen: the path /<isoDay(date)>/<toSlug(title)>\n"
            ),
        },
    )
    found = by_name(gather(tmp_path, "page.js"))
    assert found["isoDay"].path == "utils/dates.js"
    assert found["slug"].path == "utils/text.js"


def test_packages_from_node_modules_are_never_read(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "node_modules/leftpad/index.js": "module.exports = function leftpad() {};\n",
            "main.js": "import leftpad from 'leftpad';\n// gen: leftpad the id\n",
        },
    )
    with recorded_reads() as reads:
        result = gather(tmp_path, "main.js")
    assert result.definitions == ()
    assert not [path for _event, path in reads if "node_modules" in path]


def test_jsx_components_from_other_files(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "Button.jsx": (
                "export function Button({ label, onClick, disabled = false }) {\n"
                "  return <button onClick={onClick} disabled={disabled}>{label}</button>;\n}\n"
            ),
            "Form.jsx": (
                "import { Button } from './Button';\n\n"
                "export function Form() {\n"
                "  // gen: a Button labelled Save that calls save\n"
                "  return <form><Button label='Cancel' /></form>;\n}\n"
            ),
        },
    )
    button = by_name(gather(tmp_path, "Form.jsx"))["Button"]
    assert "disabled = false" in button.text and button.rank is Rank.DIRECT


def test_module_exports_an_object_or_one_function(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "fmt.js": (
                "function money(cents) {\n  return (cents / 100).toFixed(2);\n}\n"
                "function percent(x) {\n  return `${Math.round(x * 100)}%`;\n}\n"
                "module.exports = { money, pct: percent };\n"
            ),
            "log.js": "module.exports = function log(level, message) {\n"
            "  console.error(`[${level}] ${message}`);\n};\n",
            "report.js": (
                "const { money, pct } = require('./fmt');\n"
                "const log = require('./log');\n\n"
                "// gen: log at level info the money of total and pct of share\n"
                "log('info', money(total) + pct(share));\n"
            ),
        },
    )
    found = by_name(gather(tmp_path, "report.js"))
    assert "toFixed(2)" in found["money"].text
    assert "Math.round" in found["percent"].text
    assert "console.error" in found["default"].text and found["default"].path == "log.js"
