"""bench.bench_realistic keeps working: two of its files through the real `typilot-lsp apply`
against the Ollama replay server, with replies shaped like SmolLM2's (a `gen:` reply that writes
again a function the file has, a `sum:` reply in one long line). What lands has neither; the raw
replies are counted with both. The real-model figures live in docs/quality.md."""

from __future__ import annotations

import pathlib

from bench import bench_realistic as bench

LONG_SUMMARY = (
    "This function takes the list and walks over every entry, updating the matching one and "
    "returning it, or raising an error when nothing matches, which callers must handle.\n"
)
GEN_PY = (
    "def total_value(items: list[Item]) -> int:\n"
    "    return sum(item.quantity * item.price_cents for item in items)\n\n\n"
    "def low_stock(items: list[Item], threshold: int = 5) -> list[Item]:\n"
    "    return [item for item in items if item.quantity < threshold]\n"
)
GEN_JS = (
    "function applyDiscount(lines, code) {\n"
    "  if (code !== 'SAVE10') return lines;\n"
    "  return lines.map((line) => ({ ...line, price: line.price * 0.9 }));\n"
    "}\n\n"
    "function tax(amount) {\n"
    "  return Math.round(amount * TAX_RATE * 100) / 100;\n"
    "}\n"
)


def test_repeats_and_wide_comments_counted_raw_and_landed(
    replay_ollama, typilot_home, tmp_path: pathlib.Path
) -> None:
    replay_ollama.add_rule(match="total_value", reply=GEN_PY)
    replay_ollama.add_rule(match="applyDiscount", reply=GEN_JS)
    replay_ollama.add_rule(match="Code to summarize", reply=LONG_SUMMARY)
    files = {name: bench.FILES[name] for name in ("inventory.py", "cart.js")}
    backend = bench.Backend("ollama", replay_ollama.url, "qwen2.5-coder:1.5b")

    runs = bench.run_files(files, backend, tmp_path, progress=False, base_env=typilot_home)

    assert sorted((r.file, r.command) for r in runs) == [
        ("cart.js", "gen"),
        ("cart.js", "sum"),
        ("inventory.py", "gen"),
        ("inventory.py", "sum"),
    ]
    for run in runs:
        if run.command == "gen":
            assert (run.repeats_raw, run.repeats_landed) == (1, 0), run
        else:
            assert run.wide_raw and run.wide_raw >= 1 and run.wide_landed == 0, run
    inventory = (tmp_path / "inventory.py").read_text()
    assert "def total_value(" in inventory and inventory.count("def low_stock(") == 1
    assert all(len(line) <= 80 for line in inventory.splitlines() if line.startswith("#"))
    cart = (tmp_path / "cart.js").read_text()
    assert "function applyDiscount(" in cart and cart.count("function tax(") == 1
    assert "repeated definitions 2 raw → 0 landed" in bench.markdown(runs)


def test_names_and_added_lines() -> None:
    assert bench.top_level_names(bench.FILES["wordcount.go"]) == ["Count", "Unique", "Longest"]
    assert bench.top_level_names(bench.FILES["debounce.js"]) == ["debounce", "once", "sleep"]
    assert bench.added("a\nb\nb\n", "a\nb\nx\nb\nb\n") == ["x", "b"]


def test_cache_runs_record_both_runs_of_one_file(
    replay_ollama, typilot_home, tmp_path: pathlib.Path
) -> None:
    replay_ollama.add_rule(
        match="cheapest",
        reply="def cheapest(items):\n    return min(items, key=lambda i: i.price_cents)\n",
    )
    replay_ollama.add_rule(
        match="most_valuable",
        reply="def most_valuable(items):\n    return max(items, key=lambda i: i.quantity * i.price_cents)\n",
    )
    backend = bench.Backend("ollama", replay_ollama.url, "qwen2.5-coder:1.5b")

    rows = bench.cache_runs(backend, tmp_path, base_env=typilot_home)

    assert [(r["cache_prompt"], r["run"]) for r in rows] == [(True, 1), (True, 2)]
    assert all(isinstance(r["first_token_ms"], float) for r in rows)
    text = (tmp_path / "cache-on" / "inventory.py").read_text()
    assert "def cheapest(" in text and "def most_valuable(" in text
    assert "| on | 2 |" in bench.cache_markdown(rows)


def test_budget_runs_one_row_per_budget(
    replay_ollama, typilot_home, tmp_path: pathlib.Path
) -> None:
    replay_ollama.add_rule(match="still streaming", reply="def streaming(runs):\n    return 0\n")
    backend = bench.Backend("ollama", replay_ollama.url, "qwen2.5-coder:1.5b")

    rows = bench.budget_runs(backend, tmp_path, base_env=typilot_home)

    assert [r["budget"] for r in rows] == list(bench.BUDGETS)
    assert all(isinstance(r["first_token_ms"], float) for r in rows)
    assert "def streaming(" in (tmp_path / "budget-500" / "manager.py").read_text()
    assert "| 8000 |" in bench.budget_markdown(rows)
