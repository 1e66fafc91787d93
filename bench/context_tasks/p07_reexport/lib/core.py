def tokenize(text: str, lower: bool = True) -> list[str]:
    """The words of `text`, lower-cased unless `lower` is False."""
    words = text.split()
    return [w.lower() for w in words] if lower else words
