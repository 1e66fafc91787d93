"""From a prefixed line to the request a model server gets: one composition, shared by the run
and by the prewarm that sends the same prompt ahead of it (`runs.prewarm`), so that the
server's prompt cache holds exactly what the run will send.

For code (`gen:`, `fix:` and user commands that write code) a chat request starts the reply
in code: the opening fence of the file's language is sent as the start of the model's answer
(`prefill`) and the closing fence stops it (`stop`), so the model spends no tokens on a
preamble, nor on the usage and prose small models write after the code.
"""

from __future__ import annotations

import posixpath
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

import attrs

from typilot_lsp.backends.base import GenerationRequest, ModelInfo
from typilot_lsp.context.for_run import request_for
from typilot_lsp.prefixes import BUILTIN_COMMANDS, Mode, PrefixMatch
from typilot_lsp.runs.output.spec import PROSE_LANGUAGES
from typilot_lsp.runs.prompt import PromptInput, build_fim, build_prompt, context_budget
from typilot_lsp.runs.targets import Target, find_target

if TYPE_CHECKING:
    from typilot_lsp.config import Config, UserCommand
    from typilot_lsp.context.model import ContextRequest
    from typilot_lsp.documents import TypilotDocument

OtherFiles = Callable[["ContextRequest | None", int], Awaitable[str]]
"""`RunHost.other_files`: the definitions some code uses from other files, within a budget."""

FENCE = "```"
FENCE_TAGS = {
    "javascriptreact": "jsx",
    "typescriptreact": "tsx",
    "shellscript": "bash",
    "csharp": "cs",
    "cpp": "cpp",
    "objective-c": "objc",
}
"""LSP language ids whose usual Markdown fence tag differs from the id."""


def mode_for(match: PrefixMatch, user_commands: Mapping[str, UserCommand]) -> Mode:
    """A built-in command's mode from the table; a user command's from its settings."""
    builtin = BUILTIN_COMMANDS.get(match.command)
    if builtin is not None:
        return builtin
    spec = user_commands.get(match.prefix) or user_commands.get(match.command)
    return Mode(spec.mode) if spec is not None else Mode.INSERT


def file_name(uri: str) -> str:
    parsed = urlparse(uri)
    return posixpath.basename(unquote(parsed.path)) or uri


def target_of(
    doc: TypilotDocument,
    line: int,
    mode: Mode,
    selection: tuple[tuple[int, int], tuple[int, int]] | None = None,
) -> tuple[Target | None, str]:
    """What a `fix:` or `sum:` on `line` works on, and its text (none for code that is added)."""
    if mode not in (Mode.REPLACE, Mode.COMMENT):
        return None, ""
    target = find_target(doc.lines, line, selection)
    return target, doc.slice(*target.start, *target.end) if target else ""


def prompt_input(
    config: Config,
    *,
    uri: str,
    language_id: str,
    lines: list[str],
    line: int,
    match: PrefixMatch,
    target: Target | None,
    target_text: str,
    other_files: str = "",
) -> PromptInput:
    """What the prompt is built from, as the document is now."""
    mode = mode_for(match, config.commands)
    spec = config.commands.get(match.prefix) if match.command not in BUILTIN_COMMANDS else None
    return PromptInput(
        command=match.command,
        mode=mode,
        instruction=match.instruction,
        language_id=language_id,
        file_name=file_name(uri),
        lines=lines,
        prefix_line=line,
        target=(target.first_line, target.last_line) if target else None,
        target_text=target_text,
        user_template=spec.prompt if spec is not None else None,
        other_files=other_files,
    )


@attrs.frozen
class Composed:
    """A run's request, and what the history and the messages say about it."""

    request: GenerationRequest
    max_tokens: int
    """The reply-length bound sent (0: none) ..."""
    max_tokens_setting: str
    """... and the setting that raises it."""


def fence_tag(language_id: str) -> str:
    return FENCE_TAGS.get(language_id, language_id)


def prompt_budget(config: Config, info: ModelInfo) -> int:
    """The characters of code a prompt may hold on the model `info` describes: this file's code
    and other files' definitions together (`runs.prompt.code_budget` splits it)."""
    num_ctx = config.generation_options.get("num_ctx")
    return context_budget(config.context.max_chars, info.context_length, num_ctx)


def compose(config: Config, info: ModelInfo, inp: PromptInput) -> Composed:
    """The request for `inp` on the model `info` describes."""
    options = config.generation_options
    budget = prompt_budget(config, info)
    system, prompt = build_prompt(inp, budget)
    max_tokens, setting = config.max_tokens_for(inp.command, inp.mode)
    fim = None
    if inp.command == "gen" and config.gen.fim == "auto":
        fim = build_fim(inp, budget)
    # Prose files get prose: no code fence around it.
    in_code = inp.mode is not Mode.COMMENT and inp.language_id not in ("", *PROSE_LANGUAGES)
    request = GenerationRequest(
        model=info.name,
        system=system,
        prompt=prompt,
        options=options,
        max_tokens=max_tokens or None,
        fim=fim,
        prefill=f"{FENCE}{fence_tag(inp.language_id)}\n" if in_code else "",
        stop=(FENCE,) if in_code else (),
    )
    return Composed(request, max_tokens, setting)


async def compose_at(
    config: Config,
    info: ModelInfo,
    doc: TypilotDocument,
    *,
    lines: list[str],
    line: int,
    match: PrefixMatch,
    target: Target | None,
    target_text: str,
    other_files: OtherFiles,
) -> Composed:
    """The request for the prefixed `line` of `doc` (its text `lines`), other files'
    definitions included: what the run sends, and what the prewarm sends ahead of it."""
    span = (target.first_line, target.last_line) if target else None
    code = request_for(doc.uri, doc.language_id, doc.version, lines, line, span)
    inp = prompt_input(
        config,
        uri=doc.uri,
        language_id=doc.language_id,
        lines=lines,
        line=line,
        match=match,
        target=target,
        target_text=target_text,
        other_files=await other_files(code, prompt_budget(config, info)),
    )
    return compose(config, info, inp)
