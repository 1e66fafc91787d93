-- The plugin's version: the server package's (server/typilot_lsp/__init__.py). A test
-- (tests/unit/test_version.py) keeps them equal; :checkhealth typilot compares it with the server's.
return '0.1.0'
