"""Prompts per command, with the surrounding code cut to a budget.

The budget is the smaller of `context.maxChars` and what fits the model's
context window (about 3 characters a token, keeping room for the reply).

The layout puts what changes least first, so that a model server's prompt cache (llama.cpp's
`cache_prompt`, Ollama's same-prefix reuse, vLLM's prefix caching) reuses it from one request to
the next: the system message, the file's name and language, other files' definitions, this
file's code from a stable top-level boundary down to the prefix line (replaced by a marker),
the code below it, and the instruction last. Typing the instruction, editing below the prefix
line, or a previous run's code landing above it changes only the prompt's tail.
"""

from __future__ import annotations

import hashlib

import attrs

from typilot_lsp.backends.base import FimPrompt
from typilot_lsp.prefixes import Mode

CURSOR = "<<<CURSOR>>>"
CHARS_PER_TOKEN = 3
DEFAULT_CONTEXT_TOKENS = 4096  # Ollama's default num_ctx on small machines

SYSTEM_CODE = (
    "You are a code generator inside a text editor. Your reply is inserted into the file "
    "verbatim, so reply with code only: no markdown fences, no explanations before or after. "
    "Write idiomatic {language}."
)
SYSTEM_COMMENT = (
    "You write concise code summaries inside a text editor. Your reply becomes a comment in the "
    "file, so reply with plain sentences only: no markdown, no code, no comment markers."
)


@attrs.frozen
class PromptInput:
    command: str  # gen | fix | sum | a user command prefix
    mode: Mode
    instruction: str
    language_id: str
    file_name: str
    lines: list[str]
    """The document's lines (with line breaks)."""
    prefix_line: int
    target: tuple[int, int] | None
    """First and last line of the target (fix/sum), inclusive."""
    target_text: str = ""
    user_template: str | None = None
    other_files: str = ""
    """Definitions the code uses from other files (`typilot_lsp.context`), rendered; they go
    into the prompt's stable head and share its budget."""


def context_budget(max_chars: int, context_tokens: int | None, num_ctx: object) -> int:
    tokens = context_tokens or DEFAULT_CONTEXT_TOKENS
    if isinstance(num_ctx, int) and num_ctx > 0:
        tokens = min(tokens, num_ctx) if context_tokens else num_ctx
    # Half the window for the prompt's code, the rest for instructions and the reply.
    return max(0, min(max_chars, tokens * CHARS_PER_TOKEN // 2))


ANCHOR_EVERY = 4
BEFORE_SHARE = 2 / 3
"""Of the code budget, what the lines above the prefix line may take (the rest, and what they
leave, goes to the lines below it)."""


def _is_boundary(lines: list[str], index: int) -> bool:
    """A line where a top-level block starts: unindented, after a blank line (or the file's
    start). Found by content, so an edit elsewhere in the file does not move it."""
    line = lines[index]
    if not line.strip() or line[0] in " \t":
        return False
    return index == 0 or not lines[index - 1].strip()


def _is_anchor(line: str) -> bool:
    """About one top-level boundary in ANCHOR_EVERY, chosen by the line's own text."""
    return hashlib.blake2b(line.strip().encode(), digest_size=2).digest()[0] % ANCHOR_EVERY == 0


def window_start(lines: list[str], end: int, budget: int) -> int:
    """Where the code shown above line `end` starts: as far up as `budget` allows, then down to
    the next anchor (a top-level boundary picked by its text, else any boundary), so that the
    prompt's start stays put while the user types, edits below, or a previous run's code lands
    between it and the prefix line: the model server's prompt cache then reuses everything up
    to the first change. Anchors chosen by content, not line numbers, keep the start when lines
    are added above it too; one boundary in ANCHOR_EVERY means code landing between the start
    and the prefix line moves the start only when it pushes past the anchor."""
    start, used = end, 0
    while start > 0 and used + len(lines[start - 1]) <= budget:
        start -= 1
        used += len(lines[start])
    if start == 0:
        return 0
    boundaries = [i for i in range(start, end) if _is_boundary(lines, i)]
    anchors = [i for i in boundaries if _is_anchor(lines[i])]
    return (anchors or boundaries or [start])[0]


def _surrounding(inp: PromptInput, budget: int) -> tuple[str, str]:
    """Lines before the prefix line (and target) from a stable start within their share of
    `budget`, then lines after it, nearest first, within what is left."""
    skip_first = inp.prefix_line
    skip_last = inp.prefix_line
    if inp.target is not None:
        skip_first = min(skip_first, inp.target[0])
        skip_last = max(skip_last, inp.target[1])
    has_after = skip_last + 1 < len(inp.lines)
    share = int(budget * BEFORE_SHARE) if has_after else budget
    start = window_start(inp.lines, skip_first, share)
    before = "".join(inp.lines[start:skip_first])
    left = budget - len(before)
    after: list[str] = []
    for line in inp.lines[skip_last + 1 :]:
        if len(line) > left:
            break
        after.append(line)
        left -= len(line)
    return before, "".join(after)


def _head(inp: PromptInput, language: str) -> str:
    """What comes first and changes least: the file, its language, other files' definitions."""
    head = f"File: {inp.file_name}\nLanguage: {language}\n"
    if inp.other_files:
        head += f"\nDefinitions this code uses from other files of the project:\n{inp.other_files}"
        if not inp.other_files.endswith("\n"):
            head += "\n"
    return head


def code_budget(inp: PromptInput, budget: int) -> int:
    """The budget left for this file's code once other files' definitions are in: they share
    one budget, and this file's code keeps at least half of it."""
    return max(budget // 2, budget - len(inp.other_files))


def build_prompt(inp: PromptInput, budget: int) -> tuple[str, str]:
    """(system, user) messages for the run."""
    language = inp.language_id or "plain text"
    budget = code_budget(inp, budget)
    target_budget = budget // 2
    target = inp.target_text
    if len(target) > target_budget and inp.mode != "replace":
        target = target[:target_budget] + "\n...(truncated)\n"
    before, after = _surrounding(inp, max(0, budget - len(target)))
    instruction = inp.instruction.strip()
    header = _head(inp, language)

    if inp.user_template is not None:
        system = SYSTEM_COMMENT if inp.mode == "comment" else SYSTEM_CODE.format(language=language)
        user = inp.user_template.format_map(
            _Defaulting(
                instruction=instruction,
                code=target,
                language=language,
                file=inp.file_name,
                before=before,
                after=after,
            )
        )
        return system, header + "\n" + user

    if inp.command == "sum":
        ask = instruction or "Summarize what this code does"
        user = (
            f"{header}\n"
            f"Code to summarize:\n{target}\n\n"
            f"Task: {ask}. Reply with 1-3 short plain sentences."
        )
        return SYSTEM_COMMENT, user

    system = SYSTEM_CODE.format(language=language)
    if inp.command == "fix":
        ask = instruction or "Fix the bugs and errors so that the code works as intended"
        user = (
            f"{header}\n"
            f"Code before it:\n{before}\n"
            f"Code to fix:\n{target}\n"
            f"Code after it:\n{after}\n\n"
            f"Task: {ask}. Reply with the complete corrected replacement for the code to fix, "
            "nothing else."
        )
        return system, user

    user = (
        f"{header}\n"
        f"{before}{CURSOR}\n{after}\n\n"
        f"Task: write the {language} code that belongs at {CURSOR}: {instruction}. "
        f"Reply with only that code."
    )
    return system, user


def build_fim(inp: PromptInput, budget: int) -> FimPrompt:
    """Fill-in-the-middle for `gen:`: the code before the prefix line and the prefix line
    itself (its instruction is a comment the model reads) make the prefix, the code after it
    the suffix, nearest lines first, within the same budget as the chat prompt.

    The prefix ends with a line break, so the model writes whole lines at their own
    indentation (the output filter re-indents them to the prefix line's). Other files'
    definitions open the prefix (each under a comment naming its file), the stable part first
    as in the chat prompt."""
    line = inp.lines[inp.prefix_line] if inp.prefix_line < len(inp.lines) else ""
    line = line.rstrip("\r\n") + "\n"
    budget = code_budget(inp, budget)
    before, after = _surrounding(attrs.evolve(inp, target=None), max(0, budget - len(line)))
    if before and not before.endswith(("\n", "\r")):
        before += "\n"
    head = inp.other_files.rstrip("\n") + "\n\n" if inp.other_files.strip() else ""
    return FimPrompt(prefix=head + before + line, suffix=after)


class _Defaulting(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
