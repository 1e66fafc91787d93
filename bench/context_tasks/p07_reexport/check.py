from main import count_words

assert count_words("a A b") == 2
assert count_words("") == 0
