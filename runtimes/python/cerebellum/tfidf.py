"""TF-IDF vectors, with the arithmetic pinned by docs/preprocessing-spec.md."""

from __future__ import annotations

import functools
import math
import struct
from array import array
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._proto import bundle_pb2 as pb
from .errors import BundleCorruptError
from .tokenizer import ngrams


@dataclass(frozen=True)
class SparseVector:
    """Non-zero features: ascending column ``indices`` and float32 ``values``."""

    indices: np.ndarray  # int64
    values: np.ndarray  # float32

    def __len__(self) -> int:
        return len(self.indices)

    def to_dense(self, size: int) -> np.ndarray:
        """The vector as a dense float32 array of ``size`` columns."""
        dense = np.zeros(size, dtype=np.float32)
        dense[self.indices] = self.values
        return dense


EMPTY = SparseVector(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))


FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1


def fnv1a64(data: bytes) -> int:
    """FNV-1a, 64 bits: the hash of a hashed vocabulary (spec section 5)."""
    h = FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & MASK64
    return h


class _HashedColumns(dict[str, int]):
    """term -> column for a hashed vocabulary, remembered as terms are met (bounded)."""

    LIMIT = 1 << 16

    def __init__(self, buckets: int) -> None:
        super().__init__()
        self.buckets = buckets

    def get(self, term: str, default: int | None = None) -> int | None:  # type: ignore[override]
        column = dict.get(self, term)
        if column is None:
            column = fnv1a64(term.encode("utf-8")) % self.buckets
            if len(self) >= self.LIMIT:
                self.clear()
            self[term] = column
        return column


class TfidfVectorizer:
    def __init__(self, spec: pb.TfidfSpec, path: Path, hashed_allowed: bool = True) -> None:
        if spec.sublinear_tf:
            raise BundleCorruptError(path, "tfidf: sublinear_tf is not part of format v1")
        if spec.norm not in (pb.NORM_NONE, pb.NORM_L2):
            raise BundleCorruptError(path, f"tfidf: unknown norm {spec.norm}")
        vocabulary = list(spec.vocabulary)
        self.idf = np.asarray(spec.idf, dtype=np.float32)
        self.hash_buckets = spec.hash_buckets
        if self.hash_buckets:
            if not hashed_allowed:
                raise BundleCorruptError(
                    path, "tfidf: hash_buckets is set but required_features does not list 'tfidf-hashed-fnv1a64'"
                )
            if vocabulary:
                raise BundleCorruptError(path, "tfidf: a hashed vocabulary lists no terms")
            if len(self.idf) != self.hash_buckets:
                raise BundleCorruptError(
                    path, f"tfidf: {self.hash_buckets} hash buckets but {len(self.idf)} idf values"
                )
        elif len(vocabulary) != len(self.idf):
            raise BundleCorruptError(path, f"tfidf: {len(vocabulary)} vocabulary terms but {len(self.idf)} idf values")
        if not np.all(np.isfinite(self.idf)) or np.any(self.idf <= 0):
            raise BundleCorruptError(path, "tfidf: idf values must be finite and positive")
        if self.hash_buckets:
            self.columns: dict[str, int] = _HashedColumns(self.hash_buckets)
        else:
            self.columns = {term: i for i, term in enumerate(vocabulary)}
            if len(self.columns) != len(vocabulary):
                raise BundleCorruptError(path, "tfidf: the vocabulary holds a term twice")
        self.vocabulary = vocabulary
        self.l2 = spec.norm == pb.NORM_L2

    def __len__(self) -> int:
        return len(self.idf)

    def transform_terms(self, terms: list[str]) -> SparseVector:
        return self._vector(self.weigh([j for j in map(self.columns.get, terms) if j is not None]))

    def transform_sequence(self, seq: list[str], ngram_min: int, ngram_max: int) -> SparseVector:
        """The vector of the terms of token sequence ``seq`` (boundaries included)."""
        return self._vector(self.weigh(self.found(seq, ngram_min, ngram_max)))

    def found(self, seq: list[str], ngram_min: int, ngram_max: int) -> list[int]:
        """The column of every term of ``seq`` that has one, found without building n-gram
        strings where the vocabulary allows (in no particular order)."""
        if self.hash_buckets:  # a hash is over the term's bytes: the strings are needed
            return [j for j in map(self.columns.get, ngrams(seq, ngram_min, ngram_max)) if j is not None]
        found: list[int] = []
        for n, table in self._ngram_columns.items():
            if ngram_min <= n <= ngram_max:
                keys = seq if n == 1 else zip(*(seq[i:] for i in range(n)))  # noqa: B905 (shorter by design)
                found += [j for j in map(table.get, keys) if j is not None]
        return found

    @functools.cached_property
    def _ngram_columns(self) -> dict[int, dict[Any, int]]:
        # n -> {token n-tuple (the token itself for n = 1): column}; tokens never hold U+0020,
        # so a term of n tokens splits back into exactly those n
        tables: dict[int, dict[Any, int]] = {}
        for term, j in self.columns.items():
            parts = term.split(" ")
            tables.setdefault(len(parts), {})[term if len(parts) == 1 else tuple(parts)] = j
        return tables

    def weigh(self, found: list[int]) -> tuple[list[int], list[float]]:
        """Ascending columns and their float32 values (as Python floats) from the columns the
        terms were found at, one entry per occurrence (spec section 5)."""
        if not found:
            return [], []
        ordered = sorted(set(found))
        idf = self._idf_values
        if len(ordered) == len(found):  # every count is 1, the common case: the weight is idf itself
            weights = [idf[j] for j in ordered]
        else:
            counts = Counter(found)
            # float32(tf) * idf in float32: the float64 product is exact, so rounding it once
            # to float32 is the correctly rounded float32 product
            weights = [idf[j] if counts[j] == 1 else _to_float32(counts[j] * idf[j]) for j in ordered]
        if not self.l2:
            return ordered, weights
        total = 0.0  # float64, summed in ascending column order; squares are exact
        for w in weights:
            total += w * w
        norm = math.sqrt(total)
        return ordered, array("f", [w / norm for w in weights]).tolist()

    @staticmethod
    def _vector(weighed: tuple[list[int], list[float]]) -> SparseVector:
        columns, values = weighed
        if not columns:
            return EMPTY
        return SparseVector(np.array(columns, dtype=np.int64), np.array(values, dtype=np.float32))

    @functools.cached_property
    def _idf_values(self) -> list[float]:
        return self.idf.tolist()


_FLOAT32 = struct.Struct("<f")


def _to_float32(value: float) -> float:
    """``value`` rounded to the nearest float32 (ties to even), as a Python float."""
    try:
        return _FLOAT32.unpack(_FLOAT32.pack(value))[0]
    except OverflowError:  # beyond the largest float32: rounds to infinity
        return math.copysign(math.inf, value)
