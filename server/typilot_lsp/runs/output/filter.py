"""The output filter: feed raw model text, get the text that lands in the buffer.

Models wrap code in markdown fences, think aloud in `<think>` blocks, add sentences of prose
before and after, indent as they please, and follow the code with usage, program output and
variants of it. A reply goes through, chunk by chunk (any boundary):

    ThinkStripper → EnclosingUnwrapper → LineShaper (→ CommentWrapper for `sum:`)

holding back only what may still turn out not to belong, so code shows as soon as it is clear.
`OutputFilter.for_run(spec)` builds the chain from what a run knows (`OutputSpec`).
"""

from __future__ import annotations

from typilot_lsp.prefixes import Mode
from typilot_lsp.runs.output.classify import (
    block_names,
    class_members,
    defined_names,
    enclosing_name,
    named_in,
    wants_usage,
)
from typilot_lsp.runs.output.comments import usual_width
from typilot_lsp.runs.output.enclosing import EnclosingUnwrapper
from typilot_lsp.runs.output.loops import LoopDetector
from typilot_lsp.runs.output.reasons import Finished, NothingLanded
from typilot_lsp.runs.output.shaper import LineShaper
from typilot_lsp.runs.output.spec import OutputSpec
from typilot_lsp.runs.output.think import ThinkStripper


class OutputFilter:
    """ThinkStripper, EnclosingUnwrapper, then LineShaper (a LoopDetector watching the raw
    text): feed raw model text, get buffer text."""

    def __init__(self, shaper: LineShaper, enclosing: str | None = None) -> None:
        self._think = ThinkStripper()
        self._unwrap = EnclosingUnwrapper(enclosing if shaper.mode is not Mode.COMMENT else None)
        self._shaper = shaper
        self._loops = LoopDetector()

    @classmethod
    def for_run(cls, spec: OutputSpec) -> OutputFilter:
        """The filter for a run's reply: what the run knows decides what lands."""
        lines = list(spec.lines)
        first, last = spec.replaced
        fixes = spec.target is not None and spec.mode is Mode.REPLACE
        comment = spec.mode is Mode.COMMENT
        line_comment, block_comment = spec.comment_leaders
        shaper = LineShaper(
            indent=spec.indent,
            mode=spec.mode,
            eol=spec.eol,
            line_comment=line_comment,
            block_comment=block_comment,
            keep_usage=wants_usage(spec.instruction),
            existing=defined_names(lines, first, last) | class_members(lines, spec.prefix_line),
            width=usual_width(lines) if comment else None,
            prose_answers=spec.prose_answers,
            expected=block_names(lines, *spec.target) if fixes and spec.target else frozenset(),
            named=named_in(spec.instruction),
            # The code the run replaces is not the file's: its imports go with it.
            file_lines=lines[:first] + lines[last + 1 :],
            replaced_lines=lines[first : last + 1] if fixes else (),
        )
        python_insert = spec.mode is Mode.INSERT and spec.language_id == "python"
        enclosing = enclosing_name(lines, spec.prefix_line) if python_insert else None
        return cls(shaper, enclosing)

    def feed(self, chunk: str) -> str:
        self._loops.feed(chunk)
        return self._shaper.feed(self._unwrap.feed(self._think.feed(chunk)))

    def finish(self) -> str:
        tail = self._shaper.feed(self._unwrap.feed(self._think.finish()) + self._unwrap.finish())
        return tail + self._shaper.finish()

    def finished(self, *, stops_at_fence: bool = False) -> Finished | None:
        """Why nothing more the model writes can land, if so: the run then closes the stream
        and the model stops (what it would still write costs CPU and lands nowhere).
        `stops_at_fence`: the request stops at a code fence, so no later block can come."""
        if self._unwrap.past_body:
            return Finished.PAST_BODY
        if self._shaper.looping or self._loops.looping:
            return Finished.LOOPING
        if stops_at_fence and self._shaper.code_ended:
            return Finished.CODE_ENDED
        return None

    @property
    def dropped_prose(self) -> bool:
        """Whether the reply was sentences without code, and none of it landed."""
        return self._shaper.dropped_prose

    @property
    def imports(self) -> list[str]:
        """After finish: the reply's imports its landed code uses and the file lacks."""
        return self._shaper.imports

    @property
    def nothing_landed(self) -> NothingLanded | None:
        """After finish: why nothing landed, or None when something did."""
        return self._shaper.nothing_landed

    def nothing_landed_message(self, model: str) -> str | None:
        """After finish: why nothing landed, one line, or None when something did."""
        return self._shaper.nothing_landed_message(model)
