"""Typilot LSP tests, mirroring the packages of server/typilot_lsp.

A package, so that the helpers are imported by name from any suite, a bench or a child process
started with the repository root on its path: `tests.replay_ollama` (the Ollama replay server),
`tests.e2e.harness` (an LSP client that behaves like an editor), `tests.history.history_testutil`,
`tests.voice.audio`, `tests.editors.emacs_harness`, `tests.neovim.nvim_harness`.
"""
