import re


def slugify(title: str, *, max_length: int = 40, sep: str = "-") -> str:
    """Lower-case `title`, its words joined by `sep`, at most `max_length` characters."""
    words = re.findall(r"[a-z0-9]+", title.lower())
    return sep.join(words)[:max_length]
