DEFAULTS = {"host": "localhost", "port": 8080}


def load(overrides: dict) -> dict:
    """DEFAULTS with `overrides` on top."""
    return {**DEFAULTS, **overrides}
