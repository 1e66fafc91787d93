"""Typilot LSP: gen:/fix:/sum: code actions streamed from a local Ollama model."""

__version__ = "0.1.0"
