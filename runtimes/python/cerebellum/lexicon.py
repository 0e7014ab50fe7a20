"""Word-lexicon ids of a tagger (feature "tagger-lexicon", spec section 7).

A lexicon is a Bloom filter of words of 2 to 4 CJK ideographs (U+4E00-U+9FFF).
For each unit, an 8-bit pattern records which lexicon words of the text begin at
it, continue through it or end at it; its lexicon id is the pattern + 1 (0 is
padding). The filter's positions come from the FNV-1a 64 hash of the word's
UTF-8 bytes, so every runtime finds the same matches with integer arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

TAGGER_LEXICON = "tagger-lexicon"  # the capability's name in required_features
LENGTHS = (2, 3, 4)
IDS = 257  # patterns 0..255, plus 1
MAX_HASHES = 32
# (begin, inside, end) bits of a matched word, by its length
_BITS = {2: (1, 0, 2), 3: (4, 8, 16), 4: (32, 64, 128)}
_FNV_OFFSET, _FNV_PRIME, _MASK = 0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1


def fnv1a64(data: bytes) -> int:
    h = _FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * _FNV_PRIME) & _MASK
    return h


def bloom_positions(word: str, bits: int, hashes: int) -> list[int]:
    """The filter bits of ``word``: ``(h1 + i * h2) mod bits`` for i < hashes (h2 odd)."""
    h = fnv1a64(word.encode("utf-8"))
    low, high = h & 0xFFFFFFFF, (h >> 32) | 1
    return [(low + i * high) % bits for i in range(hashes)]


def build_bloom(words: Iterable[str], bits: int, hashes: int) -> bytes:
    """A filter of ``bits`` bits (a multiple of 8) holding ``words``; bit b is bit b % 8 of byte b // 8."""
    if bits <= 0 or bits % 8 or not 1 <= hashes <= MAX_HASHES:
        raise ValueError(f"a lexicon needs a positive multiple of 8 bits and 1 to {MAX_HASHES} hashes")
    filter_ = bytearray(bits // 8)
    for word in words:
        for b in bloom_positions(word, bits, hashes):
            filter_[b >> 3] |= 1 << (b & 7)
    return bytes(filter_)


def _ideograph(key: str) -> bool:
    return len(key) == 1 and 0x4E00 <= ord(key) <= 0x9FFF


class Lexicon:
    """A loaded Bloom filter of words."""

    def __init__(self, bloom: bytes, hashes: int) -> None:
        if not bloom or not 1 <= hashes <= MAX_HASHES:
            raise ValueError(f"a lexicon needs a non-empty filter and 1 to {MAX_HASHES} hashes")
        self.bloom, self.hashes, self.bits = bytes(bloom), hashes, 8 * len(bloom)

    def __contains__(self, word: str) -> bool:
        return self._holds(fnv1a64(word.encode("utf-8")))

    def _holds(self, h: int) -> bool:
        """Whether the filter holds the word whose FNV-1a 64 hash is ``h``."""
        bloom, bits = self.bloom, self.bits
        low, high = h & 0xFFFFFFFF, (h >> 32) | 1
        for k in range(self.hashes):
            b = (low + k * high) % bits
            if not bloom[b >> 3] >> (b & 7) & 1:
                return False
        return True

    def ids(self, keys: Sequence[str]) -> np.ndarray:
        """Per unit key, its lexicon id (int64): 1 + the pattern of words matched around it."""
        n = len(keys)
        patterns = [0] * n
        encoded = [k.encode("utf-8") if _ideograph(k) else None for k in keys]
        for i in range(n - 1):
            first = encoded[i]
            if first is None:
                continue
            # FNV-1a runs byte by byte, so the longer words continue the shorter one's hash
            h = _FNV_OFFSET
            for byte in first:
                h = ((h ^ byte) * _FNV_PRIME) & _MASK
            for length in LENGTHS:
                last = i + length - 1
                unit = encoded[last] if last < n else None
                if unit is None:
                    break
                for byte in unit:
                    h = ((h ^ byte) * _FNV_PRIME) & _MASK
                if self._holds(h):
                    begin, inside, end = _BITS[length]
                    patterns[i] |= begin
                    patterns[last] |= end
                    for j in range(i + 1, last):
                        patterns[j] |= inside
        return np.array(patterns, dtype=np.int64) + 1
