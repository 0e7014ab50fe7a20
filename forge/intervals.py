"""95% intervals for accuracy and span F1 measured on a sample of real text.

A real-text check holds a few hundred or a few thousand rows: on 1,200
reviews an accuracy of 84% says the model scores about 82-86% on reviews of
that kind. The interval is about one model; two models scored on the same
rows are compared row by row (they share most of their luck), which this
module does not do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Z95 = 1.959963984540054  # two-sided 95% of the standard normal
BOOTSTRAP_RESAMPLES = 1000
# Fixed, so that a check gives the same interval on every run and machine with the same numpy.
BOOTSTRAP_SEED = 20261202


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion (sound near 0% and 100%, unlike the normal one)."""
    if trials <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be within 0..{trials}; got {successes}")
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    # At 0 and at every row right the bound is exact; the formula can miss it by a rounding.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return (low, high)


def bootstrap_f1(
    true_positives: Sequence[int],
    predicted: Sequence[int],
    gold: Sequence[int],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile bootstrap interval of span F1, resampling whole sentences.

    The arguments hold one count per sentence (spans right, spans predicted,
    gold spans). Sentences, not spans, are drawn because the spans of one
    sentence are not independent of each other. A resample without a single
    predicted or gold span has no F1 and is left out.
    """
    tp = np.asarray(true_positives, dtype=np.int64)
    pred = np.asarray(predicted, dtype=np.int64)
    ref = np.asarray(gold, dtype=np.int64)
    if not tp.shape == pred.shape == ref.shape or tp.ndim != 1:
        raise ValueError("true_positives, predicted and gold need one count per sentence each")
    n = len(tp)
    if n == 0:
        return (0.0, 1.0)
    rng = np.random.default_rng(seed)
    scores = np.empty(resamples)
    chunk = max(1, 4_000_000 // n)  # bounds the index matrix at a few tens of MB for big checks
    for start in range(0, resamples, chunk):
        rows = rng.integers(0, n, size=(min(chunk, resamples - start), n))
        t, p, g = tp[rows].sum(1), pred[rows].sum(1), ref[rows].sum(1)
        total = p + g
        # 2TP / (predicted + gold) is 2PR / (P + R), the F1 of evaluation.span_metrics.
        scores[start : start + len(rows)] = np.divide(2 * t, total, out=np.full(len(rows), np.nan), where=total > 0)
    if np.isnan(scores).all():  # no spans at all, or so rare that no resample drew one
        return (0.0, 1.0)
    low, high = np.nanpercentile(scores, [2.5, 97.5])
    return (float(low), float(high))


def percent_range(interval: Sequence[float]) -> str:
    """'81.2-85.4%', for tables."""
    low, high = interval
    return f"{low:.1%}-{high:.1%}".replace("%-", "-")
