"""Word-piece tokens, as both replay servers stream them: one token per chunk or event."""

from __future__ import annotations

import re

_TOKEN_RE = re.compile(
    r"'(?:[sdmt]|ll|ve|re)(?![^\W\d_])"  # contractions
    r"| ?[^\W\d_]+"  # letters, with one optional leading space
    r"| ?\d{1,3}"  # numbers, at most three digits a token
    r"| ?(?:[^\s\w]|_)+"  # punctuation and underscores
    r"|\s+(?!\S)|\s+"  # whitespace; the last space goes with the next word
)
_LONGEST_PIECE = 6


def tokenize(text: str) -> list[str]:
    """Split text into word-piece tokens the way a BPE tokenizer roughly does.

    Joining the tokens gives the text back exactly. Words keep their leading space, long words
    are split into pieces of at most six characters, indentation stays its own token.
    """
    tokens: list[str] = []
    for match in _TOKEN_RE.finditer(text):
        piece = match.group(0)
        body = piece.lstrip(" ")
        if len(body) > _LONGEST_PIECE and body.isalpha():
            lead = piece[: len(piece) - len(body)]
            parts = [body[i : i + _LONGEST_PIECE] for i in range(0, len(body), _LONGEST_PIECE)]
            parts[0] = lead + parts[0]
            tokens.extend(parts)
        else:
            tokens.append(piece)
    # The regex is exhaustive, but make the invariant explicit (join == text).
    if "".join(tokens) != text:  # pragma: no cover - defensive
        return list(text)
    return tokens
