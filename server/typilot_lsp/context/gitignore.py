"""Git's ignore rules for one workspace folder, read on demand, never a scan.

A path is ignored the way `git check-ignore` says: the `.gitignore` of every folder from the
workspace folder down to the file's own folder apply, a deeper one over a shallower one and a
later line over an earlier one (`!` re-includes), plus `.git/info/exclude`; a file under an
ignored folder stays ignored whatever a pattern says about it. The patterns themselves are
matched by `pathspec`'s `GitIgnoreSpec` (made to follow git's wildmatch: `**`, anchoring,
folder-only patterns, escapes): a small, pure-Python library that is easier to trust than a
matcher of our own. A `.gitignore` above the workspace folder, and the user's global excludes
file, are outside the workspace: never read.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import pathspec

ReadText = Callable[[str], str | None]
"""Reads a small text file inside the workspace (None: absent or unreadable)."""


class GitignoreCache:
    """Compiled `.gitignore` files by path, kept while their mtime and size stay the same."""

    def __init__(self) -> None:
        self._specs: dict[str, tuple[tuple[int, int], pathspec.GitIgnoreSpec]] = {}
        self._lock = threading.Lock()

    def spec(self, path: str, read: ReadText) -> pathspec.GitIgnoreSpec | None:
        try:
            info = os.stat(path)
        except OSError:
            return None
        key = (info.st_mtime_ns, info.st_size)
        with self._lock:
            cached = self._specs.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        text = read(path)
        if text is None:
            return None
        spec = pathspec.GitIgnoreSpec.from_lines(text.splitlines())
        with self._lock:
            self._specs[path] = (key, spec)
        return spec


class Gitignore:
    """Whether paths under one workspace folder are ignored (memoized for one gather)."""

    def __init__(self, root: str, cache: GitignoreCache, read: ReadText) -> None:
        self.root = root
        self._cache = cache
        self._read = read
        self._specs: dict[str, pathspec.GitIgnoreSpec | None] = {}
        self._dirs: dict[str, bool] = {}

    def _spec_in(self, folder: str) -> pathspec.GitIgnoreSpec | None:
        """The rules a folder (relative, "" for the root) holds: its .gitignore."""
        if folder not in self._specs:
            path = os.path.join(self.root, folder, ".gitignore")
            self._specs[folder] = self._cache.spec(path, self._read)
        return self._specs[folder]

    def _exclude_spec(self) -> pathspec.GitIgnoreSpec | None:
        key = "\0info/exclude"
        if key not in self._specs:
            path = os.path.join(self.root, ".git", "info", "exclude")
            self._specs[key] = self._cache.spec(path, self._read)
        return self._specs[key]

    def _decides(self, rel: str, is_dir: bool) -> bool | None:
        """The verdict of the deepest rule that matches `rel` itself (None: no rule does)."""
        parts = rel.split("/")
        folders = ["/".join(parts[:depth]) for depth in range(len(parts) - 1, -1, -1)]
        for folder in folders:  # the deepest .gitignore first: it overrides the ones above
            spec = self._spec_in(folder)
            if spec is None:
                continue
            inner = rel[len(folder) + 1 :] if folder else rel
            result = spec.check_file(inner + "/" if is_dir else inner)
            if result.include is not None:
                return bool(result.include)
        exclude = self._exclude_spec()
        if exclude is not None:
            result = exclude.check_file(rel + "/" if is_dir else rel)
            if result.include is not None:
                return bool(result.include)
        return None

    def _dir_ignored(self, rel: str) -> bool:
        if rel not in self._dirs:
            parent = rel.rpartition("/")[0]
            self._dirs[rel] = (bool(parent) and self._dir_ignored(parent)) or bool(
                self._decides(rel, is_dir=True)
            )
        return self._dirs[rel]

    def ignored(self, rel: str) -> bool:
        """`rel`: a file's path relative to the workspace folder, with forward slashes."""
        parent = rel.rpartition("/")[0]
        if parent and self._dir_ignored(parent):
            return True
        return bool(self._decides(rel, is_dir=False))
