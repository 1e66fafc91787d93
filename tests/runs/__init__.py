"""Tests of typilot_lsp.runs: prompt, output filter, streaming engine, run manager."""
