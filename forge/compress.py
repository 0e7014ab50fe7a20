"""Smaller linear models: weight formats and feature pruning, chosen on dev accuracy.

The runtimes evaluate the weights exactly as stored (spec section 7), so the
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

WEIGHT_FORMATS = ("float32", "float16", "int8")
SMALLEST_FIRST = ("int8", "float16", "float32")
KEEP_LADDER = (0.15, 0.25, 0.4, 0.6, 1.0)  # fractions of the vocabulary tried by keep_features = "auto"


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


def predict(x: sparse.csr_matrix, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Class ids as the runtimes decide them: a binary model's single logit > 0, else the first maximum."""
    z = x.astype(np.float64) @ weights.astype(np.float64) + bias.astype(np.float64)
    if weights.shape[1] == 1:
        return (z[:, 0] > 0).astype(np.int64)
    return np.asarray(z).argmax(axis=1)


@dataclass(frozen=True)
class Candidate:
    keep: float  # fraction of the vocabulary kept
    weight_format: str
    features: int
    dev_accuracy: float
    weight_bytes: int

    def as_dict(self) -> dict[str, float | int | str]:
        return self.__dict__.copy()


@dataclass(frozen=True)
class Compressed:
    columns: np.ndarray  # kept vocabulary columns, ascending
    coef: np.ndarray
    intercept: np.ndarray
    weight_format: str
    baseline_dev_accuracy: float
    candidates: list[Candidate]


def restrict(x: sparse.csr_matrix, columns: np.ndarray) -> sparse.csr_matrix:
    """TF-IDF rows restricted to ``columns``, L2-normalised again over what is left (as the runtime computes them)."""
    return normalize(x[:, columns], norm="l2", copy=True).tocsr()


def accuracy(y: np.ndarray, predicted: np.ndarray) -> float:
    return float((y == predicted).mean()) if len(y) else 1.0


def choose(
    coef: np.ndarray,
    intercept: np.ndarray,
    x: dict[str, sparse.csr_matrix],
    y: dict[str, np.ndarray],
    refit: Callable[[sparse.csr_matrix, np.ndarray], tuple[np.ndarray, np.ndarray]],
    weights: str,
    keep_features: str | float,
    max_dev_drop: float,
) -> Compressed:
    """The smallest model (fewest bytes of weights and vocabulary) within ``max_dev_drop`` accuracy points of float32.

    ``x`` holds the L2-normalised TF-IDF matrices of "train" and "dev" (rows are
    renormalised over kept columns); ``refit`` fits the same estimator on kept
    columns and returns its coef_ and intercept_.
    """
    dev = "dev" if len(y["dev"]) else "train"
    n_features = coef.shape[1]
    full = np.arange(n_features)
    x_dev_full = restrict(x[dev], full)
    baseline = accuracy(y[dev], predict(x_dev_full, *lowered(coef, intercept)))
    formats = SMALLEST_FIRST if weights == "auto" else (weights,)
    ladder = KEEP_LADDER if keep_features == "auto" else (float(keep_features),)
    importance = np.abs(coef).max(axis=0)
    order = np.argsort(-importance, kind="stable")
    candidates: list[Candidate] = []
    best: tuple[int, Compressed] | None = None
    for keep in ladder:
        count = max(1, min(n_features, round(keep * n_features)))
        columns = np.sort(order[:count]) if count < n_features else full
        if count < n_features:
            kept_coef, kept_intercept = refit(restrict(x["train"], columns), y["train"])
            x_dev = restrict(x[dev], columns)
        else:
            kept_coef, kept_intercept, x_dev = coef, intercept, x_dev_full
        w, b = lowered(kept_coef, kept_intercept)
        for weight_format in formats:
            dev_accuracy = accuracy(y[dev], predict(x_dev, stored_weights(w, weight_format), b))
            candidate = Candidate(
                keep, weight_format, count, dev_accuracy, stored_bytes(count, w.shape[1], weight_format)
            )
            candidates.append(candidate)
            fixed = weights != "auto" and keep_features != "auto"  # asked for: no bound to meet
            within = fixed or 100 * (baseline - dev_accuracy) <= max_dev_drop + 1e-9
            # vocabulary terms cost about as much as their weights: compare kept features first
            size = count * 16 + candidate.weight_bytes
            if within and (best is None or size < best[0]):
                best = (size, Compressed(columns, kept_coef, kept_intercept, weight_format, baseline, candidates))
    if best is None:  # nothing within the bound (only when a fixed format or fraction is asked for)
        raise ValueError(
            f"no compressed model stays within {max_dev_drop} accuracy points of float32 on dev "
            f"({baseline:.4f}): " + ", ".join(f"{c.keep:g}/{c.weight_format} {c.dev_accuracy:.4f}" for c in candidates)
        )
    chosen = best[1]
    return Compressed(chosen.columns, chosen.coef, chosen.intercept, chosen.weight_format, baseline, candidates)
