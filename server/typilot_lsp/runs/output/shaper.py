"""The line shaper: fences, prose, indentation, and what of a reply's code lands.

What lands is the code the user asked for, not the rest of a chatty reply. Measured on real
replies (tests/runs/replies/: SmolLM2-135M-Instruct at temperature 0), models follow the code
with usage examples (`print(...)` at module level, an `if __name__ == "__main__":` block, a
`fn main`), the program's output (a bare number on a line of its own), and further fenced
blocks that repeat a definition or only show how to call it. So, in code mode:

* after a definition, a top-level statement is held back until it is clear what it is: usage
  (an output call, a call of a function the reply defined, a main guard or `main` function, a
  bare value, an "Example"/"Output" comment) drops the run of held lines it is in; anything
  else (a constant, an export) lands as soon as a definition or the end shows it was code;
* a later fenced block lands only when it belongs to the first: an import block, or helpers
  the code calls that it does not define yet; a second copy of a definition or an example
  does not.
The first block streams as it comes: only top-level lines after a definition wait, each for
its own line break.
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Sequence

from typilot_lsp.prefixes import Mode
from typilot_lsp.runs.output.classify import (
    CLOSER,
    DECORATOR,
    DEFINITION_WORDS,
    FENCE,
    OUTPUT_BLOCK,
    PROSE_START,
    USAGE_LABEL,
    VALUE_KEYWORDS,
    defined_name,
    is_sentence,
    is_usage,
    may_be_sentence,
    may_start_import,
    may_start_usage_label,
    only_sentences,
)
from typilot_lsp.runs.output.comments import CommentWrapper
from typilot_lsp.runs.output.imports import ImportCollector, is_import
from typilot_lsp.runs.output.reasons import NothingLanded

# A top-level line so far: its modifiers, definition keyword, and the name being written.
_MAY_REPEAT = re.compile(
    r"^(?:export\s+|default\s+|pub(?:\([^)]*\))?\s+|async\s+|unsafe\s+)*"
    rf"({'|'.join(re.escape(w) for w in (*DEFINITION_WORDS, *VALUE_KEYWORDS))})?"
    r"(\s+)?([\w$]*)(.?)"
)

LOOP_REPEATS = 2
"""Dropped copies of one definition after which a reply is taken to loop (the first copy may
be a model's habit of restating what it was shown; the second is not)."""


class State(enum.Enum):
    """Where the line shaper is in a reply."""

    START = "start"  # nothing decided yet
    PROSE = "prose"  # sentences before any code: held, they may turn out to be the answer
    CODE = "code"  # code without a fence
    FENCE = "fence"  # inside the first fenced block
    SKIP = "skip"  # inside a fenced block of program output: dropped
    AFTER = "after"  # the code has ended: only a later fenced block may still land
    EXTRA = "extra"  # inside a later fenced block, judged when it closes


class LineShaper:
    """Fences, prose, indentation, comment wrapping, trailing blank lines, and what of a
    reply's code belongs in the file (see the module docstring).

    `mode`: `Mode.COMMENT` (sum: every line becomes a comment in the file's syntax), else code
    (gen/fix: re-indented to `indent`). `eol` is the document's line
    break, so CRLF files stay CRLF. `keep_usage`: the user asked for usage
    (`wants_usage(instruction)`), so examples after a definition stay. `existing`: the
    names the rest of the file already defines (`defined_names`): a reply that rewrites the
    whole file does not land a second copy of them. `width` (comment mode): comment lines
    are wrapped to it (`usual_width` of the file), as a reviewer would ask. `prose_answers`:
    the file is text (Markdown, plain text), so a reply of sentences without a fence is the
    answer; in a code file a reply of nothing but sentences is not code, and nothing of it
    lands (`dropped_prose`). `expected`: the names the code a `fix:` replaces defines; once
    the reply has landed a definition, a further one lands only if it is one of them or the
    landed code calls it (a model that loops writes variant after variant of the function),
    and a reply without any definition (prose, a formula) does not replace them.
    """

    def __init__(
        self,
        *,
        indent: str,
        mode: Mode = Mode.INSERT,
        eol: str = "\n",
        line_comment: str | None = None,
        block_comment: tuple[str, str] | None = None,
        keep_usage: bool = False,
        existing: frozenset[str] = frozenset(),
        width: int | None = None,
        prose_answers: bool = False,
        expected: frozenset[str] = frozenset(),
        named: frozenset[str] = frozenset(),
        file_lines: Sequence[str] = (),
        replaced_lines: Sequence[str] = (),
    ) -> None:
        self.indent = indent
        self.named = named
        self.imports: list[str] = []  # set by finish(): what goes with the file's imports
        self._import_collector = ImportCollector(file_lines, replaced_lines)
        self._awaiting = (
            bool(expected) and mode is not Mode.COMMENT
        )  # a fix: its target not given yet
        self._waiting: list[str] = []  # code held until the fix's target comes
        self._repeated: set[str] = set()  # the file's names the reply repeated (dropped)
        self._repeat_counts: Counter[str] = Counter()  # dropped repeats, by definition line
        self._landed = False
        self.prose_answers = prose_answers
        self.expected = expected
        self.dropped_prose = False
        self.mode = mode
        self.eol = eol
        self.line_comment = line_comment
        self.block_comment = block_comment
        self.keep_usage = keep_usage
        self.existing = existing
        self._state = State.START
        self._line = ""  # the current line's text not yet decided or emitted
        self._line_open = False  # whether the current line's head has been emitted
        self._open_head = ""  # the emitted head of an open line
        self._pending_breaks = 0
        self._emitted_any = False
        self._base_indent: str | None = None
        self._held_lines: list[str] = []  # prose that may turn out to be the answer
        self._held_code: list[str] = []  # top-level lines after a definition, not yet judged
        self._held_usage = False  # whether those include usage (then they are dropped)
        self._defined: set[str] = set()  # names the landed code defines
        self._headers: set[str] = set()  # the landed code's top-level definition lines
        self._code_lines: list[str] = []  # the landed code, to see what it calls
        self._extra: list[str] = []  # a later fenced block, judged when it closes
        self._fenced = False  # whether the reply had a fence
        self._block_landed = False  # whether the open fenced block has landed a line
        self._wrapper: CommentWrapper | None = None
        if mode is Mode.COMMENT and width:
            if line_comment:
                continuation = f"{indent}{line_comment} "
            else:
                assert block_comment is not None
                continuation = indent + " " * (len(block_comment[0]) + 1)
            self._wrapper = CommentWrapper(width, continuation, eol)

    # -- public -------------------------------------------------------------
    def feed(self, chunk: str) -> str:
        out: list[str] = []
        text = chunk.replace("\r\n", "\n").replace("\r", "\n")
        while text:
            newline = text.find("\n")
            if newline < 0:
                self._line += text
                out.append(self._flush_partial())
                break
            self._line += text[:newline]
            text = text[newline + 1 :]
            out.append(self._complete_line())
        shaped = "".join(out)
        return self._wrapper.feed(shaped) if self._wrapper else shaped

    def finish(self) -> str:
        out: list[str] = []
        cut = self._line  # the reply ended inside this line (at the token bound, say)
        if self._line:
            out.append(self._complete_line(final=True))
        if self._state is State.PROSE and self._held_lines and not self._fenced:
            held, self._held_lines = self._held_lines, []
            # A fix of a definition needs the definition: held lines never hold one (one
            # ends the holding), so there nothing of them lands.
            answer = not self.expected and not only_sentences(held, cut)
            if self.prose_answers or answer:
                # No fence ever came: the "prose" was the answer (a text file's, or code
                # after a word like "Sure").
                self._state = State.CODE
                for line in held:
                    text = self._emit_line_text(line, complete=True)
                    if text:
                        self._pending_breaks += 1  # its own line end, written before the next
                    out.append(text)
            else:
                self.dropped_prose = True  # sentences and no code: nothing for a code file
        if self._state is State.EXTRA:
            out.append(self._judge_extra())
        out.append(self._resolve_held())
        self._waiting = [] if self._awaiting else self._waiting
        if self.mode is not Mode.COMMENT:
            self.imports = self._import_collector.needed(self._code_lines)
        if self._emitted_any and self.mode is Mode.COMMENT and self.block_comment:
            out.append(" " + self.block_comment[1])
        shaped = "".join(out)
        if self._wrapper:
            return self._wrapper.feed(shaped) + self._wrapper.finish()
        return shaped

    # -- lines --------------------------------------------------------------
    def _is_fence(self, line: str) -> bool:
        return line.strip().startswith(FENCE)

    def _complete_line(self, final: bool = False) -> str:
        line, self._line = self._line, ""
        was_open, self._line_open = self._line_open, False
        if was_open:
            # The head of this line is already in the buffer; the rest follows it.
            self._note_code(self._open_head + line)
            if not final:
                self._pending_breaks += 1
            return line
        if self._is_fence(line):
            return self._on_fence(line)
        if self._state is State.START:
            if not line.strip():
                return ""
            if self.mode is not Mode.COMMENT and (
                PROSE_START.match(line.strip()) or is_sentence(line)
            ):
                self._state = State.PROSE
                self._held_lines.append(line)
                return ""
            if self.mode is Mode.COMMENT and USAGE_LABEL.match(line.strip()):
                self._state = State.AFTER  # "Example usage:" ends a summary
                return ""
            self._state = State.CODE
        elif self._state is State.PROSE:
            text = line.strip()
            if self.mode is not Mode.COMMENT and (defined_name(text) or is_import(text)):
                # Code after a preamble, without a fence: the preamble goes, the code streams.
                self._held_lines = []
                self._state = State.CODE
                return self._gate(line, final)
            self._held_lines.append(line)
            return ""
        elif self._state is State.SKIP:
            return ""
        elif self._state is State.FENCE and not self._block_landed and line.strip():
            if self.mode is not Mode.COMMENT and OUTPUT_BLOCK.match(line.strip()):
                self._state = State.SKIP  # a block of program output or a traceback: not the answer
                return ""
            self._block_landed = True
        elif self.mode is Mode.COMMENT and USAGE_LABEL.match(line.strip()):
            self._state = State.AFTER
            return ""
        elif self._state is State.AFTER:
            return ""
        elif self._state is State.EXTRA:
            self._extra.append(line)
            return ""
        elif (
            self._state is State.CODE
            and self.mode is not Mode.COMMENT
            and self._top_level(line)
            and (PROSE_START.match(line.strip()) or is_sentence(line))
        ):
            # Prose after unfenced code: the code has ended; later blocks are judged.
            self._state = State.AFTER
            return self._resolve_held()
        return self._gate(line, final)

    def _on_fence(self, line: str) -> str:
        opened_before, self._fenced = self._fenced, True
        if self._state in (State.START, State.PROSE):
            self._held_lines = []
            self._state = State.FENCE
            self._block_landed = False
        elif self._state is State.SKIP:
            self._state = State.PROSE  # the answer may still come in a later block
        elif self._state is State.FENCE:
            self._state = State.AFTER
            return self._resolve_held()
        elif self._state is State.AFTER:
            # A later fenced block: it lands only if it belongs to the first (_judge_extra).
            self._state = State.EXTRA
            self._extra = []
        elif self._state is State.EXTRA:
            self._state = State.AFTER
            return self._judge_extra()
        elif not opened_before and line.strip() == FENCE and self._emitted_any:
            # Code without an opening fence, then a bare one: it closes the code.
            self._state = State.AFTER
            return self._resolve_held()
        else:  # code, then a fence with a language: what follows is fenced code
            self._state = State.FENCE
        return ""

    # -- what of the code lands ---------------------------------------------
    def _top_level(self, line: str) -> bool:
        body = line.lstrip(" \t")
        lead = line[: len(line) - len(body)]
        if self._base_indent is None:
            return True
        return len(lead.expandtabs(4)) <= len(self._base_indent.expandtabs(4))

    def _gating(self) -> bool:
        return self.mode is not Mode.COMMENT and not self.keep_usage

    def _gate(self, line: str, final: bool) -> str:
        """A complete line of code: emitted, or held while it may be usage."""
        if not self._gating():
            return self._emit_code(line, final)
        text = line.strip()
        if self._base_indent is None and text:
            self._base_indent = line[: len(line) - len(line.lstrip(" \t"))]
        top = bool(text) and self._top_level(line)
        if top and self._repeats(text):
            # A second copy of a definition the file already has: it and its body go.
            name = defined_name(text)
            if name in self.existing:
                self._repeated.add(str(name))
            self._repeat_counts[text] += 1
            out = self._resolve_held()
            self._held_code, self._held_usage = [line], True
            return out
        if self._held_code:
            if not top or CLOSER.match(text):
                self._held_code.append(line)  # blank, or part of the held statement
                return ""
            if is_usage(text, self._defined):
                self._held_code.append(line)
                self._held_usage = True
                return ""
            if defined_name(text) or DECORATOR.match(text) or is_import(text):
                return self._resolve_held() + self._emit_code(line, final)
            self._held_code.append(line)
            return ""
        if top and self._defined and not CLOSER.match(text):
            if is_usage(text, self._defined):
                self._held_code, self._held_usage = [line], True
                return ""
            if not (defined_name(text) or DECORATOR.match(text) or is_import(text)):
                self._held_code, self._held_usage = [line], False
                return ""
        return self._emit_code(line, final)

    def _repeats(self, text: str) -> bool:
        """A definition the file already has, or a second copy of one the reply landed.

        The second copy is told by its whole line (a small model that loops writes the same
        `def f(x):` again); overloads and a property's setter differ in it and stay."""
        name = defined_name(text)
        if name is None:
            return False
        if (name in self.existing and name not in self._defined) or text in self._headers:
            return True
        wanted = self.expected | self.named
        if wanted and self._defined:
            # The definitions asked for (a fix's target, the names the instruction gives)
            # once each, and helpers they call; not the variants a looping model writes.
            return name in self._defined or not (name in wanted or self._calls(name))
        return False

    def _calls(self, name: str) -> bool:
        pattern = re.compile(rf"\b{re.escape(name)}\b")
        return any(pattern.search(line) for line in self._code_lines)

    def _resolve_held(self) -> str:
        """The held lines land unless they include usage."""
        held, self._held_code = self._held_code, []
        usage, self._held_usage = self._held_usage, False
        if usage or not held:
            return ""
        return "".join(self._emit_code(line, False) for line in held)

    def _emit_code(self, line: str, final: bool) -> str:
        if self.mode is not Mode.COMMENT and self._import_collector.takes(
            line, self._top_level(line)
        ):
            return ""  # lands with the file's imports, if the code uses it (finish)
        self._note_code(line)
        if self._awaiting:
            # A fix lands nothing until its reply gives the target back (then what came
            # before it, helpers, lands too); a reply that never does leaves the code as it was.
            if not (self._top_level(line) and defined_name(line.strip()) in self.expected):
                self._waiting.append(line)
                return ""
            self._awaiting = False
            waited, self._waiting = self._waiting, []
            return "".join(self._write(held, False) for held in waited) + self._write(line, final)
        return self._write(line, final)

    def _write(self, line: str, final: bool) -> str:
        text = self._emit_line_text(line, complete=True)
        if text and not final:
            self._pending_breaks += 1
        return text

    @property
    def looping(self) -> bool:
        """The reply dropped a copy of the same definition twice: a model in a loop, which
        writes the block again and again until its token bound (nothing of it can land)."""
        return any(count >= LOOP_REPEATS for count in self._repeat_counts.values())

    @property
    def code_ended(self) -> bool:
        """The code has ended and what followed was not code (prose, "Example usage:")."""
        return self._state is State.AFTER

    @property
    def nothing_landed(self) -> NothingLanded | None:
        """Why nothing landed (after finish), or None when something did."""
        if self._landed or self.imports:
            return None
        if self.dropped_prose:
            return NothingLanded.SENTENCES
        if self._awaiting and self._code_lines:
            return NothingLanded.TARGET_MISSING
        if self._repeated:
            return NothingLanded.ONLY_REPEATED
        return NothingLanded.NO_CODE

    def nothing_landed_message(self, model: str) -> str | None:
        reason = self.nothing_landed
        if reason is None:
            return None
        return reason.message(model, names=self._repeated, expected=self.expected)

    def _note_code(self, line: str) -> None:
        if self.mode is Mode.COMMENT or not line.strip():
            return
        self._code_lines.append(line)
        if self._top_level(line):
            name = defined_name(line)
            if name:
                self._defined.add(name)
                self._headers.add(line.strip())

    def _judge_extra(self) -> str:
        """A later fenced block lands if it is new imports, or new helpers the code calls."""
        lines, self._extra = self._extra, []
        code = [line for line in lines if line.strip()]
        if not code or self.mode is Mode.COMMENT:
            return ""
        landed = {line.strip() for line in self._code_lines}
        landed.update(self._import_collector.lines)
        if all(is_import(line) for line in code):
            keep = [line for line in code if line.strip() not in landed]
        else:
            base = min(len(line) - len(line.lstrip(" \t")) for line in code)
            names = {defined_name(line) for line in code if len(line) - len(line.lstrip()) == base}
            names.discard(None)
            names.discard("main")
            body = "\n".join(self._code_lines)
            called = any(re.search(rf"\b{re.escape(str(name))}\b", body) for name in names)
            if not names or names & self._defined or not called:
                return ""
            keep = lines
        if not keep:
            return ""
        self._resolve_held()
        if self._emitted_any:
            self._pending_breaks = max(self._pending_breaks, 2)
        out = [self._gate(line, False) for line in keep]
        out.append(self._resolve_held())
        return "".join(out)

    def _may_repeat(self, partial: str) -> bool:
        """Whether a partial top-level line may still turn out to define an existing name."""
        found = _MAY_REPEAT.match(partial)
        if found is None:
            return False
        keyword, space, name, after = found.groups()
        if not keyword:
            # A keyword still being typed ("de", "clas") or a C-family line: wait for its end.
            word = partial.split()[0] if partial.split() else ""
            keywords = (*DEFINITION_WORDS, "async", "export")
            return any(k.startswith(word) for k in keywords) and " " not in partial
        if not space:
            return True
        if after:  # the name is complete
            return name in self.existing
        return any(existing.startswith(name) for existing in self.existing)

    def _flush_partial(self) -> str:
        """Emit the current partial line where nothing can change its meaning any more."""
        if self._line_open:
            rest, self._line = self._line, ""
            self._open_head += rest
            return rest
        line = self._line
        stripped = line.lstrip()
        if not stripped:
            return ""
        if FENCE.startswith(stripped[:3]) and stripped[:1] == "`":
            return ""  # may become a fence
        if self._state_waits(line, stripped) or self._code_waits(line, stripped):
            return ""
        self._line = ""
        self._line_open = True
        self._open_head = line
        return self._emit_line_text(line, complete=False)

    def _state_waits(self, line: str, stripped: str) -> bool:
        """Whether, where the reply is, the partial line's end must decide what it is."""
        code = self.mode is not Mode.COMMENT
        if self._state in (State.PROSE, State.AFTER, State.EXTRA, State.SKIP):
            return True
        if self._state is State.START:
            if code and may_be_sentence(stripped):
                return True  # the first word, or the sentence so far, decides prose or code
            if not code and (USAGE_LABEL.match(stripped) or may_start_usage_label(stripped)):
                return True
            self._state = State.CODE
            return False
        if self._state is State.CODE and code and self._top_level(line):
            return may_be_sentence(stripped)  # prose after the code, or code
        if self._state is State.FENCE and not self._block_landed and code:
            if stripped[:1].isupper():
                return True  # program output ("Traceback", "Output: ...") or code
            self._block_landed = True
        return not code and bool(USAGE_LABEL.match(stripped) or may_start_usage_label(stripped))

    def _code_waits(self, line: str, stripped: str) -> bool:
        """Whether a partial line of code waits for its end: after a definition it may be
        usage, it may repeat a name the file has, it may be an import, or a fix's target has
        not come yet."""
        top = self._top_level(line)
        if self._gating() and (self._held_code or (self._defined and top)):
            return True
        if self._gating() and self.existing and top and self._may_repeat(stripped):
            return True
        if self.mode is Mode.COMMENT:
            return False
        return (
            self._awaiting
            or self._import_collector.in_block
            or (top and may_start_import(stripped))
        )

    def _emit_line_text(self, line: str, *, complete: bool) -> str:
        """The head of a line (its indentation decided) or a whole line."""
        if not line.strip():
            if self._emitted_any and complete:
                self._pending_breaks += 1
            return ""
        head = self._reindent(line)
        breaks = self._pending_breaks
        if self.mode is Mode.COMMENT:
            breaks = min(breaks, 1)  # no uncommented blank lines inside a comment
        prefix = self.eol * breaks
        self._pending_breaks = 0
        self._landed = True
        first = not self._emitted_any
        self._emitted_any = True
        if self.mode is Mode.COMMENT:
            head = self._as_comment(head, first)
        return prefix + head

    def _reindent(self, line: str) -> str:
        body = line.lstrip(" \t")
        lead = line[: len(line) - len(body)]
        if self._base_indent is None:
            self._base_indent = lead
        lead = lead[len(self._base_indent) :] if lead.startswith(self._base_indent) else ""
        if self.mode is Mode.COMMENT:
            return body
        return self.indent + lead + body

    def _as_comment(self, body: str, first: bool) -> str:
        for leader in filter(None, (self.line_comment, *(self.block_comment or ()))):
            if body.startswith(leader):
                body = body[len(leader) :].lstrip()
                break
        if self.line_comment:
            return f"{self.indent}{self.line_comment} {body}"
        assert self.block_comment is not None
        if first:
            return f"{self.indent}{self.block_comment[0]} {body}"
        pad = " " * (len(self.block_comment[0]) + 1)
        return f"{self.indent}{pad}{body}"
