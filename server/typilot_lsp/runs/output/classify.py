"""What a line of a reply is: a definition, an import, usage, a sentence of prose.

One place for every pattern the output filter judges lines by; the keywords that start a
definition are listed once per language family (`DEFINITION_KEYWORDS`).
"""

from __future__ import annotations

import re

FENCE = "```"

# First words that mark a chatty preamble rather than code.
PROSE_START = re.compile(
    r"^(here|here's|sure|certainly|below|okay|ok|of course|absolutely|great|i'll|i will|i've|"
    r"this (code|function|snippet|implementation|is)|the (following|code|function|corrected|fixed)|"
    r"to (do|fix|implement|achieve)|let's|let me)\b",
    re.IGNORECASE,
)
WORD_BOUNDARY = re.compile(r"[\s,.:;!?']")

# -- what a top-level line of code is (see the module docstring) ---------------------------
IDENT = r"[A-Za-z_$][\w$]*"
# The keywords that open a definition, once per language family. A reply may be in another
# language than its file (a snippet in a Markdown file), so a line is judged by all of them.
DEFINITION_KEYWORDS: dict[str, tuple[str, ...]] = {
    "python": ("def", "class"),
    "javascript": ("function", "function*", "class", "interface", "type", "enum"),
    "go": ("func", "type", "struct", "interface"),
    "rust": ("fn", "struct", "enum", "trait", "impl", "type"),
    "c": ("struct", "enum", "class", "interface"),
    "lua": ("function", "local function"),
    "ruby": ("def", "class", "module"),
}
# A name bound to a function value (`const f = (x) => ...`) or a plain value.
VALUE_KEYWORDS = ("const", "let", "var", "local")
DEFINITION_WORDS = tuple(
    sorted(
        {word for words in DEFINITION_KEYWORDS.values() for word in words},
        key=lambda w: (-len(w), w),
    )
)
_DEFINITION_WORDS = "|".join(re.escape(word).replace(r"\ ", r"\s+") for word in DEFINITION_WORDS)
_DEFINITION = re.compile(
    r"^(?:export\s+)?(?:default\s+)?(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?(?:unsafe\s+)?"
    rf"(?:{_DEFINITION_WORDS})"
    rf"\s+(?:\([^)]*\)\s*)?({IDENT}(?:[.:]{IDENT})?)"
)
_FUNCTION_VALUE = re.compile(
    rf"^(?:export\s+)?(?:const|let|var|local)\s+({IDENT})\s*=\s*(?:async\s+)?"
    rf"(?:function\b|\([^)]*\)\s*=>|{IDENT}\s*=>)"
)
# A C-family signature: a type, a name, parameters, maybe the opening brace.
_SIGNATURE = re.compile(
    rf"^(?:[\w<>\[\],:*&]+\s+)+[*&]*({IDENT})\s*\([^;]*\)\s*(?:const\s*)?(?:throws [\w, ]+)?\{{?$"
)
_NOT_TYPES = {"return", "else", "if", "while", "for", "switch", "case", "new", "await", "throw"}
DECORATOR = re.compile(r"^@[\w.]+")
CLOSER = re.compile(r"^[)}\]]+[;,)]*$")
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
USAGE_LABEL = re.compile(
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


def may_start_usage_label(partial: str) -> bool:
    word = partial.lstrip("#/-* ").lower()
    return bool(word) and " " not in word and any(w.startswith(word) for w in _USAGE_WORDS)


_NAMED_CALL = re.compile(rf"({IDENT})\s*\(")


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


_CALL = re.compile(
    rf"^(?:(?:let|const|var|local|auto|int|val)\s+)?(?:[\w.\[\], ]+\s*:?=\s*)?(?:await\s+)?"
    rf"(?:new\s+)?({IDENT}(?:(?:\.|::){IDENT})*)\s*[(!]"
)
"""A statement that calls something: `x = a.b(`, `await f(`, `new C(`, `m!(`."""


def is_usage(line: str, defined: set[str]) -> bool:
    """A top-level line that shows how to use the code rather than being part of it."""
    text = line.strip()
    if (
        _OUTPUT_CALL.match(text)
        or _MAIN_GUARD.match(text)
        or _BARE_VALUE.match(text)
        or USAGE_LABEL.match(text)
        or _REPL.match(text)
        or text.startswith(("assert ", "assert("))
        or text.lower().startswith("output:")
    ):
        return True
    if defined_name(text) == "main":
        return True
    call = _CALL.match(text)
    return bool(call and any(part in defined for part in re.split(r"\.|::", call.group(1))))


# First words of those preambles: a first token that cannot begin one of them is code at once.
_PROSE_WORDS = (
    "here", "here's", "sure", "certainly", "below", "okay", "ok", "of", "absolutely", "great",
    "i'll", "i", "i've", "this", "the", "to", "let's", "let",
)  # fmt: skip


# A line of prose that opens a reply: "The code to fix is:", "Output:", "This is a simple ...".
_SENTENCE = re.compile(r"^[A-Z][A-Za-z']*(?:[ ,]+[\w'`,.:;!?\-]+)*[.:!?]?$")
# ...and while it is still coming: a capitalised word and plain words, nothing code-like yet.
SENTENCE_SO_FAR = re.compile(r"^[A-Z][A-Za-z']*(?:[ ,]+[\w'`,.:;!?\-]*)*:?$")
# A fenced block that shows the program's output or an error, not code.
OUTPUT_BLOCK = re.compile(r"^(?:Traceback\b|Output\b|Result\b|Exception\b|\w*Error\b[:(])")


# English that quotes code: "You can use the `re` module to remove the `\\` from ...",
# "The function is returning the correct result for x = 1, which is True." A capitalised word
# and a lower-case one open it (code seldom does), and it is mostly letters.
PROSE_OPENING = re.compile(r"^[A-Z][a-z']*,? [a-z]")
_ENGLISH_WORD = re.compile(r"[A-Za-z][A-Za-z']*")


def is_sentence(line: str) -> bool:
    text = line.strip()
    if _SENTENCE.match(text):
        return text.endswith(":") or len(text.split()) >= 3
    if not PROSE_OPENING.match(text) or len(_ENGLISH_WORD.findall(text)) < 5:
        return False
    return sum(c.isalpha() or c == " " for c in text) >= 0.8 * len(text)


def only_sentences(lines: list[str], cut: str) -> bool:
    """Whether `lines` are all sentences; after others, the last may be `cut`: the reply ended
    inside it, as a sentence so far."""
    text = [line for line in lines if line.strip()]
    if len(text) > 1 and cut and text[-1] == cut:
        head = cut.strip()
        if SENTENCE_SO_FAR.match(head) or PROSE_OPENING.match(head):
            text.pop()
    return all(is_sentence(line) for line in text)


_IMPORT_WORDS = ("import", "from", "#include", "using", "use", "require", "package", "extern")


def may_start_import(partial: str) -> bool:
    """Whether a partial line may still be an import (`imp`, `from x`, `const fs = req`)."""
    word = partial.split()[0] if partial.split() else partial
    if any(w.startswith(word) or word == w for w in _IMPORT_WORDS):
        return True
    return partial.startswith(("const ", "let ", "var ", "local ")) and "require(" not in partial


def may_be_sentence(partial: str) -> bool:
    """Whether a partial line may still be a sentence of prose: its first word, or a sentence
    so far."""
    if not WORD_BOUNDARY.search(partial) and may_start_prose(partial):
        return True
    return bool(
        PROSE_START.match(partial) or SENTENCE_SO_FAR.match(partial) or PROSE_OPENING.match(partial)
    )


def may_start_prose(partial: str) -> bool:
    word = partial.lower()
    return any(candidate.startswith(word) for candidate in _PROSE_WORDS)


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
            found = py_defined(text.strip())
            if found:
                return found
            if text.rstrip().endswith(":") and not text.lstrip().startswith(("def ", "async ")):
                return None  # an `if`/`for` block, not a function's or class's body
    return None


_PY_DEF = re.compile(rf"^(?:(?:async\s+)?def\s+({IDENT})\s*\(|class\s+({IDENT})\s*[(:])")


def py_defined(text: str) -> str | None:
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
            name = py_defined(text.strip())
            if name:
                names.add(name)
    return frozenset(names)
