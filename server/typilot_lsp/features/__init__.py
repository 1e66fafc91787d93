"""The server's features: one `Feature` object per concern (see typilot_lsp.feature).

`SettingsFeature` (settings.py), `HistoryFeature` (history.py), `DocumentsFeature`
(documents.py), `RunsFeature` (runs.py), `VoiceFeature` (voice/); the composition root
(`typilot_lsp.setup.FEATURES`) builds and adds them in that order. Each registers its own
handlers in `register`, owns its state, and works with the features its constructor takes.
"""
