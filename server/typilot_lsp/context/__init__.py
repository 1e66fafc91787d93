"""Context from the whole project: the definitions the code at hand uses from other files.

Given a document as edited and where a run is in it, `gather.ContextGatherer` finds the names
the code around the prefix line uses that the file does not define,
resolves them the way the language does (Python imports, JavaScript/TypeScript imports and
`require`, Go packages and go.mod), and returns each definition (`model.Definition`:
signature, docstring, fields; the body when short) ranked by how directly the code uses it.
Open buffers win over the disk; secrets, files outside the workspace folders, gitignored,
binary, minified and oversized files are never read (`access`). Other languages get no
definitions, as before. `render` turns definitions into prompt text within a budget.

The modules:

* `model`: the request, the open buffers, `Definition`, the secret patterns (`DEFAULT_EXCLUDE`);
* `access`: `WorkspaceFiles`, the one gate to files; `gitignore`: git's ignore rules;
* `syntax`: tree-sitter, loaded on first use; `summary`: what a file offers, what code uses;
* `lang_python`, `lang_js`, `lang_go`: each language's imports, definitions and names;
* `gather`: resolving names to definitions, ranked, cached; `render`: the prompt's text.

This package file imports nothing, so that importing `model` (the settings do) stays cheap.
"""
