"""A test editor: the real server over stdio, driven by pytest-lsp's LanguageClient.

`Editor` keeps the client's copy of each document, applies the server's
`workspace/applyEdit` requests to it the way real editors do (a versioned edit
against a stale version is rejected, like VS Code), echoes every applied edit
back as `didChange`, and lets a test type into the document while runs stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Union

from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client

SERVER_CMD = [sys.executable, "-m", "typilot_lsp"]


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_keep(text: str) -> list[str]:
    lines, start, i = [], 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "\r" and i + 1 < len(text) and text[i + 1] == "\n":
            lines.append(text[start : i + 2])
            i += 2
            start = i
            continue
        if ch in "\r\n":
            lines.append(text[start : i + 1])
            start = i + 1
        i += 1
    lines.append(text[start:])
    return lines


def offset_of(text: str, line: int, character: int) -> int:
    """LSP position (UTF-16) -> offset in `text`."""
    lines = split_keep(text)
    line = min(line, len(lines) - 1)
    base = sum(len(x) for x in lines[:line])
    content = lines[line].rstrip("\r\n")
    units = 0
    for i, ch in enumerate(content):
        if units >= character:
            return base + i
        units += 2 if ord(ch) > 0xFFFF else 1
    return base + len(content)


def position_of(text: str, offset: int) -> types.Position:
    lines = split_keep(text[:offset])
    return types.Position(line=len(lines) - 1, character=_utf16_len(lines[-1]))


class Doc:
    def __init__(self, uri: str, language_id: str, text: str) -> None:
        self.uri = uri
        self.language_id = language_id
        self.text = text
        self.version = 1


class Editor:
    """The client side of one session."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.docs: dict[str, Doc] = {}
        self.applied_edits: list[types.ApplyWorkspaceEditParams] = []
        self.rejected_edits = 0
        self.before_apply: Callable[[Doc, types.TextDocumentEdit], None] | None = None
        """Hook run before an edit is applied: a test can 'type' here to race the server."""
        self.echo_delay = 0.0
        self.echo_mode = "same"
        """How applied edits are reported back: `same` (the edit's own ranges, like VS Code),
        `diff` (a minimal diff of old and new text, like Neovim's incremental sync) or
        `full` (the whole text)."""
        self.change_events: list[float] = []
        self.applied_at: list[float] = []
        """When (``time.time()``) each ``workspace/applyEdit`` was answered: benchmarks compare
        it with the replay server's event times."""
        self._changed = asyncio.Event()
        self.init_result: types.InitializeResult | None = None
        """The server's answer to `initialize` (capabilities, serverInfo)."""

    # -- documents -----------------------------------------------------------------
    def open(
        self, name: str, text: str, language_id: str = "python", folder: Path | None = None
    ) -> Doc:
        """Open `name` (under `folder`, default /tmp/typilot-e2e) with `text`: the buffer as
        edited, whatever the disk holds."""
        uri = (folder or Path("/tmp/typilot-e2e")).joinpath(name).as_uri()
        doc = Doc(uri, language_id, text)
        self.docs[uri] = doc
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language_id, version=doc.version, text=text
                )
            )
        )
        return doc

    def close(self, doc: Doc) -> None:
        self.client.text_document_did_close(
            types.DidCloseTextDocumentParams(
                text_document=types.TextDocumentIdentifier(uri=doc.uri)
            )
        )

    def replace(self, doc: Doc, start: int, end: int, new_text: str) -> None:
        """A user edit (offsets): applied locally, then didChange."""
        rng = types.Range(start=position_of(doc.text, start), end=position_of(doc.text, end))
        doc.text = doc.text[:start] + new_text + doc.text[end:]
        doc.version += 1
        self._did_change(doc, [(rng, new_text)])

    def type_at(self, doc: Doc, offset: int, text: str) -> None:
        self.replace(doc, offset, offset, text)

    def _did_change(self, doc: Doc, changes: list[tuple[types.Range, str]]) -> None:
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=doc.uri, version=doc.version
                ),
                content_changes=[
                    types.TextDocumentContentChangePartial(range=rng, text=text)
                    for rng, text in changes
                ],
            )
        )
        self.change_events.append(time.monotonic())
        self._changed.set()

    # -- server edits --------------------------------------------------------------
    async def apply_edit(
        self, params: types.ApplyWorkspaceEditParams
    ) -> types.ApplyWorkspaceEditResult:
        edit = params.edit
        for change in edit.document_changes or []:
            assert isinstance(change, types.TextDocumentEdit), change
            doc = self.docs[change.text_document.uri]
            if self.before_apply is not None:
                self.before_apply(doc, change)
            if (
                change.text_document.version is not None
                and change.text_document.version != doc.version
            ):
                self.rejected_edits += 1
                return types.ApplyWorkspaceEditResult(
                    applied=False, failure_reason="document version changed"
                )
            # Apply all edits against the original text (LSP semantics), last first.
            original = doc.text
            spans = []
            for text_edit in change.edits:
                assert isinstance(text_edit, types.TextEdit)
                rng = text_edit.range
                start = offset_of(original, rng.start.line, rng.start.character)
                end = offset_of(original, rng.end.line, rng.end.character)
                spans.append((start, end, text_edit.new_text, rng))
            text = original
            for start, end, new_text, _ in sorted(spans, key=lambda s: s[0], reverse=True):
                text = text[:start] + new_text + text[end:]
            doc.text = text
            doc.version += 1
            self.applied_edits.append(params)
            if self.echo_delay:
                await asyncio.sleep(self.echo_delay)
            self._echo(doc, original, spans)
        return types.ApplyWorkspaceEditResult(applied=True)

    def _echo(self, doc: Doc, original: str, spans: list[Any]) -> None:
        if self.echo_mode == "same":
            self._did_change(doc, [(rng, new_text) for _, _, new_text, rng in spans])
        elif self.echo_mode == "full":
            self.client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(
                        uri=doc.uri, version=doc.version
                    ),
                    content_changes=[types.TextDocumentContentChangeWholeDocument(text=doc.text)],
                )
            )
            self._changed.set()
        else:
            new = doc.text
            head = 0
            limit = min(len(original), len(new))
            while head < limit and original[head] == new[head]:
                head += 1
            tail = 0
            while (
                tail < limit - head
                and original[len(original) - 1 - tail] == new[len(new) - 1 - tail]
            ):
                tail += 1
            rng = types.Range(
                start=position_of(original, head), end=position_of(original, len(original) - tail)
            )
            self._did_change(doc, [(rng, new[head : len(new) - tail])])

    # -- commands ------------------------------------------------------------------
    async def code_actions(
        self, doc: Doc, line: int, end_line: int | None = None
    ) -> list[types.CodeAction]:
        end = types.Position(line=end_line if end_line is not None else line, character=0)
        result = await self.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=doc.uri),
                range=types.Range(start=types.Position(line=line, character=0), end=end),
                context=types.CodeActionContext(diagnostics=[]),
            )
        )
        return [a for a in (result or []) if isinstance(a, types.CodeAction)]

    async def execute(self, command: types.Command) -> Any:
        return await self.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
        )

    async def run_line(self, doc: Doc, line: int) -> str:
        actions = await self.code_actions(doc, line)
        assert actions, f"no code action on line {line}: {doc.text!r}"
        result = await self.execute(actions[0].command)
        return str(result["runId"])

    def progress_ends(self) -> list[types.WorkDoneProgressEnd]:
        ends = []
        for reports in self.client.progress_reports.values():
            ends.extend(r for r in reports if isinstance(r, types.WorkDoneProgressEnd))
        return ends

    async def wait_runs_done(self, count: int = 1, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.progress_ends()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"runs did not end: progress={self.client.progress_reports!r} "
                    f"messages={self.client.messages!r}"
                )
            await asyncio.sleep(0.02)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not reached")
            await asyncio.sleep(0.01)


def server_env(
    home_env: dict[str, str], ollama_url: str | None, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The server's environment: `home_env` (see the `typilot_home` fixture), Ollama at
    `ollama_url`, and `extra`. The server is the one installed in this interpreter's
    environment (`pip install -e .`: this clone)."""
    env = dict(home_env)
    if ollama_url is not None:
        env["OLLAMA_HOST"] = ollama_url
    env.update(extra or {})
    return env


def fix_code_action_parsing(client: LanguageClient) -> None:
    """lsprotocol parses any code action that carries a command as a bare Command.

    Real editors are not affected; this test client tells them apart as the spec does:
    a Command's `command` is a string, a CodeAction's is an object.
    """
    converter = client.protocol._converter

    def structure(obj: Any, _: type) -> types.Command | types.CodeAction:
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    converter.register_structure_hook(types.Command | types.CodeAction, structure)
    converter.register_structure_hook(Union[types.Command, types.CodeAction], structure)  # noqa: UP007


async def start_editor(
    env: dict[str, str],
    settings: dict[str, Any] | None = None,
    capabilities: str = "visual-studio-code",
    cmd: list[str] | None = None,
    workspace_folders: list[Path] | None = None,
) -> Editor:
    """`cmd`: how to start the server (default: this interpreter's `-m typilot_lsp`);
    `workspace_folders`: the folders the editor has open (none by default)."""
    client = make_test_lsp_client()
    fix_code_action_parsing(client)
    editor = Editor(client)

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    async def _apply(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        result = await editor.apply_edit(params)
        editor.applied_at.append(time.time())
        return result

    await client.start_io(*(cmd or SERVER_CMD), env=env)
    caps = client_capabilities(capabilities)
    editor.init_result = await client.initialize_session(
        types.InitializeParams(
            capabilities=caps,
            initialization_options={"typilot": settings or {}},
            process_id=os.getpid(),
            workspace_folders=[
                types.WorkspaceFolder(uri=folder.as_uri(), name=folder.name)
                for folder in workspace_folders or []
            ]
            or None,
        )
    )
    return editor


async def stop_editor(editor: Editor) -> None:
    await editor.client.shutdown_session()


@contextlib.asynccontextmanager
async def editor_session(
    env: dict[str, str],
    settings: dict[str, Any] | None = None,
    workspace_folders: list[Path] | None = None,
) -> AsyncIterator[Editor]:
    """`start_editor(env, settings)`, stopped when the block ends, however it ends."""
    editor = await start_editor(env, settings, workspace_folders=workspace_folders)
    try:
        yield editor
    finally:
        await stop_editor(editor)


StartEditor = Callable[[dict[str, Any]], Awaitable[Editor]]


@contextlib.asynccontextmanager
async def editors_in(env: dict[str, str]) -> AsyncIterator[StartEditor]:
    """A function that starts an editor in `env` with the settings it is given, for a test that
    starts several; every one it started is stopped when the block ends."""
    started: list[Editor] = []

    async def start(settings: dict[str, Any]) -> Editor:
        started.append(await start_editor(env, settings))
        return started[-1]

    try:
        yield start
    finally:
        for editor in started:
            await stop_editor(editor)
