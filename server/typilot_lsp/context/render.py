"""Definitions as prompt text: each under a comment naming its file, chosen within a budget."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from typilot_lsp.comments import line_comment_for
from typilot_lsp.context.model import Definition


def definition_block(definition: Definition) -> str:
    """One definition as the prompt shows it: `# From shapes.py` then its text."""
    opener, closer = line_comment_for(definition.language)
    tail = f" {closer}" if closer else ""
    return f"{opener} From {definition.path}{tail}\n{definition.text.rstrip()}\n"


def within_budget(definitions: Sequence[Definition], budget: int) -> list[Definition]:
    """The definitions to send, best ranked first, while their blocks fit in `budget`
    characters: one that does not fit goes as its outline (no bodies) if that fits, else it is
    left out (a smaller one after it may still fit)."""
    chosen: list[Definition] = []
    used = 0
    for definition in definitions:
        forms = [definition]
        if definition.outline:
            forms.append(attrs.evolve(definition, text=definition.outline, outline=""))
        for form in forms:
            cost = len(definition_block(form)) + 1
            if used + cost <= budget:
                chosen.append(form)
                used += cost
                break
    return chosen


def definitions_text(definitions: Sequence[Definition]) -> str:
    """The chosen definitions as one block (blank lines between them)."""
    return "\n".join(definition_block(d) for d in definitions)
