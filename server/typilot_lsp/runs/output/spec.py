"""What a run knows that decides what of a reply lands: one value, `OutputSpec`.

`OutputFilter.for_run(spec)` builds the filter from it, for the run (`output_spec_for`) and for
the tests alike, so that a test set up "as a run" is set up as a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from typilot_lsp.comments import comment_syntax
from typilot_lsp.prefixes import Mode

if TYPE_CHECKING:
    from typilot_lsp.documents import TypilotDocument
    from typilot_lsp.prefixes import PrefixMatch
    from typilot_lsp.runs.manager import RunPlan
    from typilot_lsp.runs.model import Run

# Languages whose files are text: there a reply of plain sentences is the answer.
PROSE_LANGUAGES = frozenset(
    {"markdown", "mdx", "plaintext", "text", "restructuredtext", "asciidoc", "org", "latex", "tex"}
    | {"git-commit", "gitcommit"}
)


@attrs.frozen
class OutputSpec:
    """The document and the run, as the output filter needs them.

    `lines`: the document when the run started; `prefix_line`: the `gen:`/`fix:`/`sum:` line;
    `target`: the lines a `fix:` replaces or a `sum:` summarises (first, last), if any;
    `indent`: the prefix line's indentation, which every landed line gets; `eol`: the
    document's line break."""

    mode: Mode
    language_id: str
    lines: Sequence[str]
    prefix_line: int
    instruction: str = ""
    target: tuple[int, int] | None = None
    indent: str = ""
    eol: str = "\n"

    @property
    def replaced(self) -> tuple[int, int]:
        """The lines a run replaces: the prefix line, and a `fix:`'s target with it."""
        first = last = self.prefix_line
        if self.target is not None and self.mode is Mode.REPLACE:
            first, last = min(first, self.target[0]), max(last, self.target[1])
        return first, last

    @property
    def comment_leaders(self) -> tuple[str | None, tuple[str, str] | None]:
        """(line comment, block comment) for a `sum:` reply: a line comment where the language
        has one (`#` where it is unknown), else its block comment."""
        syntax = comment_syntax(self.language_id)
        line = syntax.line if syntax else "#"
        block = syntax.block if syntax and not syntax.line else None
        return line, block

    @property
    def prose_answers(self) -> bool:
        return self.language_id in PROSE_LANGUAGES


def output_spec_for(
    run: Run, doc: TypilotDocument, match: PrefixMatch, plan: RunPlan
) -> OutputSpec:
    """The spec of a run, from what the run manager has when it prepares the run."""
    target = plan.target
    return OutputSpec(
        mode=run.mode,
        language_id=doc.language_id,
        lines=plan.lines,
        prefix_line=run.line,
        instruction=run.instruction,
        target=(target.first_line, target.last_line) if target is not None else None,
        indent=match.indent,
        eol=doc.eol,
    )
