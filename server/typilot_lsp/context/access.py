"""The one way the context package reaches files: open buffers first, then the disk, gated.

Every file another file's definitions could come from passes `WorkspaceFiles`, which decides
before it opens anything:

1. the path, as written and with its symlinks resolved, lies under a workspace folder (no
   `..` or symlink escapes); nothing outside one is even looked at;
2. it matches none of the secret patterns (`DEFAULT_EXCLUDE`, always) nor the user's
   `context.exclude` (added to them), as written nor as resolved;
3. on disk only: the workspace's `.gitignore` files do not ignore it (an open buffer is
   what the user is editing, so it may be used);
4. it is a regular file of at most `MAX_FILE_BYTES`, not named like minified code.

What is read must then be UTF-8 text without NUL bytes and not minified (lines of code, not
one long line). A refused file is never opened; the reason is kept in `refusals` (for
`typilot-lsp context` and the tests).
"""

from __future__ import annotations

import enum
import os
import stat
import threading
from collections.abc import Iterable, Sequence

import attrs
import pathspec

from typilot_lsp.context.gitignore import Gitignore, GitignoreCache
from typilot_lsp.context.model import DEFAULT_EXCLUDE, OpenFile, WorkspaceSnapshot

MINIFIED_NAMES: tuple[str, ...] = ("*.min.js", "*.min.mjs", "*.min.css", "*.bundle.js", "*.map")
MAX_FILE_BYTES = 512 * 1024
"""A larger file is generated or vendored, not code a person wrote for this one to use."""
MAX_DIR_ENTRIES = 1000
"""At most this many entries of one folder are looked at (a Go package's files)."""
MINIFIED_LINE_CHARS = 1000
"""A line this long in the first lines of a file: minified or generated."""


class Refusal(str, enum.Enum):
    """Why a file was not used."""

    OUTSIDE = "outside the workspace folders"
    EXCLUDED = "matches context.exclude or a secret pattern"
    GITIGNORED = "ignored by .gitignore"
    NOT_A_FILE = "not a regular file"
    TOO_LARGE = "larger than the size bound"
    BINARY = "not UTF-8 text"
    MINIFIED = "minified"


@attrs.frozen
class SourceText:
    """A file's text, from the buffer as edited or from the disk."""

    path: str
    """Absolute path, symlinks resolved."""
    folder: str
    rel: str
    """Relative to `folder`, with forward slashes."""
    text: str
    key: tuple[object, ...]
    """Changes whenever the text may have: (version) of a buffer, (mtime, size) on disk."""
    from_buffer: bool


def _compile(patterns: Iterable[str]) -> pathspec.GitIgnoreSpec:
    good = []
    for pattern in patterns:
        try:
            pathspec.GitIgnoreSpec.from_lines([pattern])
        except Exception:  # a bad pattern costs only itself (config.py reports it)
            continue
        good.append(pattern)
    return pathspec.GitIgnoreSpec.from_lines(good)


class ExcludeRules:
    """The secret patterns and the user's `context.exclude`, compiled once per settings."""

    def __init__(self, user_patterns: Sequence[str] = ()) -> None:
        self.user_patterns = tuple(user_patterns)
        self._always = _compile(DEFAULT_EXCLUDE)
        self._minified = _compile(MINIFIED_NAMES)
        self._user = _compile(p for p in self.user_patterns if p not in DEFAULT_EXCLUDE)

    def refusal(self, rel: str) -> Refusal | None:
        if self._always.match_file(rel) or self._user.match_file(rel):
            return Refusal.EXCLUDED
        if self._minified.match_file(rel):
            return Refusal.MINIFIED
        return None


def looks_minified(text: str) -> bool:
    """Long lines at the top: a bundle, minified or generated code."""
    for count, line in enumerate(text.split("\n", 50)):
        if count >= 50:
            break
        if len(line) > MINIFIED_LINE_CHARS:
            return True
    return False


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


@attrs.frozen
class _Place:
    path: str
    folder: str
    rel: str


class DiskCache:
    """Files read from disk, kept while their mtime and size stay the same (across gathers)."""

    def __init__(self, limit: int = 512) -> None:
        self.limit = limit
        self._texts: dict[str, tuple[tuple[int, int], str | Refusal]] = {}
        self._lock = threading.Lock()
        self.gitignores = GitignoreCache()

    def get(self, path: str, key: tuple[int, int]) -> str | Refusal | None:
        with self._lock:
            found = self._texts.get(path)
        return found[1] if found is not None and found[0] == key else None

    def put(self, path: str, key: tuple[int, int], value: str | Refusal) -> None:
        with self._lock:
            if len(self._texts) >= self.limit:
                self._texts.pop(next(iter(self._texts)))
            self._texts[path] = (key, value)


class WorkspaceFiles:
    """The files one gather may use (one per gather; the caches behind it are shared)."""

    def __init__(self, snapshot: WorkspaceSnapshot, rules: ExcludeRules, disk: DiskCache) -> None:
        self.folders = tuple(os.path.normpath(f) for f in snapshot.folders)
        self._real_folders = tuple(os.path.realpath(f) for f in self.folders)
        self.open_files: dict[str, OpenFile] = {
            os.path.normpath(path): doc for path, doc in snapshot.open_files.items()
        }
        self.rules = rules
        self.disk = disk
        self.refusals: dict[str, Refusal] = {}
        self._gitignores: dict[str, Gitignore] = {}
        self._places: dict[str, _Place | None] = {}
        self._listings: dict[tuple[str, tuple[str, ...]], list[str]] = {}

    # -- where a path is --------------------------------------------------------------
    def _folder_of(self, path: str, folders: Sequence[str]) -> str | None:
        inside = [f for f in folders if _under(path, f)]
        return max(inside, key=len) if inside else None

    def _place(self, path: str) -> _Place | None:
        """Checks 1 and 2: inside a folder and not excluded, as written and resolved."""
        path = os.path.normpath(path)
        if path in self._places:
            return self._places[path]
        place = None
        folder = self._folder_of(path, self.folders)
        if folder is None:
            self.refusals[path] = Refusal.OUTSIDE
        elif self._refused(path, _rel(path, folder)):
            pass
        else:
            real = os.path.realpath(path)
            real_folder = self._folder_of(real, self._real_folders)
            if real_folder is None:
                self.refusals[path] = Refusal.OUTSIDE
            elif not self._refused(path, _rel(real, real_folder)):
                place = _Place(real, real_folder, _rel(real, real_folder))
        self._places[path] = place
        return place

    def _refused(self, path: str, rel: str) -> bool:
        refusal = self.rules.refusal(rel)
        if refusal is not None:
            self.refusals[path] = refusal
        return refusal is not None

    def _open_file(self, path: str, place: _Place) -> OpenFile | None:
        return self.open_files.get(os.path.normpath(path)) or self.open_files.get(place.path)

    def inside(self, path: str) -> bool:
        """Whether `path` lies under a workspace folder (no check of what it is)."""
        return self._folder_of(os.path.normpath(path), self.folders) is not None

    # -- asking without reading -------------------------------------------------------
    def is_file(self, path: str) -> bool:
        """Whether `path` is a file this gather may read (an open buffer, or on disk)."""
        place = self._place(path)
        if place is None:
            return False
        if self._open_file(path, place) is not None:
            return True
        return os.path.isfile(place.path)

    def list_dir(self, folder: str, suffixes: tuple[str, ...]) -> list[str]:
        """Files of one folder ending in `suffixes`, open buffers included (bounded); listed
        once per gather (a Go package is asked for each name it may define)."""
        key = (os.path.normpath(folder), suffixes)
        if key not in self._listings:
            self._listings[key] = self._list_dir(*key)
        return list(self._listings[key])

    def _list_dir(self, folder: str, suffixes: tuple[str, ...]) -> list[str]:
        names: set[str] = set()
        if self._folder_of(folder, self.folders) is None:
            return []
        real = os.path.realpath(folder)
        if self._folder_of(real, self._real_folders) is None:
            return []
        try:
            with os.scandir(folder) as entries:
                for count, entry in enumerate(entries):
                    if count >= MAX_DIR_ENTRIES:
                        break
                    if entry.name.endswith(suffixes):
                        names.add(os.path.join(folder, entry.name))
        except OSError:
            pass
        for path in self.open_files:
            if os.path.dirname(path) == folder and path.endswith(suffixes):
                names.add(path)
        return sorted(names)

    # -- reading ----------------------------------------------------------------------
    def read(self, path: str) -> SourceText | None:
        """The text of `path` if every check passes; None (and a refusal) if not."""
        place = self._place(path)
        if place is None:
            return None
        buffer = self._open_file(path, place)
        if buffer is not None:
            text = "".join(buffer.lines)
            if len(text) > MAX_FILE_BYTES:
                return self._refuse(path, Refusal.TOO_LARGE)
            if looks_minified(text):
                return self._refuse(path, Refusal.MINIFIED)
            key = ("buffer", buffer.version, hash(text))
            return SourceText(place.path, place.folder, place.rel, text, key, True)
        if self._gitignore(place.folder).ignored(place.rel):
            return self._refuse(path, Refusal.GITIGNORED)
        return self._read_disk(path, place)

    def _read_disk(self, path: str, place: _Place) -> SourceText | None:
        try:
            info = os.stat(place.path)
        except OSError:
            return None
        if not stat.S_ISREG(info.st_mode):
            return self._refuse(path, Refusal.NOT_A_FILE)
        if info.st_size > MAX_FILE_BYTES:
            return self._refuse(path, Refusal.TOO_LARGE)
        key = (info.st_mtime_ns, info.st_size)
        value = self.disk.get(place.path, key)
        if value is None:
            value = _load(place.path)
            if value is None:
                return None
            self.disk.put(place.path, key, value)
        if isinstance(value, Refusal):
            return self._refuse(path, value)
        return SourceText(place.path, place.folder, place.rel, value, ("disk", *key), False)

    def _refuse(self, path: str, reason: Refusal) -> SourceText | None:
        """Keeps why `path` was not used; returns None (no text) for `read`'s callers."""
        self.refusals[os.path.normpath(path)] = reason
        return None

    def _gitignore(self, folder: str) -> Gitignore:
        found = self._gitignores.get(folder)
        if found is None:
            found = Gitignore(folder, self.disk.gitignores, _read_small_text)
            self._gitignores[folder] = found
        return found


def _rel(path: str, folder: str) -> str:
    return os.path.relpath(path, folder).replace(os.sep, "/")


def _load(path: str) -> str | Refusal | None:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_FILE_BYTES:
        return Refusal.TOO_LARGE
    if b"\0" in data:
        return Refusal.BINARY
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Refusal.BINARY
    return Refusal.MINIFIED if looks_minified(text) else text


def _read_small_text(path: str) -> str | None:
    """A `.gitignore` (a file inside the workspace; read only to honour it)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES)
    except OSError:
        return None
    return data.decode("utf-8", errors="replace")
