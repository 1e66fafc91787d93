"""Tests of typilot_lsp.features: the server's feature objects, in process."""
