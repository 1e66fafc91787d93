"""Fixtures for the Neovim plugin tests (the harness lives in nvim_harness.py)."""

from tests.neovim.nvim_harness import nvim, nvim_factory

__all__ = ["nvim", "nvim_factory"]
