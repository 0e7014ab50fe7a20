"""Smaller linear models: weight formats and feature pruning, chosen on dev accuracy.

The runtimes evaluate the weights exactly as stored (spec section 6), so the
forge measures every candidate with the same arithmetic: int8 weights are
``float32(q) * scale[class]`` rounded to float32, float16 weights widen
exactly. Pruning drops the vocabulary terms whose weights matter least and
refits on the rest (the TF-IDF norm then runs over the kept terms only, as
the runtime computes it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.preprocessing import normalize

from .packing import packed_bytes

WEIGHT_FORMATS = ("float32", "float16", "int8")
SMALLEST_FIRST = ("int8", "float16", "float32")
KEEP_LADDER = (0.15, 0.25, 0.4, 0.6, 1.0)  # fractions of the vocabulary tried by keep_features = "auto"
HASH_LADDER = (2048, 4096, 8192, 16384)  # bucket counts tried by hash_buckets = "auto"


def encode_int8(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 with one float32 scale per class (column): q in [-127, 127]."""
    weights = weights.astype(np.float32)
    top = np.abs(weights).max(axis=0) if weights.size else np.zeros(weights.shape[1], np.float32)
    scale = np.where(top > 0, top / np.float32(127), np.float32(1)).astype(np.float32)
    q = np.clip(np.rint(weights / scale[None, :]), -127, 127).astype(np.int8)
    return q, scale


def decode_int8(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return q.astype(np.float32) * scale[None, :].astype(np.float32)


def stored_weights(weights: np.ndarray, weight_format: str) -> np.ndarray:
    """The float32 weights a runtime computes with when ``weights`` are stored in ``weight_format``."""
    if weight_format == "float32":
        return weights.astype(np.float32)
    if weight_format == "float16":
        return weights.astype(np.float16).astype(np.float32)
    if weight_format == "int8":
        return decode_int8(*encode_int8(weights))
    raise ValueError(f"unknown weight format {weight_format!r}; expected one of {WEIGHT_FORMATS}")


def stored_bytes(features: int, width: int, weight_format: str) -> int:
    per = {"float32": 4, "float16": 2, "int8": 1}[weight_format]
    return features * width * per + (4 * width if weight_format == "int8" else 0)


def lowered(coef: np.ndarray, intercept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's coef_/intercept_ as the bundle stores them: W [features, width], b [width]."""
    return np.ascontiguousarray(coef.T, dtype=np.float32), intercept.astype(np.float32)


def logits(x: sparse.csr_matrix, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """[rows, width] decision values in float64, as the bundle's weights give them."""
    return np.asarray(x.astype(np.float64) @ weights.astype(np.float64)) + bias.astype(np.float64)


def predict(x: sparse.csr_matrix, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Class ids as the runtimes decide them: a binary model's single logit > 0, else the first maximum."""
    z = logits(x, weights, bias)
    if weights.shape[1] == 1:
        return (z[:, 0] > 0).astype(np.int64)
    return z.argmax(axis=1)


@dataclass(frozen=True)
class CompressionSettings:
    """The [train] keys that size a bundle; "auto" lets the dev bound decide."""

    weights: str = "auto"  # auto | float32 | float16 | int8
    vocabulary: str = "terms"  # terms | hashed | auto (both weighed)
    keep_features: str | float = "auto"  # auto | a fraction of the vocabulary in (0, 1]
    hash_buckets: str | int = "auto"  # auto | a bucket count
    max_dev_drop: float = 0.3  # accuracy points on dev


@dataclass(frozen=True)
class Candidate:
    vocabulary: str  # "terms" (kept vocabulary terms) or "hashed" (FNV-1a buckets)
    features: int  # kept terms or buckets
    weight_format: str
    dev_accuracy: float
    estimated_bytes: int  # vocabulary and weights as the bundle stores them

    def as_dict(self) -> dict[str, float | int | str]:
        return self.__dict__.copy()


@dataclass(frozen=True)
class Space:
    """A feature space: what the vectorizer computes for each split, with its idf."""

    vocabulary: str  # "terms" or "hashed"
    x: dict[str, sparse.csr_matrix]  # L2-normalised TF-IDF rows of train, dev and test
    idf: np.ndarray
    columns: np.ndarray  # terms: kept vocabulary columns, ascending; hashed: all buckets
    vocabulary_bytes: int


@dataclass(frozen=True)
class Compressed:
    space: Space
    coef: np.ndarray
    intercept: np.ndarray
    weight_format: str
    baseline_dev_accuracy: float
    candidates: list[Candidate]


def restrict(x: sparse.csr_matrix, columns: np.ndarray) -> sparse.csr_matrix:
    """TF-IDF rows restricted to ``columns``, L2-normalised again over what is left (as the runtime computes them)."""
    kept = x[:, columns]
    return normalize(kept, norm="l2", copy=True).tocsr() if kept.shape[0] else kept.tocsr()


def accuracy(y: np.ndarray, predicted: np.ndarray) -> float:
    return float((y == predicted).mean()) if len(y) else 1.0


def term_space(x: dict[str, sparse.csr_matrix], idf: np.ndarray, terms: list[str], columns: np.ndarray) -> Space:
    size = packed_bytes([terms[j] for j in columns.tolist()], idf[columns])
    return Space("terms", {split: restrict(m, columns) for split, m in x.items()}, idf[columns], columns, size)


def choose(
    coef: np.ndarray,
    intercept: np.ndarray,
    terms: Space,
    all_terms: list[str],
    y: dict[str, np.ndarray],
    refit: Callable[[sparse.csr_matrix, np.ndarray], tuple[np.ndarray, np.ndarray]],
    hashed: Callable[[int], Space],
    settings: CompressionSettings,
) -> Compressed:
    """The smallest model within ``max_dev_drop`` accuracy points of the float32 model on dev.

    ``terms`` is the full vocabulary space the float32 ``coef`` was fitted on;
    pruned vocabularies and hashed spaces (``hashed(buckets)``) are refitted
    with ``refit``, which returns the estimator's coef_ and intercept_.
    """
    dev = "dev" if len(y["dev"]) else "train"
    n_features = coef.shape[1]
    baseline = accuracy(y[dev], predict(terms.x[dev], *lowered(coef, intercept)))
    formats = SMALLEST_FIRST if settings.weights == "auto" else (settings.weights,)
    spaces: list[tuple[Space, np.ndarray, np.ndarray]] = []
    if settings.vocabulary in ("auto", "terms"):
        ladder = KEEP_LADDER if settings.keep_features == "auto" else (float(settings.keep_features),)
        order = np.argsort(-np.abs(coef).max(axis=0), kind="stable")
        for keep in ladder:
            count = max(1, min(n_features, round(keep * n_features)))
            if count == n_features:
                spaces.append((terms, coef, intercept))
                continue
            space = term_space(terms.x, terms.idf, all_terms, np.sort(order[:count]))
            spaces.append((space, *refit(space.x["train"], y["train"])))
    if settings.vocabulary in ("auto", "hashed"):
        if settings.hash_buckets == "auto":
            ladder_b = [b for b in HASH_LADDER if b <= 2 * n_features] or [HASH_LADDER[0]]
        else:
            ladder_b = [int(settings.hash_buckets)]
        for buckets in ladder_b:
            space = hashed(buckets)
            spaces.append((space, *refit(space.x["train"], y["train"])))
    size_setting = settings.keep_features if settings.vocabulary == "terms" else settings.hash_buckets
    fixed = "auto" not in (settings.weights, settings.vocabulary, size_setting)  # asked for: no bound to meet
    candidates: list[Candidate] = []
    best: tuple[int, Compressed] | None = None
    for space, kept_coef, kept_intercept in spaces:
        w, b = lowered(kept_coef, kept_intercept)
        for weight_format in formats:
            dev_accuracy = accuracy(y[dev], predict(space.x[dev], stored_weights(w, weight_format), b))
            size = space.vocabulary_bytes + stored_bytes(w.shape[0], w.shape[1], weight_format)
            candidate = Candidate(space.vocabulary, w.shape[0], weight_format, dev_accuracy, size)
            candidates.append(candidate)
            within = fixed or 100 * (baseline - dev_accuracy) <= settings.max_dev_drop + 1e-9
            if within and (best is None or size < best[0]):
                best = (size, Compressed(space, kept_coef, kept_intercept, weight_format, baseline, candidates))
    if best is None:  # nothing within the bound (only when a fixed format, fraction or bucket count is asked for)
        raise ValueError(
            f"no model stays within {settings.max_dev_drop} accuracy points of float32 on dev ({baseline:.4f}): "
            + ", ".join(f"{c.vocabulary} {c.features}/{c.weight_format} {c.dev_accuracy:.4f}" for c in candidates)
            + "; raise max_dev_drop or leave weights, vocabulary, keep_features and hash_buckets at 'auto'"
        )
    chosen = best[1]
    return Compressed(chosen.space, chosen.coef, chosen.intercept, chosen.weight_format, baseline, candidates)
