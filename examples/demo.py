"""A small module to try Typilot on: each prefixed line below is one code action."""


# gen: a function parse_iso_date(text) that parses YYYY-MM-DD into a datetime.date


# fix: it crashes on an empty list
def average(numbers):
    return sum(numbers) / len(numbers)


# sum:
def word_counts(text):
    counts = {}
    for word in text.lower().split():
        counts[word] = counts.get(word, 0) + 1
    return counts
