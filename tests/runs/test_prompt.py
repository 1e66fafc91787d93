"""The prompt builder (typilot_lsp.runs.prompt): what each command asks, within the budget."""

from __future__ import annotations

from typilot_lsp.documents import split_lines
from typilot_lsp.prefixes import Mode
from typilot_lsp.runs.prompt import (
    CURSOR,
    SYSTEM_COMMENT,
    PromptInput,
    build_fim,
    build_prompt,
    context_budget,
)

SOURCE = "import math\n\n# gen: area of a circle\n\nprint(area(2))\n"


def prompt_input(**kw: object) -> PromptInput:
    values: dict[str, object] = {
        "command": "gen",
        "mode": Mode.INSERT,
        "instruction": "area of a circle",
        "language_id": "python",
        "file_name": "shapes.py",
        "lines": split_lines(SOURCE),
        "prefix_line": 2,
        "target": None,
    }
    values.update(kw)
    return PromptInput(**values)  # type: ignore[arg-type]


def test_gen_asks_for_code_at_the_cursor_with_the_code_around_it() -> None:
    system, user = build_prompt(prompt_input(), 10_000)
    assert "python" in system
    assert "File: shapes.py" in user
    assert f"import math\n\n{CURSOR}\n\nprint(area(2))" in user
    assert "area of a circle" in user
    assert "# gen:" not in user  # the prefix line itself is replaced by the cursor


def test_fix_sends_the_target_whole_and_sum_asks_for_sentences() -> None:
    lines = split_lines("# fix: zero\ndef inv(x):\n    return 1 / x\n")
    target = "def inv(x):\n    return 1 / x\n"
    _, fix = build_prompt(
        prompt_input(
            command="fix",
            mode=Mode.REPLACE,
            instruction="zero",
            lines=lines,
            prefix_line=0,
            target=(1, 2),
            target_text=target,
        ),
        20,  # smaller than the target: a fix still gets all of it
    )
    assert f"Code to fix:\n{target}" in fix
    system, summary = build_prompt(
        prompt_input(
            command="sum",
            mode=Mode.COMMENT,
            instruction="",
            lines=lines,
            prefix_line=0,
            target=(1, 2),
            target_text=target,
        ),
        10_000,
    )
    assert system == SYSTEM_COMMENT
    assert "Summarize what this code does" in summary


def test_the_surrounding_code_is_cut_to_the_budget_nearest_lines_first() -> None:
    lines = split_lines("".join(f"line_{n} = {n}\n" for n in range(100)) + "# gen: x\n")
    _, user = build_prompt(prompt_input(lines=lines, prefix_line=100), 60)
    assert "line_99 = 99" in user and "line_0 = 0" not in user


def test_a_user_template_fills_its_fields_and_keeps_unknown_ones() -> None:
    _, user = build_prompt(
        prompt_input(user_template="Write tests for {code} in {language} ({unknown})"),
        10_000,
    )
    assert user.endswith("Write tests for  in python ({unknown})")


def test_context_budget_is_the_smaller_of_the_setting_and_half_the_window() -> None:
    assert context_budget(100_000, 4096, None) == 4096 * 3 // 2
    assert context_budget(1000, 32768, None) == 1000
    assert context_budget(100_000, 32768, 2048) == 2048 * 3 // 2


# -- a prompt whose start stays put (the model server's prompt cache reuses it) ----------------


def module(functions: int) -> list[str]:
    """A module of small top-level functions, each after a blank line."""
    lines = ["import math\n"]
    for i in range(functions):
        lines += ["\n", f"def f_{i}(x):\n", f"    return x + {i}\n"]
    return lines


def common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def gen_at(lines: list[str], line: int, instruction: str = "area of a circle") -> str:
    _system, user = build_prompt(
        prompt_input(lines=lines, prefix_line=line, instruction=instruction), 600
    )
    return user


def test_the_code_above_starts_at_a_top_level_boundary_within_its_share() -> None:
    lines = module(60)
    prefix = 120
    lines.insert(prefix, "# gen: area of a circle\n")
    user = gen_at(lines, prefix)
    code = user.split("Language: python\n\n", 1)[1]
    assert code.startswith("def f_"), code[:40]  # a whole definition, not the middle of one
    assert len(code.split(CURSOR)[0]) <= 600 * 2 // 3


def test_typing_the_instruction_changes_only_the_prompt_tail() -> None:
    lines = module(60)
    lines.insert(120, "# gen: area\n")
    short, longer = gen_at(lines, 120, "area"), gen_at(lines, 120, "area of a circle")
    shared = common_prefix(short, longer)
    assert CURSOR in shared and shared.endswith("area")  # everything up to the instruction


def test_edits_below_the_prefix_line_keep_everything_up_to_the_cursor() -> None:
    lines = module(60)
    lines.insert(120, "# gen: area of a circle\n")
    edited = [*lines[:125], "def added_below():\n", "    pass\n", *lines[125:]]
    first, second = gen_at(lines, 120), gen_at(edited, 120)
    assert first.split(CURSOR)[0] == second.split(CURSOR)[0]


def test_a_previous_run_landing_above_keeps_the_start_of_the_code() -> None:
    lines = module(60)
    lines.insert(120, "# gen: area of a circle\n")
    # the first run's code lands a few definitions above this prefix line
    landed = ["\n", "def landed(x):\n", "    return x * 2\n"]
    after_run = [*lines[:112], *landed, *lines[112:]]
    first, second = gen_at(lines, 120), gen_at(after_run, 120 + len(landed))
    shared = common_prefix(first, second)
    start = first.split("Language: python\n\n", 1)[1]
    # the shared part runs from the prompt's start past the window's first line to the change
    assert len(shared) > first.index(start) + len(start.split("\n", 1)[0])
    assert "def landed" in second and "def landed" not in shared


def test_other_files_definitions_come_first_and_share_the_budget() -> None:
    lines = module(60)
    lines.insert(120, "# gen: area of a circle\n")
    definitions = "# geometry.py\ndef circle(r: float) -> float: ...\n"
    _system, user = build_prompt(
        prompt_input(lines=lines, prefix_line=120, other_files=definitions), 600
    )
    assert user.index("def circle") < user.index("def f_") < user.index(CURSOR)
    without = gen_at(lines, 120)
    code = user.split(definitions, 1)[1]
    assert len(code) < len(without)  # this file's code gave way to the definitions


def test_fill_in_the_middle_opens_with_other_files_definitions() -> None:
    lines = module(60)
    lines.insert(120, "# gen: area of a circle\n")
    definitions = "# From geometry.py\ndef circle(r: float) -> float: ...\n"
    fim = build_fim(prompt_input(lines=lines, prefix_line=120, other_files=definitions), 600)
    assert fim.prefix.startswith(definitions + "\n")
    assert fim.prefix.endswith("# gen: area of a circle\n")
    without = build_fim(prompt_input(lines=lines, prefix_line=120), 600)
    code = len(fim.prefix) - len(definitions) - 1 + len(fim.suffix)
    assert code < len(without.prefix) + len(without.suffix)  # one budget, shared
