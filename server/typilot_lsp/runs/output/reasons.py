"""Why nothing of a reply landed, one short line each: Neovim shows it in its command line."""

from __future__ import annotations

import enum
from collections.abc import Collection


class NothingLanded(enum.Enum):
    """Why a reply left the buffer as it was (`OutputFilter.nothing_landed`)."""

    NO_CODE = "{model} returned no code; the line was left as it was."
    SENTENCES = (
        "{model} replied in sentences, not code; the line was left as it was. "
        "Rephrase the instruction, or try a larger model."
    )
    ONLY_REPEATED = "{model}'s reply only repeated {names}, which the file already has."
    TARGET_MISSING = "{model}'s reply did not give back {expected}; the code was kept."

    def message(
        self,
        model: str,
        names: Collection[str] = (),
        expected: Collection[str] = (),
    ) -> str:
        return self.value.format(model=model, names=quoted(names), expected=quoted(expected))


class Finished(enum.Enum):
    """Why nothing more the model writes can land: the run stops the model there."""

    PAST_BODY = "past-body"
    """The reply rewrote the definition around a `gen:` line, and that definition ended."""
    LOOPING = "looping"
    """The reply dropped the same definition twice: a loop to the token bound."""
    CODE_ENDED = "code-ended"
    """The code ended and prose followed; no later fenced block can come (the request stops
    at a fence)."""


def quoted(names: Collection[str]) -> str:
    """`a`, `b` and `c`."""
    items = [f"`{name}`" for name in sorted(names)]
    if len(items) < 2:
        return "".join(items) or "nothing"
    return ", ".join(items[:-1]) + " and " + items[-1]
