"""Character bigram ids of a tagger (feature "tagger-char-bigrams").

A bigram is a pair of unit ids; 0 stands for the start of the text as the first id
and for its end as the second. Its key is ``first * 2**32 + second``; its id is
2 + the key's index in the bundle's sorted key list, or 1 (unknown) when absent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TAGGER_CHAR_BIGRAMS = "tagger-char-bigrams"  # the capability's name in required_features
BOUNDARY = 0
UNKNOWN_BIGRAM = 1
FIRST_BIGRAM = 2


def bigram_key(first: int, second: int) -> int:
    return (first << 32) | second


def bigram_index(keys: Sequence[int]) -> dict[int, int]:
    """Key -> bigram id; the keys must be strictly ascending."""
    return {key: FIRST_BIGRAM + i for i, key in enumerate(keys)}


def bigram_ids(ids: Sequence[int], index: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per unit, the ids of the bigram that ends at it and of the one that starts at it (int64)."""
    n = len(ids)
    # the pair (units t-1, t) for t = 0..n, with the text's start and end as id 0
    pairs = [
        index.get(bigram_key(ids[t - 1] if t > 0 else BOUNDARY, ids[t] if t < n else BOUNDARY), UNKNOWN_BIGRAM)
        for t in range(n + 1)
    ]
    joined = np.array(pairs, dtype=np.int64)
    return joined[:n], joined[1:]
