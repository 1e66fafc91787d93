"""A run's other files: the definitions its code uses, gathered and cut to their share.

The prompt has one budget of characters (`runs.prompt.context_budget`). The definitions from
other files get at most `share_of(budget)` of it, half: the code around the prefix line keeps
at least the other half, and whatever the definitions leave unused. Within their share they go
in by rank (what the code at the prefix line names first) and one that does not fit is
left out whole, never cut mid-definition.

The workspace and the open buffers are taken on the event loop (`snapshot`, a copy of each
buffer's lines: the user may type while the worker thread reads them); the gather runs in a
worker thread. A gather that fails costs only the other files: the run goes on with its own.
"""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import attrs
from pygls.uris import to_fs_path

from typilot_lsp.config import ContextConfig
from typilot_lsp.context.model import ContextRequest, Definition, OpenFile, WorkspaceSnapshot
from typilot_lsp.context.render import definition_block, definitions_text, within_budget

if TYPE_CHECKING:  # the gatherer (tree-sitter, pathspec) loads at the first run that needs it
    from typilot_lsp.context.gather import ContextGatherer, ContextResult

log = logging.getLogger(__name__)


def share_of(budget: int) -> int:
    """The most characters other files' definitions may take of a prompt's budget."""
    return max(0, budget) // 2


@attrs.frozen
class OtherFiles:
    """What a run's prompt gets from other files, and what it left out."""

    text: str = ""
    """The `other_files` of the prompt: each definition under a comment naming its file."""
    chosen: tuple[Definition, ...] = ()
    left_out: tuple[Definition, ...] = ()
    """Found, but over the share of the budget."""
    share: int = 0
    """The characters the definitions could take (they took `len(text)`)."""
    refusals: Mapping[str, str] = attrs.field(factory=dict)
    """Files the code's names led to that were not read, and why."""


def choose(result: ContextResult, budget: int) -> OtherFiles:
    """The definitions of `result` that fit their share of `budget`, best ranked first."""
    share = share_of(budget)
    chosen = within_budget(result.definitions, share)
    sent = {(d.path, d.name) for d in chosen}
    left_out = tuple(d for d in result.definitions if (d.path, d.name) not in sent)
    return OtherFiles(definitions_text(chosen), tuple(chosen), left_out, share, result.refusals)


class OpenDocument(Protocol):
    """What a snapshot needs of an open document (`documents.TypilotDocument` has it)."""

    @property
    def uri(self) -> str: ...
    @property
    def version(self) -> int | None: ...
    @property
    def language_id(self) -> str | None: ...
    @property
    def lines(self) -> Sequence[str]: ...


def path_of(uri: str) -> str | None:
    """The filesystem path of a `file:` URI; None for `untitled:` and other schemes."""
    return to_fs_path(uri) if uri.startswith("file:") else None


def _folder_path(folder: str) -> str | None:
    """A workspace folder as a URI (from the editor) or a path (from the command line)."""
    return path_of(folder) if "://" in folder or folder.startswith("file:") else folder


def snapshot(folders: Iterable[str], documents: Iterable[OpenDocument]) -> WorkspaceSnapshot:
    """The workspace folders (URIs or paths) and the open buffers as edited, copied now."""
    paths = tuple(p for p in (_folder_path(f) for f in folders) if p is not None)
    buffers: dict[str, OpenFile] = {}
    for doc in documents:
        path = path_of(doc.uri)
        if path is not None:
            lines = tuple(doc.lines)
            buffers[path] = OpenFile(path, doc.version or 0, doc.language_id or "", lines)
    return WorkspaceSnapshot(paths, buffers)


async def gather_for_run(
    gatherer: ContextGatherer,
    settings: ContextConfig,
    request: ContextRequest,
    workspace: WorkspaceSnapshot,
    budget: int,
) -> OtherFiles:
    """The other files of a run's prompt (none when `context.otherFiles` is off)."""
    if not settings.other_files or share_of(budget) == 0:
        return OtherFiles()
    try:
        result = await gatherer.gather(request, workspace, settings.exclude)
    except Exception as exc:  # the run goes on with its own file, as before
        log.warning(
            "context from other files failed (%s): the run uses its own file only",
            type(exc).__name__,
        )
        log.debug("context from other files failed", exc_info=True)
        return OtherFiles()
    return choose(result, budget)


def block_chars(definition: Definition) -> int:
    """The characters one definition takes of the budget (its block and a blank line)."""
    return len(definition_block(definition)) + 1


def request_for(
    uri: str,
    language_id: str,
    version: int | None,
    lines: Sequence[str],
    prefix_line: int,
    target: tuple[int, int] | None,
) -> ContextRequest | None:
    """The code at hand of a run (None for a document that is not a file: no workspace)."""
    path = path_of(uri)
    if path is None:
        return None
    return ContextRequest(
        path=path,
        language_id=language_id,
        version=version or 0,
        lines=tuple(lines),
        prefix_line=prefix_line,
        target=target,
    )


class OtherFilesSource:
    """A host's way to other files: its workspace folders and open buffers as callables
    (read at each run, on the event loop), and one `ContextGatherer` whose caches its runs
    share, made at the first run that needs it."""

    def __init__(
        self,
        folders: Callable[[], Iterable[str]],
        documents: Callable[[], Iterable[OpenDocument]],
    ) -> None:
        self._folders = folders
        self._documents = documents
        self._gatherer: ContextGatherer | None = None

    @property
    def gatherer(self) -> ContextGatherer:
        if self._gatherer is None:
            from typilot_lsp.context.gather import ContextGatherer

            self._gatherer = ContextGatherer()
        return self._gatherer

    async def for_run(
        self, settings: ContextConfig, request: ContextRequest | None, budget: int
    ) -> OtherFiles:
        """The other files of a run's prompt, within their share of `budget`."""
        if request is None or not settings.other_files:
            return OtherFiles()
        workspace = snapshot(self._folders(), self._documents())
        return await gather_for_run(self.gatherer, settings, request, workspace, budget)


def default_workspace(path: pathlib.Path) -> pathlib.Path:
    """The workspace of a file named on the command line (`apply`, `context`): the git
    repository it is in; else the current folder if the file is in it; else its folder."""
    folder = path.resolve().parent
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    cwd = pathlib.Path.cwd().resolve()
    return cwd if folder == cwd or cwd in folder.parents else folder
