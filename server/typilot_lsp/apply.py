"""`typilot-lsp apply FILE [--dry-run]`: every prefixed line of a file, without an editor.

The runs go through the same `RunManager` and streaming engine as in an editor. The
"editor" here is a headless host: its `DocumentEditor` applies each versioned
`TextDocumentEdit` to the in-memory document and reports it back at once, the way an
editor echoes an applied edit with `didChange`. Lines run one after another, bottom-up,
so a run never moves the prefixed lines still to come. A run that fails leaves its line as
it was (no half-written code: nobody is watching it stream). The file is written back only at
the end (same encoding, BOM and line breaks, atomically), or printed with `--dry-run`.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import contextlib
import os
import pathlib
import shutil
import sys
import tempfile
import time
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TextIO

import attrs
from lsprotocol import types

from typilot_lsp.comments import language_from_path
from typilot_lsp.config import Config
from typilot_lsp.context.for_run import OtherFilesSource, default_workspace
from typilot_lsp.context.model import ContextRequest
from typilot_lsp.documents import TypilotDocument
from typilot_lsp.errors import TypilotError
from typilot_lsp.prefixes import PrefixMatcher
from typilot_lsp.runs.engine import DocumentEditor
from typilot_lsp.runs.host import BackendSlot
from typilot_lsp.runs.manager import RunManager
from typilot_lsp.runs.model import Outcome, Run
from typilot_lsp.user_settings import load_settings

if TYPE_CHECKING:
    from typilot_lsp.backends.base import Backend
    from typilot_lsp.history import AsyncHistory

ENCODING = "utf-32"  # positions in code points: no conversion needed in memory
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


class ApplyError(TypilotError):
    """`apply` cannot start: unreadable file, bad settings file, ..."""


@attrs.frozen
class SourceFile:
    text: str
    encoding: str
    bom: bytes


def read_source(path: pathlib.Path) -> SourceFile:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ApplyError(f"cannot read {path}: {exc.strerror or exc}.") from exc
    found_bom, encoding = next(
        ((bom, name) for bom, name in _BOMS if raw.startswith(bom)), (b"", "utf-8")
    )
    body = raw[len(found_bom) :]
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ApplyError(
            f"{path} is not {encoding.upper()} text (byte {exc.start} "
            f"cannot be decoded). Convert it first, e.g. `iconv -f LATIN1 -t UTF-8`; apply "
            "reads UTF-8, and UTF-16/UTF-32 with a byte order mark."
        ) from exc
    if "\x00" in text and encoding == "utf-8":
        raise ApplyError(f"{path} looks binary (it contains NUL bytes).")
    return SourceFile(text, encoding, found_bom)


def write_source(path: pathlib.Path, source: SourceFile, text: str) -> None:
    """Replace the file atomically, keeping its encoding, BOM and permissions."""
    data = source.bom + text.encode(source.encoding)
    folder = path.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".typilot", dir=folder)
    tmp = pathlib.Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def load_config(args: argparse.Namespace, err: TextIO) -> Config:
    loaded = load_settings(
        getattr(args, "settings", None),
        backend=getattr(args, "backend", None),
        host=getattr(args, "host", None),
        model=getattr(args, "model", None),
    )
    if loaded.failure:
        raise ApplyError(loaded.failure)
    for error in loaded.errors:
        print(f"typilot-lsp apply: settings: {error}", file=err)
    return loaded.config


class LineProgress:
    """A run's `Progress` on stderr: a live line on a terminal, begin/end lines otherwise."""

    def __init__(self, host: HeadlessHost, label: str) -> None:
        self.host = host
        self.label = label
        self.started = time.monotonic()

    def _line(self, text: str, final: bool) -> None:
        err = self.host.err
        if self.host.live:
            if final:
                err.write("\r\x1b[K" + text + "\n")
            else:  # one terminal line, rewritten in place
                width = shutil.get_terminal_size((100, 20)).columns - 1
                err.write("\r\x1b[K" + (text if len(text) <= width else text[: width - 1] + "…"))
        else:
            err.write(text + "\n")
        err.flush()

    async def begin(self, run: Run) -> None:
        self._line(f"{self.label} ...", final=False)

    def report(self, run: Run, message: str) -> None:
        if self.host.live:
            self._line(f"{self.label} ... {message}", final=False)

    async def end(self, run: Run, outcome: Outcome, error: str | None) -> None:
        seconds = time.monotonic() - self.started
        writer = run.writer
        edits = writer.edits if writer is not None else 0
        detail = f"{run.stats.token_count} tokens, {edits} edits, {seconds:.1f} s"
        mark = "FAILED" if outcome is Outcome.ERROR else outcome.value
        self._line(f"{self.label} ... {mark} ({detail})", final=True)


class HeadlessHost:
    """The `RunHost` of `apply`: one process, no editor (edits are applied and echoed here)."""

    def __init__(
        self,
        config: Config,
        err: TextIO,
        backend: BackendSlot | None = None,
        folders: Sequence[str] = (),
    ) -> None:
        self.config = config
        self.err = err
        self.live = err.isatty()
        self.documents: dict[str, TypilotDocument] = {}
        self.editors: dict[str, DocumentEditor] = {}
        self.history: AsyncHistory | None = None
        self.messages: list[str] = []
        self.label = ""
        self._backend = backend or BackendSlot()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.context_source = OtherFilesSource(lambda: folders, lambda: self.documents.values())

    @property
    def encoding(self) -> str:
        return ENCODING

    @property
    def backend(self) -> Backend:
        return self._backend.get(self.config)

    def open(self, uri: str, language_id: str, text: str) -> TypilotDocument:
        matcher = PrefixMatcher.build(
            language_id, self.config.prefixes, self.config.commands.keys()
        )
        doc = TypilotDocument(uri, text, 1, language_id, matcher)
        self.documents[uri] = doc
        return doc

    def document(self, uri: str) -> TypilotDocument | None:
        return self.documents.get(uri)

    async def other_files(self, code: ContextRequest | None, budget: int) -> str:
        found = await self.context_source.for_run(self.config.context, code, budget)
        return found.text

    def editor_for(self, doc: TypilotDocument) -> DocumentEditor:
        editor = self.editors.get(doc.uri)
        if editor is None or editor.doc is not doc:

            async def send(
                params: types.ApplyWorkspaceEditParams,
            ) -> types.ApplyWorkspaceEditResult:
                return self._apply_edit(params)

            editor = DocumentEditor(doc, send, ENCODING)
            self.editors[doc.uri] = editor
        return editor

    def _apply_edit(self, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        """Apply an edit like an editor would, then report it back like its didChange."""
        for change in params.edit.document_changes or []:
            if not isinstance(change, types.TextDocumentEdit):
                return types.ApplyWorkspaceEditResult(
                    applied=False, failure_reason="only text document edits are supported"
                )
            doc = self.documents.get(change.text_document.uri)
            if doc is None:
                return types.ApplyWorkspaceEditResult(applied=False, failure_reason="no document")
            version = change.text_document.version
            if version is not None and version != doc.version:
                return types.ApplyWorkspaceEditResult(
                    applied=False, failure_reason="document version changed"
                )
            # The edits of one TextDocumentEdit all refer to the text before it: last first.
            edits = [e for e in change.edits if isinstance(e, types.TextEdit)]
            edits.sort(key=lambda e: (e.range.start.line, e.range.start.character), reverse=True)
            for edit in edits:
                rng = edit.range
                doc.apply_edit(
                    (rng.start.line, rng.start.character),
                    (rng.end.line, rng.end.character),
                    edit.new_text,
                    ENCODING,
                )
            doc.finish_changes(doc.version + 1)
        return types.ApplyWorkspaceEditResult(applied=True)

    def progress_for(self, run: Run) -> LineProgress:
        return LineProgress(self, self.label)

    def show_message(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        self.messages.append(message)
        if self.live:
            self.err.write("\r\x1b[K")
        self.err.write(f"typilot-lsp apply: {message}\n")
        self.err.flush()

    async def before_request(self, run: Run) -> None:
        """`apply` sends nothing ahead of a run: nobody types between its runs."""

    def run_task(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        backend = self._backend.take()
        if backend is not None:
            await backend.aclose()
        if self.history is not None:
            await self.history.aclose()


def _start_history(host: HeadlessHost) -> None:
    try:
        from typilot_lsp.history import AsyncHistory

        host.history = AsyncHistory(
            host.config.history, warn=lambda message: host.show_message(message)
        )
    except Exception as exc:  # the history must never fail a run
        host.show_message(f"history unavailable ({type(exc).__name__}); runs are not recorded")


async def apply_file(
    path: pathlib.Path,
    config: Config,
    language_id: str,
    text: str,
    err: TextIO,
    folders: Sequence[str] = (),
) -> tuple[str, int, int]:
    """Run every prefixed line; returns (new text, runs that worked, runs that failed).
    `folders`: the workspace other files' definitions may come from (none: the file alone)."""
    host = HeadlessHost(config, err, folders=folders)
    runs = RunManager(host)
    uri = path.resolve().as_uri()
    doc = host.open(uri, language_id, text)
    originals = dict(doc.prefixed)
    lines = sorted(originals, reverse=True)
    if not lines:
        prefixes = ", ".join(config.prefixes.values())
        print(f"typilot-lsp apply: no prefixed lines ({prefixes}) in {path}.", file=err)
        return text, 0, 0
    _start_history(host)
    ok = failed = 0
    try:
        # One check before touching anything: the server reachable, model present and allowed.
        await host.backend.prepare(config.model)
        total = len(lines)
        for index, line in enumerate(lines, 1):
            match = doc.prefixed.get(line)
            if match is None or match != originals[line]:
                print(
                    f"typilot-lsp apply: line {line + 1} was part of what a fix: below it "
                    "rewrote; skipped.",
                    file=err,
                )
                continue
            title = match.command.rstrip(":")
            instruction = match.instruction
            if len(instruction) > 48:
                instruction = instruction[:47] + "…"
            host.label = f"[{index}/{total}] line {line + 1} {title}: {instruction}".rstrip(": ")
            before = doc.text
            run = await runs.start(uri, line, source="cli")
            result = await run.result()
            if result.outcome is Outcome.DONE:
                ok += 1
                continue
            failed += 1
            if doc.text != before:
                # Unlike in an editor, nobody watches the half-written code: drop it.
                doc.apply_edit(None, None, before, ENCODING)
                doc.finish_changes(doc.version + 1)
                print(
                    f"typilot-lsp apply: line {line + 1} was left as it was.",
                    file=err,
                )
    finally:
        await host.aclose()
    return doc.text, ok, failed


def workspace_of(args: argparse.Namespace, path: pathlib.Path) -> list[str]:
    """`--workspace DIR`s, else the file's git repository (or the current folder)."""
    return list(getattr(args, "workspace", None) or [str(default_workspace(path))])


def main(args: argparse.Namespace) -> int:
    err = sys.stderr
    path = pathlib.Path(args.file)
    try:
        config = load_config(args, err)
        source = read_source(path)
        language_id = args.language or language_from_path(str(path))
        folders = [str(pathlib.Path(f).resolve()) for f in workspace_of(args, path)]
        new_text, ok, failed = asyncio.run(
            apply_file(path, config, language_id, source.text, err, folders)
        )
    except TypilotError as exc:
        print(f"typilot-lsp apply: {exc}", file=err)
        return 1
    if args.dry_run:
        sys.stdout.write(new_text)
        sys.stdout.flush()
    elif new_text != source.text:
        try:
            write_source(path, source, new_text)
        except OSError as exc:
            print(f"typilot-lsp apply: cannot write {path}: {exc.strerror or exc}.", file=err)
            return 1
        print(f"typilot-lsp apply: wrote {path} ({ok} of {ok + failed} runs).", file=err)
    if failed:
        print(
            f"typilot-lsp apply: {failed} of {ok + failed} runs failed; see the messages above.",
            file=err,
        )
        return 1
    return 0
