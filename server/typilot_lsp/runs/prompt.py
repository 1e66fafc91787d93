"""Prompts per command, with the surrounding code cut to a budget.

The budget is the smaller of `context.maxChars` and what fits the model's
context window (about 3 characters a token, keeping room for the reply).
"""

from __future__ import annotations

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


def context_budget(max_chars: int, context_tokens: int | None, num_ctx: object) -> int:
    tokens = context_tokens or DEFAULT_CONTEXT_TOKENS
    if isinstance(num_ctx, int) and num_ctx > 0:
        tokens = min(tokens, num_ctx) if context_tokens else num_ctx
    # Half the window for the prompt's code, the rest for instructions and the reply.
    return max(0, min(max_chars, tokens * CHARS_PER_TOKEN // 2))


def _surrounding(inp: PromptInput, budget: int) -> tuple[str, str]:
    """Lines before and after the prefix line (and target), nearest first, within budget."""
    skip_first = inp.prefix_line
    skip_last = inp.prefix_line
    if inp.target is not None:
        skip_first = min(skip_first, inp.target[0])
        skip_last = max(skip_last, inp.target[1])
    before: list[str] = []
    after: list[str] = []
    used = 0
    up, down = skip_first - 1, skip_last + 1
    while used < budget and (up >= 0 or down < len(inp.lines)):
        if up >= 0:
            line = inp.lines[up]
            if used + len(line) > budget:
                up = -1
            else:
                before.append(line)
                used += len(line)
                up -= 1
        if down < len(inp.lines):
            line = inp.lines[down]
            if used + len(line) > budget:
                down = len(inp.lines)
            else:
                after.append(line)
                used += len(line)
                down += 1
    return "".join(reversed(before)), "".join(after)


def build_prompt(inp: PromptInput, budget: int) -> tuple[str, str]:
    """(system, user) messages for the run."""
    language = inp.language_id or "plain text"
    target_budget = budget // 2
    target = inp.target_text
    if len(target) > target_budget and inp.mode != "replace":
        target = target[:target_budget] + "\n...(truncated)\n"
    before, after = _surrounding(inp, max(0, budget - len(target)))
    instruction = inp.instruction.strip()
    header = f"File: {inp.file_name}\nLanguage: {language}\n"

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
    indentation (the output filter re-indents them to the prefix line's)."""
    line = inp.lines[inp.prefix_line] if inp.prefix_line < len(inp.lines) else ""
    line = line.rstrip("\r\n") + "\n"
    before, after = _surrounding(attrs.evolve(inp, target=None), max(0, budget - len(line)))
    if before and not before.endswith(("\n", "\r")):
        before += "\n"
    return FimPrompt(prefix=before + line, suffix=after)


class _Defaulting(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
