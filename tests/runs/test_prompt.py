"""The prompt builder (typilot_lsp.runs.prompt): what each command asks, within the budget."""

from __future__ import annotations

from typilot_lsp.documents import split_lines
from typilot_lsp.prefixes import Mode
from typilot_lsp.runs.prompt import (
    CURSOR,
    SYSTEM_COMMENT,
    PromptInput,
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
