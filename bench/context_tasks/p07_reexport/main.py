from lib import tokenize


def count_words(text: str) -> int:
    # gen: the number of distinct tokens of text, using tokenize
