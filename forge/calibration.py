"""Calibrated scores and a defer rule for linear classifiers, fitted on the dev split.

Calibration is folded into the weights and bias (spec section 6), so every engine computes
calibrated scores without knowing about it; the defer rule is stored in the preprocessor and
applied by the runtimes. Rows labelled ``__none__`` (out of scope: no label fits) never train
the model; on dev they help choose the threshold and on test they measure how many are caught.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_softmax, softmax

from cerebellum._proto import bundle_pb2 as pb

from .refine import OUT_OF_SCOPE

__all__ = ["OUT_OF_SCOPE", "Calibration", "choose_threshold", "figures", "fit", "measure", "scores"]
METHODS = ("temperature", "platt", "none")
DEFER_TARGETS = ("precision", "coverage", "none")
MEASURES = ("top_score", "margin")
ECE_BINS = 15
RELIABILITY_BINS = 10


@dataclass(frozen=True)
class Calibration:
    """logit -> scale * logit + offset (temperature: scale = 1 / T, offset = 0)."""

    method: str
    scale: float = 1.0
    offset: float = 0.0

    @property
    def temperature(self) -> float:
        return 1.0 / self.scale

    def apply(self, coef: np.ndarray, intercept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """scikit-learn's coef_/intercept_ with the calibration folded in."""
        return coef * self.scale, intercept * self.scale + self.offset


def scores(z: np.ndarray) -> np.ndarray:
    """The graph's scores of [rows, width] logits: the binary pair for one logit, else softmax."""
    if z.shape[1] == 1:
        p = expit(z[:, 0])
        return np.stack([1.0 - p, p], axis=1)
    return softmax(z, axis=1)


def _nll(z: np.ndarray, y: np.ndarray) -> float:
    if z.shape[1] == 1:
        t = z[:, 0]
        # log sigmoid of the true side, stably
        signed = np.where(y == 1, t, -t)
        return float(np.mean(np.logaddexp(0.0, -signed)))
    return float(-np.mean(log_softmax(z, axis=1)[np.arange(len(y)), y]))


def fit(method: str, z: np.ndarray, y: np.ndarray) -> Calibration:
    """The calibration of dev logits ``z`` (float64 [rows, width]) against labels ``y``."""
    if method == "none" or len(y) == 0:
        return Calibration("none")
    if method == "temperature":
        # log T in [-4, 4]: T from 0.02 to 55, far beyond what a fitted model needs
        best = minimize_scalar(lambda u: _nll(z / math.exp(u), y), bounds=(-4.0, 4.0), method="bounded")
        return Calibration("temperature", scale=1.0 / math.exp(float(best.x)))
    if method == "platt":
        if z.shape[1] != 1:
            raise ValueError("platt calibration needs a one-logit (binary) model; use temperature")
        from scipy.optimize import minimize

        result = minimize(lambda ab: _nll(z * ab[0] + ab[1], y), x0=np.array([1.0, 0.0]), method="Nelder-Mead")
        scale, offset = (float(v) for v in result.x)
        if scale <= 0:
            raise ValueError("platt calibration came out with a negative slope: the dev split is too small or odd")
        return Calibration("platt", scale=scale, offset=offset)
    raise ValueError(f"calibration must be one of {METHODS}, got {method!r}")


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """Top-score ECE: |accuracy - confidence| over equal-width bins, weighted by their rows."""
    if len(y) == 0:
        return 0.0
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in range(bins):
        rows = which == b
        if rows.any():
            total += rows.sum() * abs(correct[rows].mean() - confidence[rows].mean())
    return float(total / len(y))


def reliability(p: np.ndarray, y: np.ndarray, bins: int = RELIABILITY_BINS) -> list[dict[str, float]]:
    """Per equal-width bin of the top score: its range, rows, mean score and accuracy."""
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    table = []
    for b in range(bins):
        rows = which == b
        if rows.any():
            table.append(
                {
                    "low": b / bins,
                    "high": (b + 1) / bins,
                    "rows": int(rows.sum()),
                    "confidence": float(confidence[rows].mean()),
                    "accuracy": float(correct[rows].mean()),
                }
            )
    return table


def measure(p: np.ndarray, which: str) -> np.ndarray:
    """The defer measure of scores ``p`` per row, rounded to float32 first as the runtimes' are."""
    p = p.astype(np.float32).astype(np.float64)
    if which == "top_score":
        return p.max(axis=1)
    ranked = np.sort(p, axis=1)
    return ranked[:, -1] - ranked[:, -2]


@dataclass(frozen=True)
class Figures:
    """How a defer threshold does on one split."""

    rows: int
    coverage: float
    answered_accuracy: float
    out_of_scope_rows: int
    out_of_scope_deferred: float

    def as_proto(self) -> pb.DeferFigures:
        return pb.DeferFigures(**asdict(self))


def figures(m: np.ndarray, correct: np.ndarray, m_oos: np.ndarray, threshold: float) -> Figures:
    answered = m >= threshold
    return Figures(
        rows=len(m),
        coverage=float(answered.mean()) if len(m) else 0.0,
        answered_accuracy=float(correct[answered].mean()) if answered.any() else 1.0,
        out_of_scope_rows=len(m_oos),
        out_of_scope_deferred=float((m_oos < threshold).mean()) if len(m_oos) else 0.0,
    )


@dataclass(frozen=True)
class Choice:
    threshold: float  # a float32 value
    target: str
    reached: bool


def choose_threshold(m: np.ndarray, correct: np.ndarray, m_oos: np.ndarray, target: str, goal: float) -> Choice:
    """The float32 threshold for ``target`` on dev, answering as many in-scope rows as it allows.

    precision: answered rows (in scope and out of scope alike) right at least ``goal`` of the time
    (an answered out-of-scope row is wrong); coverage: defer at most ``goal`` of in-scope rows.
    The threshold sits halfway between the last row answered and the first deferred, so that a
    runtime whose scores differ from the forge's in the last float32 bits decides those rows alike.
    """
    if target == "coverage":
        if not 0 <= goal < 1:
            raise ValueError(f"defer_goal for coverage is the most rows to defer, in [0, 1); got {goal}")
        ordered = np.unique(m)  # ascending, distinct
        allowed = math.floor(goal * len(m))
        # the most distinct values that can be deferred whole without deferring more than allowed
        below = int(np.searchsorted(np.cumsum([np.count_nonzero(m == v) for v in ordered]), allowed, side="right"))
        threshold = _between(ordered[below - 1], ordered[below]) if 0 < below < len(ordered) else 0.0
        return Choice(threshold, f"defer at most {goal:.0%} of dev rows", True)
    if target != "precision":
        raise ValueError(f"defer must be one of {DEFER_TARGETS}, got {target!r}")
    if not 0 < goal <= 1:
        raise ValueError(f"defer_goal for precision is the accuracy of answered rows, in (0, 1]; got {goal}")
    described = f"answered dev rows right >= {goal:.1%} of the time"
    values = np.concatenate([m, m_oos])
    if not len(values):
        return Choice(0.0, described + " (no dev rows: every text is answered)", False)
    right = np.concatenate([correct, np.zeros(len(m_oos), dtype=bool)])
    order = np.argsort(-values, kind="stable")  # most confident first
    values, right = values[order], right[order]
    precision = np.cumsum(right) / np.arange(1, len(values) + 1)
    # answering the rows down to position i means a threshold just under values[i]; ties go together
    last_of_tie = np.r_[values[1:] != values[:-1], True]
    ok = np.flatnonzero((precision >= goal) & last_of_tie)
    reached = bool(len(ok))
    if reached:
        i = int(ok[-1])
    else:
        candidates = np.flatnonzero(last_of_tie)
        i = int(candidates[np.argmax(precision[candidates])])
        described += " (not reached: the best dev precision)"
    threshold = _between(values[i + 1], values[i]) if i + 1 < len(values) else 0.0
    return Choice(threshold, described, reached)


def _between(low: float, high: float) -> float:
    """A float32 threshold in (low, high] where one exists: rows measuring ``high`` are answered, ``low`` deferred."""
    for candidate in (_float32_at_most((float(low) + float(high)) / 2), _float32_at_most(float(high))):
        if candidate > low:
            return candidate
    return float(np.float32(high))  # no float32 lies between them


def _float32_at_most(value: float) -> float:
    """The largest float32 not above ``value``: rows measuring ``value`` stay answered."""
    f = np.float32(value)
    if float(f) > value:
        f = np.nextafter(f, np.float32(-np.inf))
    return float(f)
