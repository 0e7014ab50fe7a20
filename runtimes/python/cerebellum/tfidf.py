"""TF-IDF vectors, with the arithmetic pinned by docs/preprocessing-spec.md."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._proto import bundle_pb2 as pb
from .errors import BundleCorruptError


@dataclass(frozen=True)
class SparseVector:
    """Non-zero features: ascending column ``indices`` and float32 ``values``."""

    indices: np.ndarray  # int64
    values: np.ndarray  # float32

    def __len__(self) -> int:
        return len(self.indices)

    def to_dense(self, size: int) -> np.ndarray:
        dense = np.zeros(size, dtype=np.float32)
        dense[self.indices] = self.values
        return dense


EMPTY = SparseVector(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))


class TfidfVectorizer:
    def __init__(self, spec: pb.TfidfSpec, path: Path) -> None:
        if spec.sublinear_tf:
            raise BundleCorruptError(path, "tfidf: sublinear_tf is not part of format v1")
        if spec.norm not in (pb.NORM_NONE, pb.NORM_L2):
            raise BundleCorruptError(path, f"tfidf: unknown norm {spec.norm}")
        vocabulary = list(spec.vocabulary)
        self.idf = np.asarray(spec.idf, dtype=np.float32)
        if len(vocabulary) != len(self.idf):
            raise BundleCorruptError(path, f"tfidf: {len(vocabulary)} vocabulary terms but {len(self.idf)} idf values")
        if not np.all(np.isfinite(self.idf)) or np.any(self.idf <= 0):
            raise BundleCorruptError(path, "tfidf: idf values must be finite and positive")
        self.columns = {term: i for i, term in enumerate(vocabulary)}
        if len(self.columns) != len(vocabulary):
            raise BundleCorruptError(path, "tfidf: the vocabulary holds a term twice")
        self.vocabulary = vocabulary
        self.l2 = spec.norm == pb.NORM_L2

    def __len__(self) -> int:
        return len(self.vocabulary)

    def transform_terms(self, terms: list[str]) -> SparseVector:
        columns = self.columns
        counts: dict[int, int] = {}
        for term in terms:
            j = columns.get(term)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        if not counts:
            return EMPTY
        indices = np.array(sorted(counts), dtype=np.int64)
        tf = np.array([counts[j] for j in indices.tolist()], dtype=np.float32)
        weights = tf * self.idf[indices]  # float32 products, correctly rounded
        if not self.l2:
            return SparseVector(indices, weights)
        total = 0.0  # float64, summed in ascending column order; squares are exact
        for w in weights.tolist():
            total += w * w
        norm = math.sqrt(total)
        return SparseVector(indices, (weights.astype(np.float64) / norm).astype(np.float32))
