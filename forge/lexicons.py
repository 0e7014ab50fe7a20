"""Word lists a tagger's lexicon is built from (see ``cerebellum.lexicon``)."""

from __future__ import annotations

from . import jieba_dictionary
from .trainers import TrainerError

LEXICON_SOURCES = ("jieba",)


def _ideographs(word: str) -> bool:
    return all(0x4E00 <= ord(c) <= 0x9FFF for c in word)


def lexicon_words(source: str, min_count: int) -> list[str]:
    """Sorted words of 2 to 4 ideographs from ``source`` counted at least ``min_count`` times.

    jieba's person names stay in: a famous name is a word of news text too, and
    the lexicon tells the tagger which strings are words, not which are names.
    """
    if source != "jieba":
        raise TrainerError(f"unknown lexicon source {source!r}; expected one of {LEXICON_SOURCES}")
    try:
        entries = jieba_dictionary.entries()
        return sorted({w for w, count, _ in entries if 2 <= len(w) <= 4 and count >= min_count and _ideographs(w)})
    except jieba_dictionary.JiebaMissingError as exc:
        raise TrainerError(f"lexicon 'jieba': {exc}") from None
