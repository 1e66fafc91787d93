"""Word and sentence statistics for plain-text documents."""

import re
import string
from collections import Counter

WORD = re.compile(r"[A-Za-z']+")
SENTENCE_END = re.compile(r"[.!?]+")
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "he",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "that",
        "the",
        "to",
        "was",
        "were",
        "will",
        "with",
    ]
)


def words(text):
    """The words of `text`, lower-cased, in order."""
    return [word.lower() for word in WORD.findall(text)]


def sentences(text):
    parts = SENTENCE_END.split(text)
    return [part.strip() for part in parts if part.strip()]


def word_count(text):
    return len(words(text))


def average_word_length(text):
    found = words(text)
    return sum(len(word) for word in found) / len(found)


def average_sentence_length(text):
    found = sentences(text)
    if not found:
        return 0.0
    return sum(len(words(sentence)) for sentence in found) / len(found)


def frequencies(text, skip_stop_words=True):
    counts = Counter(words(text))
    if skip_stop_words:
        for word in STOP_WORDS:
            counts.pop(word, None)
    return counts


def strip_punctuation(text):
    return text.translate(str.maketrans("", "", string.punctuation))


def longest_words(text, n=5):
    unique = set(words(text))
    return sorted(unique, key=lambda word: (-len(word), word))[:n]


def syllables(word):
    """A rough syllable count: groups of vowels, a silent final e dropped."""
    word = word.lower()
    groups = re.findall(r"[aeiouy]+", word)
    count = len(groups)
    if word.endswith("e") and count > 1:
        count -= 1
    return max(count, 1)


def flesch_reading_ease(text):
    found = words(text)
    total_sentences = max(len(sentences(text)), 1)
    total_syllables = sum(syllables(word) for word in found)
    return (
        206.835
        - 1.015 * (len(found) / total_sentences)
        - 84.6 * (total_syllables / max(len(found), 1))
    )


def summary(text):
    return {
        "words": word_count(text),
        "sentences": len(sentences(text)),
        "average_word_length": round(average_word_length(text), 2),
        "reading_ease": round(flesch_reading_ease(text), 1),
    }
