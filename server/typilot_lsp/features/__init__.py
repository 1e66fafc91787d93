"""LSP features: each module has `setup(server)` registering its handlers."""
