"""Comment syntax per LSP languageId.

Used twice: to recognise a prefix behind a comment leader (`# gen:`), and to
write sum: results and voice transcripts as comments the file's language accepts.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class CommentSyntax:
    line: str | None
    """Line comment leader, e.g. `#`; None where the language has none."""
    block: tuple[str, str] | None = None
    """Block comment delimiters, e.g. (`/*`, `*/`)."""

    @property
    def leaders(self) -> tuple[str, ...]:
        found = [self.line] if self.line else []
        if self.block:
            found.append(self.block[0])
        return tuple(found)

    def wrap_line(self, text: str) -> str:
        """One line of text as a comment (block form only where no line form exists)."""
        if self.line:
            return f"{self.line} {text}".rstrip()
        assert self.block is not None
        return f"{self.block[0]} {text} {self.block[1]}"


C_LIKE = CommentSyntax("//", ("/*", "*/"))
HASH = CommentSyntax("#")
DASH = CommentSyntax("--")
SEMI = CommentSyntax(";")
PERCENT = CommentSyntax("%")
XML = CommentSyntax(None, ("<!--", "-->"))
CSS = CommentSyntax(None, ("/*", "*/"))

_BY_LANGUAGE: dict[str, CommentSyntax] = {
    **dict.fromkeys(
        (
            "c",
            "cpp",
            "csharp",
            "cuda-cpp",
            "dart",
            "go",
            "groovy",
            "java",
            "javascript",
            "javascriptreact",
            "jsonc",
            "kotlin",
            "less",
            "objective-c",
            "objective-cpp",
            "php",
            "proto",
            "rust",
            "scala",
            "scss",
            "swift",
            "typescript",
            "typescriptreact",
            "zig",
            "glsl",
            "hlsl",
            "solidity",
            "verilog",
        ),
        C_LIKE,
    ),
    **dict.fromkeys(
        (
            "python",
            "ruby",
            "shellscript",
            "sh",
            "bash",
            "zsh",
            "fish",
            "perl",
            "r",
            "yaml",
            "toml",
            "dockerfile",
            "makefile",
            "cmake",
            "powershell",
            "julia",
            "elixir",
            "nim",
            "coffeescript",
            "crystal",
            "gdscript",
            "terraform",
            "hcl",
            "nix",
            "ini",
            "properties",
            "starlark",
        ),
        HASH,
    ),
    **dict.fromkeys(("lua", "sql", "haskell", "elm", "ada", "vhdl", "purescript"), DASH),
    **dict.fromkeys(("clojure", "scheme", "lisp", "commonlisp", "racket", "asm", "nasm"), SEMI),
    "emacs-lisp": CommentSyntax(";;"),
    **dict.fromkeys(("latex", "tex", "bibtex", "matlab", "erlang", "prolog"), PERCENT),
    **dict.fromkeys(("html", "xml", "xsl", "svg", "vue-html", "markdown"), XML),
    "css": CSS,
    "vim": CommentSyntax('"'),
    "vb": CommentSyntax("'"),
    "bat": CommentSyntax("REM"),
    "fortran": CommentSyntax("!"),
    "ocaml": CommentSyntax(None, ("(*", "*)")),
    "fsharp": CommentSyntax("//", ("(*", "*)")),
    "pascal": CommentSyntax("//", ("{", "}")),
}

_EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascriptreact",
    ".ts": "typescript",
    ".tsx": "typescriptreact",
    ".go": "go",
    ".rs": "rust",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".cs": "csharp",
    ".java": "java",
    ".kt": "kotlin",
    ".swift": "swift",
    ".rb": "ruby",
    ".php": "php",
    ".lua": "lua",
    ".sql": "sql",
    ".hs": "haskell",
    ".sh": "shellscript",
    ".bash": "shellscript",
    ".zsh": "shellscript",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".html": "html",
    ".htm": "html",
    ".xml": "xml",
    ".css": "css",
    ".scss": "scss",
    ".md": "markdown",
    ".tex": "latex",
    ".m": "matlab",
    ".erl": "erlang",
    ".clj": "clojure",
    ".el": "emacs-lisp",
    ".vim": "vim",
    ".r": "r",
    ".jl": "julia",
    ".ex": "elixir",
    ".exs": "elixir",
    ".dart": "dart",
    ".scala": "scala",
    ".zig": "zig",
    ".ml": "ocaml",
    ".fs": "fsharp",
    ".pl": "perl",
    ".ps1": "powershell",
    ".tf": "terraform",
    ".nix": "nix",
}

# For languages we don't know, accept any common leader rather than none.
FALLBACK_LEADERS = ("#", "//", "--", ";", "%", "/*", "<!--")


def comment_syntax(language_id: str) -> CommentSyntax | None:
    return _BY_LANGUAGE.get(language_id.lower())


def line_comment_for(language_id: str) -> tuple[str, str]:
    """(open, close) to write one comment line in this language: (`#`, ``) or (`<!--`, `-->`)."""
    syntax = comment_syntax(language_id) or HASH
    if syntax.line:
        return syntax.line, ""
    assert syntax.block is not None
    return syntax.block


def language_from_path(path: str) -> str:
    lowered = path.lower()
    name = lowered.rsplit("/", 1)[-1]
    if name in ("makefile", "gnumakefile"):
        return "makefile"
    if name == "dockerfile":
        return "dockerfile"
    dot = name.rfind(".")
    if dot < 0:
        return "plaintext"
    return _EXTENSIONS.get(name[dot:], "plaintext")


def known_languages() -> list[str]:
    return sorted(_BY_LANGUAGE)
