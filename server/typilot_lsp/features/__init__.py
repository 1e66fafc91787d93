"""The server's features: one `Feature` object per concern (see typilot_lsp.feature).

`SettingsFeature` (settings.py), `HistoryFeature` (history.py), `DocumentsFeature`
(documents.py), `RunsFeature` (runs.py), `VoiceFeature` (voice.py); `create_server` adds them in
that order. Each registers its own handlers in `register` and owns its state.
"""
