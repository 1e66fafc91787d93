"""bench.bench_quality keeps working: three HumanEval problems through the real
`typilot-lsp apply` against the Ollama replay server with scripted replies, and the three-way
comparison (Typilot, verbatim, fences stripped) counted on them. The real-model figures live in
docs/quality.md, not here."""

from __future__ import annotations

import pathlib

import pytest

from bench import bench_quality as bench

# Replies, as a model might send them, for the `body` placement (the gen: line in the body).
FENCED_WITH_PROSE = (
    "```python\n    return number % 1.0\n```\n\nThis returns the decimal part of the number.\n"
)
CLEAN = (
    "    for i, a in enumerate(numbers):\n"
    "        for b in numbers[i + 1:]:\n"
    "            if abs(a - b) < threshold:\n"
    "                return True\n"
    "    return False\n"
)
BROKEN = "    balance = 0\n    for op in operations:\n        balance += op\n    return balance <\n"


def test_three_problems_three_ways(replay_ollama, typilot_home, tmp_path: pathlib.Path) -> None:
    problems = {p.entry_point: p for p in bench.load_problems(5)}
    chosen = [problems["truncate_number"], problems["has_close_elements"], problems["below_zero"]]
    replay_ollama.add_rule(match="truncate_number", reply=FENCED_WITH_PROSE)
    replay_ollama.add_rule(match="has_close_elements", reply=CLEAN)
    replay_ollama.add_rule(match="below_zero", reply=BROKEN)
    cases = [bench.gen_case(p, "body") for p in chosen]
    backend = bench.Backend("ollama", replay_ollama.url, "qwen2.5-coder:1.5b")

    records = bench.run_benchmark(
        cases, backend, [None], tmp_path, progress=False, base_env=typilot_home
    )

    by_task = {r.task_id: r for r in records}
    assert [r.exit_status for r in records] == [0, 0, 0], [r.message for r in records]
    assert all(r.tokens and r.tokens > 0 for r in records)  # the replies came back from history
    typilot = bench.summarize(records, "typilot")
    verbatim = bench.summarize(records, "verbatim")
    fences = bench.summarize(records, "fences")
    # Typilot: the fence and the prose are gone, so the fenced reply passes; the broken one fails.
    assert (typilot.files_with_fence, typilot.prose_lines) == (0, 0)
    assert typilot.pass_at_1 == pytest.approx(2 / 3, abs=0.01)
    assert typilot.parse_rate == pytest.approx(2 / 3, abs=0.01)
    # Verbatim: the fence and the prose land and break the file.
    assert verbatim.files_with_fence == 1 and verbatim.prose_lines >= 1
    assert verbatim.pass_at_1 == pytest.approx(1 / 3, abs=0.01)
    # Fences stripped (gp.nvim): no fence, but the trailing prose still breaks the file.
    assert fences.files_with_fence == 0 and fences.prose_lines >= 1
    assert fences.pass_at_1 == pytest.approx(1 / 3, abs=0.01)
    fenced = by_task[problems["truncate_number"].task_id]
    assert fenced.verdicts["typilot"]["passed"] and not fenced.verdicts["fences"]["parses"]
    table = bench.markdown(records)
    assert "| gen | body | default | typilot | 3 | 67% | 66.7% | 0 | 0 |" in table


def test_every_bug_kind_breaks_a_canonical_solution() -> None:
    problems = bench.load_problems(20)
    chosen = {}
    for index, problem in enumerate(problems):
        found = bench.choose_bug(problem, index, bench.TEST_TIMEOUT_S)
        if found is not None:
            chosen.setdefault(found[1], problem.task_id)
    assert set(chosen) == set(bench.BUG_KINDS)


def test_injected_bugs_are_deterministic_and_touch_code_only() -> None:
    body = '    s = "a < b"\n    if x < 1:\n        return x + 2\n    return True\n'
    assert bench.inject_bug(body, "flip-comparison") == body.replace("x < 1", "x > 1")
    assert bench.inject_bug(body, "wrong-operator") == body.replace("x + 2", "x - 2")
    assert bench.inject_bug(body, "off-by-one") == body.replace("x < 1", "x < 2")
    assert bench.inject_bug(body, "wrong-return") == body.replace(
        "return x + 2", "return not x + 2"
    )
    assert bench.inject_bug("    pass\n", "wrong-operator") is None


def test_prose_and_fences_are_told_from_code() -> None:
    assert bench.is_prose("This function returns the sum of the two numbers.")
    assert not bench.is_prose("    return a + b")
    assert not bench.is_prose("# This is a comment about the code below")
    assert not bench.is_prose("print(add(2, 3))")
    assert bench.is_fence("```python") and not bench.is_fence("x = 1")


def test_fix_case_replaces_prefix_line_and_function() -> None:
    problem = bench.load_problems(3)[2]
    case = bench.fix_case(problem, "    return number\n", "wrong-return")
    lines = case.text.splitlines()
    assert lines[case.prefix_line].startswith("# fix: ")
    assert lines[case.target_end] == "    return number"
    inserted = bench.insert_reply(
        case, "def truncate_number(x):\n    return x % 1.0", strip_fences=False
    )
    assert "# fix:" not in inserted and inserted.endswith("return x % 1.0\n")
