"""The voice command grammar: a transcript in, a command and its instruction out.

Pure Python, no audio and no model, so it is cheap to test and to run anywhere.

    "Generate a function that adds two numbers."  -> gen, "a function that adds two numbers"
    "Um, fix the off-by-one error, please"        -> fix, "the off-by-one error"
    "Okay so summarize this function"             -> sum, ""
    "Cancel."                                     -> cancel, ""
    "a parser for ISO dates"                      -> gen, "a parser for ISO dates"

The first meaningful word (after filler such as "um", "okay so", "please", "can you") picks the
command; the rest, with Whisper's casing kept and edge punctuation removed, is the instruction.
"gen colon ..." (a spoken prefix) works too. Anything that starts with no command word becomes a
gen: instruction made of the whole utterance. An empty transcript has no command (None).
"""

from __future__ import annotations

import re

import attrs

__all__ = ["COMMANDS", "ParsedCommand", "parse"]

COMMANDS = ("gen", "fix", "sum", "cancel")

# Spoken command words -> command. Whisper writes "gen" (said "jen") as Gen or Jen.
_VERBS: dict[str, str] = {
    **dict.fromkeys(
        ("gen", "jen", "generate", "create", "write", "make", "implement", "add"), "gen"
    ),
    **dict.fromkeys(("fix", "repair", "correct", "debug"), "fix"),
    **dict.fromkeys(
        ("sum", "summarize", "summarise", "summary", "explain", "describe", "document"), "sum"
    ),
    **dict.fromkeys(("cancel", "stop", "abort"), "cancel"),
}

# Words that carry no meaning wherever they stand in an utterance.
_FILLER_WORDS = frozenset(("um", "umm", "uh", "uhh", "uhm", "erm", "er", "ah", "hmm", "mm", "mmm"))

# Phrases skipped at the start (and "please" etc. at the end) of an utterance, longest first.
_LEADING_PHRASES: tuple[tuple[str, ...], ...] = tuple(
    sorted(
        (
            tuple(p.split())
            for p in (
                "okay so",
                "ok so",
                "okay",
                "ok",
                "alright",
                "all right",
                "so",
                "well",
                "now",
                "and",
                "then",
                "hey",
                "hey typilot",
                "typilot",
                "please",
                "can you",
                "could you",
                "would you",
                "will you",
                "can you please",
                "could you please",
                "i want you to",
                "i'd like you to",
                "i would like you to",
                "go ahead and",
                "let's",
                "lets",
                "let us",
                "try to",
                "just",
            )
        ),
        key=len,
        reverse=True,
    )
)
_TRAILING_PHRASES: tuple[tuple[str, ...], ...] = (
    ("thank", "you"),
    ("thanks",),
    ("please",),
    ("now",),
)

# What may follow "cancel"/"stop" for the utterance still to be a cancel.
_CANCEL_TAIL = frozenset(
    (
        "that",
        "it",
        "this",
        "the",
        "run",
        "runs",
        "generation",
        "generating",
        "everything",
        "all",
        "now",
        "please",
        "listening",
        "recording",
    )
)
# An instruction made only of these words says nothing beyond "the target".
_DEICTIC = frozenset(
    (
        "this",
        "that",
        "it",
        "here",
        "the",
        "code",
        "function",
        "method",
        "class",
        "block",
        "file",
        "selection",
        "snippet",
        "line",
        "lines",
        "up",
        "please",
    )
)
_WHOLE_UTTERANCE: dict[tuple[str, ...], str] = {
    ("never", "mind"): "cancel",
    ("nevermind",): "cancel",
    ("forget", "it"): "cancel",
    ("some",): "sum",  # a lone "sum" is heard as "Some."
    ("sum", "up"): "sum",
}

_WORD = re.compile(r"[A-Za-z0-9]+(?:['\u2019][A-Za-z]+)*")
_EDGE_JUNK = " \t\r\n.,;:!?-\u2013\u2014\"'\u201c\u201d\u2018\u2019()[]…"


@attrs.frozen
class ParsedCommand:
    text: str
    """The transcript as heard, trimmed."""
    command: str | None
    """gen, fix, sum or cancel (a user command's name where one was given); None: nothing said."""
    instruction: str
    """What goes after the prefix; may be empty (fix:/sum: target only, cancel)."""

    def to_json(self) -> dict[str, str | None]:
        return {"text": self.text, "command": self.command, "instruction": self.instruction}


@attrs.frozen
class _Token:
    norm: str
    start: int
    end: int


def _tokens(text: str) -> list[_Token]:
    return [
        _Token(m.group(0).lower().replace("\u2019", "'"), m.start(), m.end())
        for m in _WORD.finditer(text)
    ]


def _match_phrase(tokens: list[_Token], i: int, phrases: tuple[tuple[str, ...], ...]) -> int:
    """Length of the first phrase in `phrases` found at tokens[i:], else 0."""
    for phrase in phrases:
        n = len(phrase)
        if tuple(t.norm for t in tokens[i : i + n]) == phrase:
            return n
    return 0


def _clean_instruction(text: str) -> str:
    """Drop filler words and edge punctuation; keep the speaker's words and casing otherwise."""
    tokens = _tokens(text)
    for t in reversed(tokens):
        if t.norm in _FILLER_WORDS:
            before = text[: t.start].rstrip(" ,")
            after = text[t.end :].lstrip(" ,")
            text = f"{before} {after}" if before and after else before or after
    text = text.strip(_EDGE_JUNK)
    # Trailing politeness: "..., please." / "... thank you".
    changed = True
    while changed and text:
        changed = False
        tokens = _tokens(text)
        for phrase in _TRAILING_PHRASES:
            n = len(phrase)
            if len(tokens) > n and tuple(t.norm for t in tokens[-n:]) == phrase:
                text = text[: tokens[-n].start].strip(_EDGE_JUNK)
                changed = True
                break
    return re.sub(r"\s+", " ", text)


def parse(text: str, user_commands: tuple[str, ...] = ()) -> ParsedCommand:
    """Turn one transcript into a command.

    `user_commands` are extra command names (a user command's prefix without its colon, e.g.
    "test" for "test:") recognised as a first word like the built-in verbs.
    """
    heard = text.strip()
    tokens = [t for t in _tokens(heard) if t.norm not in _FILLER_WORDS]
    if not tokens:
        return ParsedCommand(heard, None, "")

    whole = tuple(t.norm for t in tokens)
    for phrase, meaning in _WHOLE_UTTERANCE.items():
        trailing = whole[len(phrase) :]
        if whole[: len(phrase)] == phrase and all(w in _CANCEL_TAIL for w in trailing):
            return ParsedCommand(heard, meaning, "")

    i = 0
    while i < len(tokens):
        n = _match_phrase(tokens, i, _LEADING_PHRASES)
        if n == 0 or i + n >= len(tokens):
            break
        i += n

    first = tokens[i]
    extra = {name.lower(): name for name in user_commands}
    command = extra.get(first.norm) or _VERBS.get(first.norm)
    if command is None:
        return ParsedCommand(heard, "gen", _clean_instruction(heard[first.start :]))

    rest_tokens = tokens[i + 1 :]
    rest_start = first.end
    # "gen colon ..." / "fix: ..." / "sum up ...".
    joiner = ("colon", "up") if command == "sum" else ("colon",)
    if rest_tokens and rest_tokens[0].norm in joiner:
        rest_start = rest_tokens[0].end
        rest_tokens = rest_tokens[1:]

    if command == "cancel":
        if all(t.norm in _CANCEL_TAIL for t in rest_tokens):
            return ParsedCommand(heard, "cancel", "")
        # "stop the server when the queue is empty" is an instruction, not a cancel.
        return ParsedCommand(heard, "gen", _clean_instruction(heard[first.start :]))

    if first.norm in ("write", "make", "add", "create", "implement") and not rest_tokens:
        # A lone verb names nothing to write: keep it as the instruction.
        return ParsedCommand(heard, "gen", _clean_instruction(heard[first.start :]))

    instruction = _clean_instruction(heard[rest_start:])
    if command in ("fix", "sum") and all(t.norm in _DEICTIC for t in _tokens(instruction)):
        instruction = ""
    return ParsedCommand(heard, command, instruction)
