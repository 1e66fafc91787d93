from settings import load


def address(overrides: dict) -> str:
    # gen: "host:port" of the settings that load(overrides) returns
