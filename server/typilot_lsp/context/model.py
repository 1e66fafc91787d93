"""What the context package works with: the request, the open buffers, and what it returns."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence

import attrs

DEFAULT_EXCLUDE: tuple[str, ...] = (
    ".env",
    ".env.*",
    "*.env",
    ".envrc",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.kdbx",
    "*.tfvars",
    "*.tfstate",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    "_netrc",
    ".npmrc",
    ".pypirc",
    ".pgpass",
    ".git-credentials",
    ".htpasswd",
    "credentials",
    "credentials.*",
    "secrets.*",
    ".ssh/",
    ".aws/",
    ".gnupg/",
    ".docker/",
    ".git/",
)
"""Never read, whatever `context.exclude` says: gitignore syntax, matched against the path
relative to the workspace folder (as written and with symlinks resolved)."""


class DefinitionKind(str, enum.Enum):
    """What a definition is, as its language names it."""

    FUNCTION = "function"
    CLASS = "class"
    METHOD = "method"
    INTERFACE = "interface"
    TYPE = "type"
    STRUCT = "struct"
    ENUM = "enum"
    VARIABLE = "variable"
    CONSTANT = "constant"


class Rank(int, enum.Enum):
    """How directly the code at hand uses a definition (lower comes first in the prompt)."""

    DIRECT = 1
    """Named on or near the prefix line, in the target, or in the block around the line."""
    NEARBY = 2
    """Named in the rest of the code the prompt shows around the prefix line."""
    INDIRECT = 3
    """Named by the signature of a definition above: a parameter's type, a base class."""
    IMPORTED = 4
    """Named only by an import of the file (code about to be written may use it)."""


@attrs.frozen
class Definition:
    """One definition from another file, as it goes into the prompt."""

    path: str
    """Relative to its workspace folder, with forward slashes."""
    language: str
    name: str
    kind: DefinitionKind
    text: str
    """What the model sees: signature, docstring, fields; the body when it is short."""
    rank: Rank
    from_buffer: bool = False
    """Taken from a buffer open in the editor (as edited), not from the disk."""
    outline: str = ""
    """The same without bodies (signatures, docstring, fields): sent instead of `text` when
    that does not fit the budget ("" when `text` is as short as it gets)."""


@attrs.frozen
class OpenFile:
    """A document open in the editor, as edited (it wins over the file on disk)."""

    path: str
    """Absolute filesystem path (from the document's file:// URI)."""
    version: int
    language_id: str
    lines: Sequence[str]
    """The document's lines, each with its line break (a snapshot: never changed later)."""


@attrs.frozen
class ContextRequest:
    """The code at hand: where a run is, in a document as edited.

    Not the instruction: the definitions go into the prompt's stable head, which the prewarm
    sends while the user is still typing the instruction; the same code must give the same
    definitions whatever the instruction says, or the model server's cache misses."""

    path: str
    """Absolute filesystem path of the document."""
    language_id: str
    version: int
    lines: Sequence[str]
    prefix_line: int
    target: tuple[int, int] | None = None
    """First and last line of the target (fix:/sum:), inclusive."""
    window: tuple[int, int] | None = None
    """First and last line the prompt shows around the prefix line (None: a default span)."""


@attrs.frozen
class WorkspaceSnapshot:
    """The workspace folders and the open buffers, taken on the event loop before a gather."""

    folders: tuple[str, ...]
    open_files: Mapping[str, OpenFile] = attrs.field(factory=dict)
    """Keyed by absolute path."""
