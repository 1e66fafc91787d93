"""The output filter on real replies: SmolLM2-135M-Instruct's answers to the prompts a run builds.

tests/runs/replies/ holds the raw replies (captured at temperature 0 from a real llama-server
by `python -m tests.runs.replies.cases`) and the documents they answer. Each reply goes through
the filter exactly as a run sets it up (the prefix line's indentation, the language's comments,
usage kept only when asked for), whole and in token-sized chunks, and what lands must be what a
user asked for: code without fences, prose, usage examples, program output or second copies of a
definition; for `sum:` only comments.
"""

from __future__ import annotations

import re

import pytest

from tests.llama.properties import looks_like_prose
from tests.replay.tokens import tokenize
from tests.runs.replies.cases import CASES, Case, reply_path
from typilot_lsp.comments import comment_syntax
from typilot_lsp.prefixes import Mode
from typilot_lsp.runs.output import OutputFilter
from typilot_lsp.runs.output.classify import defined_name, is_usage, wants_usage
from typilot_lsp.runs.output.spec import OutputSpec
from typilot_lsp.runs.targets import find_target

_BARE_VALUE = re.compile(r"^-?\d+(?:\.\d+)?$")

# Measured on the captured replies: the top-level definitions that land from each. The replies
# had 19 later blocks between them: 17 repeated the first block's definition (fix-py-max 15
# times, fix-js-is-even once, ...) or showed output ("Sum of numbers: 10"), none was an import
# block or a helper the code called; 5 replies followed the code with usage (a `# Test` block,
# `print(...)`, "# Output: True" lines). fix-py-average is a traceback in a fence and nothing
# else: nothing lands, and the run says the model returned no code. gen-py-method answers two
# methods asked for inside `class Stack:` with the whole class: a reply to a line inside a
# definition may rewrite that definition: only the methods it adds land (issue 26), the ones the
# instruction names and what they call (`is_empty`), not `__init__` again nor `size`.
# gen-py-mean-price writes `mean_price`, then variants (`total_items_with_average`, ...) and
# `mean_price` again: only the first lands. gen-py-repeat repeats `total` until the token bound.
LANDS: dict[str, tuple[str, ...]] = {
    "gen-py-fibonacci": ("fibonacci",),
    "gen-py-is-prime": ("is_prime",),
    "gen-py-read-lines": ("read_lines",),
    "gen-py-method": ("push", "pop", "is_empty"),
    "gen-py-reverse-words": ("reverse_words",),
    "fix-py-average": (),
    "fix-py-factorial": ("factorial",),
    "fix-py-max": ("largest",),
    "gen-js-sum-array": ("sumArray",),
    "gen-js-capitalize": ("capitalize",),
    "fix-js-is-even": ("isEven",),
    "gen-rust-square": ("square",),
    "gen-go-max": ("max",),
    "gen-py-cheapest": ("cheapest",),
    "gen-py-mean-price": ("mean_price",),
    "fix-py-total": ("total",),
    "gen-py-repeat": (),
    "gen-py-csv": ("count_rows",),
    "fix-py-total-fav": ("total",),
}


MODES = {"gen": Mode.INSERT, "fix": Mode.REPLACE, "sum": Mode.COMMENT}


def spec_of(case: Case) -> OutputSpec:
    """The case's spec, as a run builds it (`output_spec_for`)."""
    target = None
    if case.command in ("fix", "sum"):
        found = find_target(case.lines, case.prefix_line, None)
        assert found is not None
        target = (found.first_line, found.last_line)
    return OutputSpec(
        mode=MODES[case.command],
        language_id=case.language_id,
        lines=case.lines,
        prefix_line=case.prefix_line,
        instruction=case.instruction,
        target=target,
        indent=case.indent,
    )


def replay(case: Case, reply: str, size: int = 0) -> tuple[str, OutputFilter]:
    """What lands from `reply` fed in chunks of `size` (0: whole), and the filter after it."""
    out = OutputFilter.for_run(spec_of(case))
    chunks = [reply[i : i + size] for i in range(0, len(reply), size)] if size else [reply]
    return "".join(out.feed(chunk) for chunk in chunks) + out.finish(), out


def landed(case: Case, reply: str, size: int = 0) -> str:
    return replay(case, reply, size)[0]


def test_every_case_has_its_captured_reply() -> None:
    missing = [case.name for case in CASES if not reply_path(case).is_file()]
    assert not missing, f"capture them: python -m tests.runs.replies.cases ({missing})"


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_what_lands_from_a_real_reply(case: Case) -> None:
    reply = reply_path(case).read_text()
    text = landed(case, reply)
    for size in (1, 4, 9):
        assert landed(case, reply, size) == text, f"depends on the chunking ({size})"
    lines = [line for line in text.splitlines() if line.strip()]
    if LANDS.get(case.name) == ():
        assert not lines, f"a reply without code landed:\n{text}"
        return
    assert lines, f"nothing landed from:\n{reply}"
    assert "```" not in text
    syntax = comment_syntax(case.language_id)
    leader = syntax.line if syntax and syntax.line else "#"
    for line in lines:
        assert line.startswith(case.indent), f"indentation lost: {line!r}"
        if case.command == "sum":
            assert line.strip().startswith(leader), f"a sum: line that is no comment: {line!r}"
            continue
        assert not looks_like_prose(line), f"prose landed: {line!r}\n{text}"
        assert not _BARE_VALUE.match(line.strip()), f"program output landed: {line!r}\n{text}"
    if case.command == "sum":
        return
    # No usage after a definition, and no definition twice.
    base = min(len(line) - len(line.lstrip()) for line in lines)
    top = [line.strip() for line in lines if len(line) - len(line.lstrip()) == base]
    names = [name for name in map(defined_name, top) if name]
    assert tuple(names) == LANDS[case.name], text
    if names and not wants_usage(case.instruction):
        after_first = top[[defined_name(t) for t in top].index(names[0]) + 1 :]
        usage = [t for t in after_first if is_usage(t, set(names))]
        assert not usage, f"usage landed: {usage}\n{text}"


# -- stopping the model once nothing more can land (issue 24) --------------------------------


def fed_until_finished(case: Case, reply: str, at_fence: bool) -> tuple[str, int]:
    """What lands when the run stops the model at the filter's first `finished`, and how much
    of the reply the model had to write by then (characters)."""
    out = OutputFilter.for_run(spec_of(case))
    text, used = "", 0
    for token in tokenize(reply):
        used += len(token)
        text += out.feed(token)
        if out.finished(stops_at_fence=at_fence):
            break
    return text + out.finish(), used


def as_prefilled(reply: str) -> str | None:
    """The reply a run gets from the same model with its opening fence as the prefill and the
    closing fence as the stop: at temperature 0 the model writes the same tokens after the
    same fence, up to the next fence. None when the reply did not start with a fence."""
    opening = re.match(r"\s*```[\w+-]*\n", reply)
    if opening is None:
        return None
    rest = reply[opening.end() :]
    end = rest.find("```")
    return rest if end < 0 else rest[:end]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_stopping_the_model_early_lands_what_the_whole_reply_lands(case: Case) -> None:
    reply = reply_path(case).read_text()
    whole = landed(case, reply)
    assert fed_until_finished(case, reply, at_fence=False)[0] == whole
    prefilled = as_prefilled(reply)
    if prefilled is not None:
        text, used = fed_until_finished(case, prefilled, at_fence=True)
        assert text == whole, "the reply started in code lands what the whole reply landed"
        assert used <= len(reply)


def test_starting_in_code_saves_most_of_what_the_model_writes() -> None:
    """On the captured replies that open with a fence: what the model writes with the prefill
    and the stop, against the whole reply (figures in docs/quality.md)."""
    whole = started = 0
    for case in CASES:
        reply = reply_path(case).read_text()
        prefilled = as_prefilled(reply)
        if prefilled is not None:
            whole += len(reply)
            started += fed_until_finished(case, prefilled, at_fence=True)[1]
    assert started < whole * 0.6, (started, whole)
