"""Near-duplicate detection: MinHash over character 3-grams, with LSH banding.

Character n-grams make it work for Chinese as well as English. Candidates
that share a band are confirmed with the exact Jaccard similarity.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np

from .textnorm import dedupe_key

NGRAM = 3
BANDS, ROWS = 16, 4  # 64 hashes; pairs above ~0.5 similarity become candidates


def shingles(text: str) -> set[str]:
    key = "".join(dedupe_key(text).split())
    if len(key) <= NGRAM:
        return {key}
    return {key[i : i + NGRAM] for i in range(len(key) - NGRAM + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _signature(shingle_set: set[str], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    h = np.array(
        [int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(), "little") for s in shingle_set],
        dtype=np.uint64,
    )
    with np.errstate(over="ignore"):
        return (np.multiply.outer(h, a) + b).min(axis=0)  # arithmetic mod 2**64: a universal hash family


def near_duplicates(
    texts: Sequence[str], threshold: float, same_group: Callable[[int, int], bool] = lambda i, j: True
) -> set[int]:
    """Indices to drop: each is at least ``threshold`` similar to an earlier, kept text.

    ``same_group(i, j)`` limits drops to pairs that agree (for example on their
    label), so that contrastive pairs such as "yes" / "yes?" both survive.
    """
    if threshold <= 0 or len(texts) < 2:
        return set()
    rng = np.random.default_rng(0x5EED)
    a = rng.integers(1, 2**63, size=BANDS * ROWS, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, size=BANDS * ROWS, dtype=np.uint64)
    sets = [shingles(t) for t in texts]
    buckets: dict[tuple, list[int]] = defaultdict(list)
    keys_of: list[list[tuple]] = []
    for i, s in enumerate(sets):
        signature = _signature(s, a, b).tolist()
        keys = [(band, *signature[band * ROWS : (band + 1) * ROWS]) for band in range(BANDS)]
        for key in keys:
            buckets[key].append(i)
        keys_of.append(keys)
    dropped: set[int] = set()
    for i in range(len(texts)):  # earlier rows win
        if i in dropped:
            continue
        candidates = {j for key in keys_of[i] for j in buckets[key] if j > i and j not in dropped}
        for j in sorted(candidates):
            if same_group(i, j) and jaccard(sets[i], sets[j]) >= threshold:
                dropped.add(j)
    return dropped
