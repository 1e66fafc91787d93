"""Output hygiene applied while the reply streams.

Models wrap code in markdown fences, think aloud in `<think>` blocks, add a
sentence of prose before and after, and indent as they please. Everything
here works on arbitrary chunk boundaries (a fence or tag split over several
chunks), holding back only the few characters that might still turn into
one, so code shows in the buffer as soon as it is unambiguous.

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

import re
from collections.abc import Sequence

from typilot_lsp.prefixes import Mode
from typilot_lsp.runs.output.imports import ImportCollector, is_import
from typilot_lsp.runs.output.reasons import NothingLanded
from typilot_lsp.runs.output.spec import OutputSpec

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
FENCE = "```"

# First words that mark a chatty preamble rather than code.
_PROSE_START = re.compile(
    r"^(here|here's|sure|certainly|below|okay|ok|of course|absolutely|great|i'll|i will|i've|"
    r"this (code|function|snippet|implementation|is)|the (following|code|function|corrected|fixed)|"
    r"to (do|fix|implement|achieve)|let's|let me)\b",
    re.IGNORECASE,
)
_WORD_BOUNDARY = re.compile(r"[\s,.:;!?']")

# -- what a top-level line of code is (see the module docstring) ---------------------------
_IDENT = r"[A-Za-z_$][\w$]*"
_DEFINITION = re.compile(
    r"^(?:export\s+)?(?:default\s+)?(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?(?:unsafe\s+)?"
    r"(?:def|class|function\*?|fn|func|struct|enum|trait|interface|impl|type|module|local\s+function)"
    rf"\s+(?:\([^)]*\)\s*)?({_IDENT}(?:[.:]{_IDENT})?)"
)
_FUNCTION_VALUE = re.compile(
    rf"^(?:export\s+)?(?:const|let|var|local)\s+({_IDENT})\s*=\s*(?:async\s+)?"
    rf"(?:function\b|\([^)]*\)\s*=>|{_IDENT}\s*=>)"
)
# A C-family signature: a type, a name, parameters, maybe the opening brace.
_SIGNATURE = re.compile(
    rf"^(?:[\w<>\[\],:*&]+\s+)+[*&]*({_IDENT})\s*\([^;]*\)\s*(?:const\s*)?(?:throws [\w, ]+)?\{{?$"
)
_NOT_TYPES = {"return", "else", "if", "while", "for", "switch", "case", "new", "await", "throw"}
_DECORATOR = re.compile(r"^@[\w.]+")
_CLOSER = re.compile(r"^[)}\]]+[;,)]*$")
_OUTPUT_CALL = re.compile(
    r"^(?:print|pprint|console\.(?:log|info|error|warn|table)|println!|print!|eprintln!|dbg!|"
    r"fmt\.(?:Print|Fprint)\w*|System\.out\.print\w*|printf|puts|echo|std::cout|cout|"
    r"io\.write|Console\.Write\w*)\b"
)
_MAIN_GUARD = re.compile(r"^if\s+__name__\s*==")
_BARE_VALUE = re.compile(
    r"^(?:[-+]?\d[\d_,.eE+-]*|True|False|None|true|false|null|nil|undefined|"
    r"\[[^=()]*\]|\{[^=()]*\}|\([^=()]*\)|\"[^\"]*\"|'[^']*')$"
)
_USAGE_LABEL = re.compile(
    r"^(?:#|//|--|/\*|\*)?\s*(?:example|usage|test|output|result|demo|sample|expected)s?\b",
    re.IGNORECASE,
)
_REPL = re.compile(r"^(?:>>>|\.\.\.|\$|=>|->)\s")
# Asking for usage: "and print fib(10)", "with an example", "add tests", "a main". An
# instruction that describes behaviour ("Example: f(2) == 4", "returns the output", "calls the
# API") does not: those words alone ask for nothing.
_WORDS_FOR_USAGE = re.compile(
    r"\b(?:print|prints|printing|usage|demo|main|show|shows|log|logs)\b"
    r"|\b(?:an?|with|and|plus|include|including|add|write|some)\s+(?:\w+\s+)?"
    r"(?:example|examples|test|tests)\b",
    re.IGNORECASE,
)


_USAGE_WORDS = ("example", "usage", "test", "output", "result", "demo", "sample", "expected")


def _may_start_usage_label(partial: str) -> bool:
    word = partial.lstrip("#/-* ").lower()
    return bool(word) and " " not in word and any(w.startswith(word) for w in _USAGE_WORDS)


_NAMED_CALL = re.compile(rf"({_IDENT})\s*\(")


def named_in(instruction: str) -> frozenset[str]:
    """The functions an instruction names with their parameters: `cheapest(items)` in
    `gen: cheapest(items) returning the cheapest item`. Once one of them has landed, a further
    definition lands only if it is named too or the landed code calls it."""
    return frozenset(_NAMED_CALL.findall(instruction))


def wants_usage(instruction: str) -> bool:
    """Whether the user asked for usage themselves (`gen: fib(n) and print fib(10)`)."""
    return bool(_WORDS_FOR_USAGE.search(instruction))


def defined_name(line: str) -> str | None:
    """The name a top-level definition line defines, or None."""
    text = line.strip()
    for pattern in (_DEFINITION, _FUNCTION_VALUE):
        found = pattern.match(text)
        if found:
            return found.group(1).split(".")[-1].split(":")[-1]
    found = _SIGNATURE.match(text)
    if found and found.group(1) not in _NOT_TYPES and text.split()[0] not in _NOT_TYPES:
        return found.group(1)
    return None


def defined_names(lines: list[str], first: int, last: int) -> frozenset[str]:
    """The names a file's top-level definitions define, except on lines `first..last` (the
    prefix line and the code a run replaces) and the definition that encloses them (a reply
    to a line inside a function or class often rewrites all of it)."""
    skip = set(range(first, last + 1))
    if 0 <= first < len(lines) and lines[first][:1] in (" ", "\t"):
        for number in range(first - 1, -1, -1):
            if lines[number].strip() and lines[number][:1] not in (" ", "\t"):
                skip.add(number)
                break
    names = set()
    for number, line in enumerate(lines):
        if number in skip or not line[:1].strip():
            continue
        name = defined_name(line)
        if name:
            names.add(name)
    return frozenset(names)


def block_names(lines: list[str], first: int, last: int) -> frozenset[str]:
    """The names the outermost definitions of lines `first..last` define (a `fix:` target)."""
    body = [line for line in lines[first : last + 1] if line.strip()]
    if not body:
        return frozenset()
    base = min(len(line) - len(line.lstrip(" \t")) for line in body)
    names = (defined_name(line) for line in body if len(line) - len(line.lstrip(" \t")) == base)
    return frozenset(name for name in names if name)


def is_usage(line: str, defined: set[str]) -> bool:
    """A top-level line that shows how to use the code rather than being part of it."""
    text = line.strip()
    if (
        _OUTPUT_CALL.match(text)
        or _MAIN_GUARD.match(text)
        or _BARE_VALUE.match(text)
        or _USAGE_LABEL.match(text)
        or _REPL.match(text)
        or text.startswith(("assert ", "assert("))
        or text.lower().startswith("output:")
    ):
        return True
    if defined_name(text) == "main":
        return True
    call = re.match(
        rf"^(?:(?:let|const|var|local|auto|int|val)\s+)?(?:[\w.\[\], ]+\s*:?=\s*)?(?:await\s+)?"
        rf"(?:new\s+)?({_IDENT}(?:(?:\.|::){_IDENT})*)\s*[(!]",
        text,
    )
    return bool(call and any(part in defined for part in re.split(r"\.|::", call.group(1))))


# First words of those preambles: a first token that cannot begin one of them is code at once.
_PROSE_WORDS = (
    "here", "here's", "sure", "certainly", "below", "okay", "ok", "of", "absolutely", "great",
    "i'll", "i", "i've", "this", "the", "to", "let's", "let",
)  # fmt: skip


# A line of prose that opens a reply: "The code to fix is:", "Output:", "This is a simple ...".
_SENTENCE = re.compile(r"^[A-Z][A-Za-z']*(?:[ ,]+[\w'`,.:;!?\-]+)*[.:!?]?$")
# ...and while it is still coming: a capitalised word and plain words, nothing code-like yet.
_SENTENCE_SO_FAR = re.compile(r"^[A-Z][A-Za-z']*(?:[ ,]+[\w'`,.:;!?\-]*)*:?$")
# A fenced block that shows the program's output or an error, not code.
_OUTPUT_BLOCK = re.compile(r"^(?:Traceback\b|Output\b|Result\b|Exception\b|\w*Error\b[:(])")


# English that quotes code: "You can use the `re` module to remove the `\\` from ...",
# "The function is returning the correct result for x = 1, which is True." A capitalised word
# and a lower-case one open it (code seldom does), and it is mostly letters.
_PROSE_OPENING = re.compile(r"^[A-Z][a-z']*,? [a-z]")
_ENGLISH_WORD = re.compile(r"[A-Za-z][A-Za-z']*")


def is_sentence(line: str) -> bool:
    text = line.strip()
    if _SENTENCE.match(text):
        return text.endswith(":") or len(text.split()) >= 3
    if not _PROSE_OPENING.match(text) or len(_ENGLISH_WORD.findall(text)) < 5:
        return False
    return sum(c.isalpha() or c == " " for c in text) >= 0.8 * len(text)


def _only_sentences(lines: list[str], cut: str) -> bool:
    """Whether `lines` are all sentences; after others, the last may be `cut`: the reply ended
    inside it, as a sentence so far."""
    text = [line for line in lines if line.strip()]
    if len(text) > 1 and cut and text[-1] == cut:
        head = cut.strip()
        if _SENTENCE_SO_FAR.match(head) or _PROSE_OPENING.match(head):
            text.pop()
    return all(is_sentence(line) for line in text)


_IMPORT_WORDS = ("import", "from", "#include", "using", "use", "require", "package", "extern")


def _may_start_import(partial: str) -> bool:
    """Whether a partial line may still be an import (`imp`, `from x`, `const fs = req`)."""
    word = partial.split()[0] if partial.split() else partial
    if any(w.startswith(word) or word == w for w in _IMPORT_WORDS):
        return True
    return partial.startswith(("const ", "let ", "var ", "local ")) and "require(" not in partial


def _may_start_prose(partial: str) -> bool:
    word = partial.lower()
    return any(candidate.startswith(word) for candidate in _PROSE_WORDS)


def _partial_suffix(text: str, token: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `token`."""
    for size in range(min(len(token) - 1, len(text)), 0, -1):
        if token.startswith(text[-size:]):
            return size
    return 0


class ThinkStripper:
    """Removes `<think>...</think>` blocks, also when tags are split across chunks."""

    def __init__(self) -> None:
        self._held = ""
        self._inside = False
        self._just_closed = False

    def feed(self, chunk: str) -> str:
        text = self._held + chunk
        self._held = ""
        out: list[str] = []
        while text:
            if self._inside:
                end = text.find(THINK_CLOSE)
                if end < 0:
                    keep = _partial_suffix(text, THINK_CLOSE)
                    self._held = text[len(text) - keep :] if keep else ""
                    return "".join(out)
                text = text[end + len(THINK_CLOSE) :]
                self._inside = False
                self._just_closed = True
                continue
            if self._just_closed:
                stripped = text.lstrip()
                if not stripped:
                    return "".join(out)
                text = stripped
                self._just_closed = False
            start = text.find(THINK_OPEN)
            if start >= 0:
                out.append(text[:start])
                text = text[start + len(THINK_OPEN) :]
                self._inside = True
                continue
            keep = _partial_suffix(text, THINK_OPEN)
            out.append(text[: len(text) - keep])
            self._held = text[len(text) - keep :]
            break
        return "".join(out)

    def finish(self) -> str:
        held, self._held = self._held, ""
        return "" if self._inside else held


def enclosing_name(lines: list[str], line: int) -> str | None:
    """The name of the Python function or class whose body holds `line` (an indented prefix
    line), if the nearest less-indented line above it is that `def` or `class`."""
    if not (0 <= line < len(lines)) or lines[line][:1] not in (" ", "\t"):
        return None
    own = len(lines[line].expandtabs(4)) - len(lines[line].expandtabs(4).lstrip())
    for number in range(line - 1, -1, -1):
        text = lines[number].expandtabs(4)
        if not text.strip():
            continue
        if len(text) - len(text.lstrip()) < own:
            found = _py_defined(text.strip())
            if found:
                return found
            if text.rstrip().endswith(":") and not text.lstrip().startswith(("def ", "async ")):
                return None  # an `if`/`for` block, not a function's or class's body
    return None


_PY_DEF = re.compile(rf"^(?:(?:async\s+)?def\s+({_IDENT})\s*\(|class\s+({_IDENT})\s*[(:])")


def _py_defined(text: str) -> str | None:
    found = _PY_DEF.match(text)
    return (found.group(1) or found.group(2)) if found else None


def class_members(lines: list[str], line: int) -> frozenset[str]:
    """The names a Python class defines at the indentation of `line`, a line in its body
    (a reply that re-declares the class around a `gen:` line repeats them)."""
    if enclosing_name(lines, line) is None:
        return frozenset()
    own = lines[line][: len(lines[line]) - len(lines[line].lstrip())]
    start = line
    while start > 0 and (not lines[start].strip() or lines[start].startswith(own)):
        start -= 1
    if not lines[start].lstrip().startswith("class "):
        return frozenset()
    names = set()
    for number in range(start + 1, len(lines)):
        text = lines[number]
        if text.strip() and not text.startswith(own):
            break
        if number != line and text[len(own) : len(own) + 1] not in (" ", "\t"):
            name = _py_defined(text.strip())
            if name:
                names.add(name)
    return frozenset(names)


class EnclosingUnwrapper:
    """A `gen:` line in a function's body, and the reply rewrites that whole function (its
    `def` line and docstring, then the body): only the body lands, since the signature and
    docstring are already in the file (landing them would nest a second copy of the function
    in itself). What follows the rewritten function (usage, a `__main__` block) is dropped;
    a fence line passes on, so the line shaper still sees fences. Any other reply passes
    through unchanged and still streams: a line is held only while it may start
    `def NAME(`."""

    def __init__(self, name: str | None) -> None:
        self._name = name
        self._state = "look" if name else "pass"  # look | sig | doc | body | after | pass
        self._line = ""  # the current line, held
        self._line_sent = 0  # how much of it has been passed on
        self._def_indent = 0
        self._quote = ""

    def feed(self, chunk: str) -> str:
        if self._state == "pass":
            return chunk
        out: list[str] = []
        for char in chunk:
            self._line += char
            if char == "\n":
                out.append(self._complete())
                self._line, self._line_sent = "", 0
            elif self._state == "pass":
                out.append(self._line[self._line_sent :])
                self._line_sent = len(self._line)
            else:
                out.append(self._partial())
        return "".join(out)

    def finish(self) -> str:
        if not self._line:
            return ""
        self._line += "\n"
        tail = self._complete()
        return tail[:-1] if tail.endswith("\n") else tail

    def _indent(self, text: str) -> int:
        expanded = text.expandtabs(4)
        return len(expanded) - len(expanded.lstrip())

    def _partial(self) -> str:
        """Part of an unfinished line that can go on already."""
        text = self._line.strip()
        if self._state == "look":
            if not text or text.startswith("`"):
                return ""
            target = f"def {self._name}("
            if any(
                full.startswith(text) or text.startswith(full)
                for full in (target, "async " + target, f"class {self._name}")
            ):
                return ""  # may still be (or is) the enclosing function's def line
            self._state = "pass"
        elif self._state == "body":
            if not text or self._indent(self._line) <= self._def_indent:
                return ""
        else:
            return ""
        sent, self._line_sent = self._line_sent, len(self._line)
        return self._line[sent:]

    def _complete(self) -> str:
        line, rest = self._line, self._line[self._line_sent :]
        text = line.strip()
        if text.startswith("```"):
            return rest  # fences pass on in every state
        if self._state == "look":
            if not text:
                return rest
            if _py_defined(text) == self._name:
                self._def_indent = self._indent(line)
                self._state = "doc" if text.endswith(":") else "sig"
                return ""
            self._state = "pass"
            return rest
        if self._state == "sig":
            if text.endswith(":"):
                self._state = "doc"
            return ""
        if self._state == "doc":
            if not text:
                return ""
            if self._quote:
                if self._quote in text:
                    self._quote = ""
                    self._state = "body"
                return ""
            opener = text.lstrip("rRuUbB")
            for quote in ('"""', "'''"):
                if opener.startswith(quote):
                    if opener.count(quote) < 2:
                        self._quote = quote
                    else:
                        self._state = "body"
                    return ""
            self._state = "body"
        if self._state == "body":
            if text and self._indent(line) <= self._def_indent:
                self._state = "after"
                return ""
            return rest
        return ""  # after


class CommentWrapper:
    """Wraps comment lines at `width` characters as they stream: a word is held until the
    character after it shows where it ends, and a word that would pass the width starts a
    new comment line (`continuation`: the indentation and leader, e.g. `    # `). A single
    word wider than the width stays whole."""

    def __init__(self, width: int, continuation: str, eol: str = "\n") -> None:
        self.width = width
        self.continuation = continuation
        self.eol = eol
        self._column = 0  # characters on the current output line so far
        self._space = ""  # spaces after the last word, not yet emitted
        self._word = ""  # the word being read, not yet emitted

    def feed(self, text: str) -> str:
        out: list[str] = []
        for char in text:
            if char in "\r\n":
                out.append(self._place())
                self._space = ""  # no trailing spaces
                out.append(char)
                if char == "\n":
                    self._column = 0
            elif char in " \t":
                if self._word:
                    out.append(self._place())
                if self._column == 0 and not self._word:
                    out.append(char)  # the line's indentation
                    self._column += 0 if char == "\t" else 1
                else:
                    self._space += char
            else:
                self._word += char
        return "".join(out)

    def finish(self) -> str:
        return self._place()

    def _place(self) -> str:
        word, space = self._word, self._space
        self._word = ""
        if not word:
            return ""
        self._space = ""
        fits = self._column + len(space) + len(word) <= self.width
        if fits or self._column <= len(self.continuation):
            self._column += len(space) + len(word)
            return space + word
        self._column = len(self.continuation) + len(word)
        return self.eol + self.continuation + word


def usual_width(lines: Sequence[str], *, low: int = 72, high: int = 120) -> int:
    """The width a file's lines keep to: the 95th percentile of its non-blank lines' lengths,
    within `low..high` (80 for a file of fewer than 5 such lines)."""
    lengths = sorted(len(line.rstrip("\r\n")) for line in lines if line.strip())
    if len(lengths) < 5:
        return 80
    p95 = lengths[(len(lengths) - 1) * 95 // 100]
    return max(low, min(high, p95))


class LineShaper:
    """Fences, prose, indentation, comment wrapping, trailing blank lines, and what of a
    reply's code belongs in the file (see the module docstring).

    `mode` is `code` (gen/fix: re-indent to `indent`) or `comment` (sum: every
    line becomes a comment in the file's syntax). `eol` is the document's line
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
        mode: str = "code",
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
    ) -> None:
        self.indent = indent
        self.named = named
        self.imports: list[str] = []  # set by finish(): what goes with the file's imports
        self._import_collector = ImportCollector(file_lines)
        self._awaiting = bool(expected) and mode == "code"  # a fix: its target not given yet
        self._waiting: list[str] = []  # code held until the fix's target comes
        self._repeated: set[str] = set()  # the file's names the reply repeated (dropped)
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
        self._state = "start"  # start | prose | code | fence | skip | after | extra
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
        if mode == "comment" and width:
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
        if self._state == "prose" and self._held_lines and not self._fenced:
            held, self._held_lines = self._held_lines, []
            # A fix of a definition needs the definition: held lines never hold one (one
            # ends the holding), so there nothing of them lands.
            answer = not self.expected and not _only_sentences(held, cut)
            if self.prose_answers or answer:
                # No fence ever came: the "prose" was the answer (a text file's, or code
                # after a word like "Sure").
                self._state = "code"
                for line in held:
                    text = self._emit_line_text(line, complete=True)
                    if text:
                        self._pending_breaks += 1  # its own line end, written before the next
                    out.append(text)
            else:
                self.dropped_prose = True  # sentences and no code: nothing for a code file
        if self._state == "extra":
            out.append(self._judge_extra())
        out.append(self._resolve_held())
        self._waiting = [] if self._awaiting else self._waiting
        if self.mode == "code":
            self.imports = self._import_collector.needed(self._code_lines)
        if self._emitted_any and self.mode == "comment" and self.block_comment:
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
        if self._state == "start":
            if not line.strip():
                return ""
            if self.mode == "code" and (_PROSE_START.match(line.strip()) or is_sentence(line)):
                self._state = "prose"
                self._held_lines.append(line)
                return ""
            if self.mode == "comment" and _USAGE_LABEL.match(line.strip()):
                self._state = "after"  # "Example usage:" ends a summary
                return ""
            self._state = "code"
        elif self._state == "prose":
            text = line.strip()
            if self.mode == "code" and (defined_name(text) or is_import(text)):
                # Code after a preamble, without a fence: the preamble goes, the code streams.
                self._held_lines = []
                self._state = "code"
                return self._gate(line, final)
            self._held_lines.append(line)
            return ""
        elif self._state == "skip":
            return ""
        elif self._state == "fence" and not self._block_landed and line.strip():
            if self.mode == "code" and _OUTPUT_BLOCK.match(line.strip()):
                self._state = "skip"  # a block of program output or a traceback: not the answer
                return ""
            self._block_landed = True
        elif self.mode == "comment" and _USAGE_LABEL.match(line.strip()):
            self._state = "after"
            return ""
        elif self._state == "after":
            return ""
        elif self._state == "extra":
            self._extra.append(line)
            return ""
        elif (
            self._state == "code"
            and self.mode == "code"
            and self._top_level(line)
            and (_PROSE_START.match(line.strip()) or is_sentence(line))
        ):
            # Prose after unfenced code: the code has ended; later blocks are judged.
            self._state = "after"
            return self._resolve_held()
        return self._gate(line, final)

    def _on_fence(self, line: str) -> str:
        opened_before, self._fenced = self._fenced, True
        if self._state in ("start", "prose"):
            self._held_lines = []
            self._state = "fence"
            self._block_landed = False
        elif self._state == "skip":
            self._state = "prose"  # the answer may still come in a later block
        elif self._state == "fence":
            self._state = "after"
            return self._resolve_held()
        elif self._state == "after":
            # A later fenced block: it lands only if it belongs to the first (_judge_extra).
            self._state = "extra"
            self._extra = []
        elif self._state == "extra":
            self._state = "after"
            return self._judge_extra()
        elif not opened_before and line.strip() == FENCE and self._emitted_any:
            # Code without an opening fence, then a bare one: it closes the code.
            self._state = "after"
            return self._resolve_held()
        else:  # code, then a fence with a language: what follows is fenced code
            self._state = "fence"
        return ""

    # -- what of the code lands ---------------------------------------------
    def _top_level(self, line: str) -> bool:
        body = line.lstrip(" \t")
        lead = line[: len(line) - len(body)]
        if self._base_indent is None:
            return True
        return len(lead.expandtabs(4)) <= len(self._base_indent.expandtabs(4))

    def _gating(self) -> bool:
        return self.mode == "code" and not self.keep_usage

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
            out = self._resolve_held()
            self._held_code, self._held_usage = [line], True
            return out
        if self._held_code:
            if not top or _CLOSER.match(text):
                self._held_code.append(line)  # blank, or part of the held statement
                return ""
            if is_usage(text, self._defined):
                self._held_code.append(line)
                self._held_usage = True
                return ""
            if defined_name(text) or _DECORATOR.match(text) or is_import(text):
                return self._resolve_held() + self._emit_code(line, final)
            self._held_code.append(line)
            return ""
        if top and self._defined and not _CLOSER.match(text):
            if is_usage(text, self._defined):
                self._held_code, self._held_usage = [line], True
                return ""
            if not (defined_name(text) or _DECORATOR.match(text) or is_import(text)):
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
        if self.mode == "code" and self._import_collector.takes(line, self._top_level(line)):
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
        if self.mode != "code" or not line.strip():
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
        if not code or self.mode != "code":
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
        found = re.match(
            r"^(?:export\s+|default\s+|pub(?:\([^)]*\))?\s+|async\s+|unsafe\s+)*"
            r"(def|class|function\*?|fn|func|struct|enum|trait|interface|impl|type|const|let|var|"
            r"local)?(\s+)?([\w$]*)(.?)",
            partial,
        )
        if found is None:
            return False
        keyword, space, name, after = found.groups()
        if not keyword:
            # A keyword still being typed ("de", "clas") or a C-family line: wait for its end.
            word = partial.split()[0] if partial.split() else ""
            keywords = ("def", "class", "function", "fn", "func", "struct", "async", "export")
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
        if self._state in ("prose", "after", "extra", "skip"):
            return ""
        if self._state == "start":
            if self.mode == "code":
                if not _WORD_BOUNDARY.search(stripped) and _may_start_prose(stripped):
                    return ""  # the first word decides prose or code
                if (
                    _PROSE_START.match(stripped)
                    or _SENTENCE_SO_FAR.match(stripped)
                    or _PROSE_OPENING.match(stripped)
                ):
                    return ""  # a sentence so far: its end decides
            elif _USAGE_LABEL.match(stripped) or _may_start_usage_label(stripped):
                return ""
            self._state = "code"
        elif (
            self._state == "code"
            and self.mode == "code"
            and self._top_level(line)
            and (
                _SENTENCE_SO_FAR.match(stripped)
                or _PROSE_OPENING.match(stripped)
                or (not _WORD_BOUNDARY.search(stripped) and _may_start_prose(stripped))
                or _PROSE_START.match(stripped)
            )
        ):
            return ""  # prose after the code, or code: the line's end decides
        elif self._state == "fence" and not self._block_landed and self.mode == "code":
            if stripped[:1].isupper():
                return ""  # program output ("Traceback", "Output: ...") or code: its end decides
            self._block_landed = True
        elif self.mode == "comment" and (
            _USAGE_LABEL.match(stripped) or _may_start_usage_label(stripped)
        ):
            return ""
        if self._gating() and (self._held_code or (self._defined and self._top_level(line))):
            return ""  # a top-level line after a definition: usage or not, decided at its end
        if (
            self._gating()
            and self.existing
            and self._top_level(line)
            and self._may_repeat(stripped)
        ):
            return ""  # may define a name the file already has: its name decides
        if self.mode == "code" and (
            self._awaiting
            or self._import_collector.in_block
            or (self._top_level(line) and _may_start_import(stripped))
        ):
            return ""  # a fix's target not given yet, or an import: the line's end decides
        self._line = ""
        self._line_open = True
        self._open_head = line
        return self._emit_line_text(line, complete=False)

    def _emit_line_text(self, line: str, *, complete: bool) -> str:
        """The head of a line (its indentation decided) or a whole line."""
        if not line.strip():
            if self._emitted_any and complete:
                self._pending_breaks += 1
            return ""
        head = self._reindent(line)
        breaks = self._pending_breaks
        if self.mode == "comment":
            breaks = min(breaks, 1)  # no uncommented blank lines inside a comment
        prefix = self.eol * breaks
        self._pending_breaks = 0
        self._landed = True
        first = not self._emitted_any
        self._emitted_any = True
        if self.mode == "comment":
            head = self._as_comment(head, first)
        return prefix + head

    def _reindent(self, line: str) -> str:
        body = line.lstrip(" \t")
        lead = line[: len(line) - len(body)]
        if self._base_indent is None:
            self._base_indent = lead
        lead = lead[len(self._base_indent) :] if lead.startswith(self._base_indent) else ""
        if self.mode == "comment":
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


class OutputFilter:
    """ThinkStripper then LineShaper: feed raw model text, get buffer text."""

    def __init__(self, shaper: LineShaper, enclosing: str | None = None) -> None:
        self._think = ThinkStripper()
        self._unwrap = EnclosingUnwrapper(enclosing if shaper.mode == "code" else None)
        self._shaper = shaper

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
            mode="comment" if comment else "code",
            eol=spec.eol,
            line_comment=line_comment,
            block_comment=block_comment,
            keep_usage=wants_usage(spec.instruction),
            existing=defined_names(lines, first, last) | class_members(lines, spec.prefix_line),
            width=usual_width(lines) if comment else None,
            prose_answers=spec.prose_answers,
            expected=block_names(lines, *spec.target) if fixes and spec.target else frozenset(),
            named=named_in(spec.instruction),
            file_lines=lines,
        )
        python_insert = spec.mode is Mode.INSERT and spec.language_id == "python"
        enclosing = enclosing_name(lines, spec.prefix_line) if python_insert else None
        return cls(shaper, enclosing)

    def feed(self, chunk: str) -> str:
        return self._shaper.feed(self._unwrap.feed(self._think.feed(chunk)))

    def finish(self) -> str:
        tail = self._shaper.feed(self._unwrap.feed(self._think.finish()) + self._unwrap.finish())
        return tail + self._shaper.finish()

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
