"""``predict`` without the spec's exact arithmetic, when a bound proves the answer is the same.

``predict`` needs only the index of the top score. For the softmax and mirrored-sigmoid forms
that is the index of the top float32 logit whenever it leads by more than ``DECISIVE``
(``LinearModel.top_of``). Here the logits are approximated with one numpy reduction over
weights pre-multiplied by idf, in whatever order numpy sums, and the lead must exceed
``DECISIVE`` plus a bound on everything the approximation skips: the float32 roundings of
tf * idf, of each value after the L2 division and of the logits, and the order of the float64
sums. A text whose lead is closer than that gets None, and the caller runs the exact path.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from .linear import DECISIVE, FLOAT64_COPY_LIMIT, MIRRORED, SOFTMAX, LinearModel
from .tfidf import TfidfVectorizer

# Per logit, the exact path and this sum differ by less than 2^-22 of the sum of |value * weight|
# (float32 values carry at most two roundings plus the norm's, each <= 2^-24 relative) plus 2^-24
# of the logit (its rounding to float32); float64 error is far below both. 2^-21 covers the lot.
ERROR_SCALE = 2.0**-21
# The bound holds while every float32 quantity of the exact path stays normal and finite:
# idf values within SCALE_RANGE of one another (so no value underflows to a subnormal after the
# L2 division), and logits plus the bound far below float32's largest value (so no value or
# logit overflows to infinity, where the exact path answers from NaN scores).
SCALE_RANGE = 2.0**40
IDF_LIMIT = 2.0**60  # tf * idf stays finite in float32 for any count a text can hold
LOGIT_LIMIT = 2.0**100


class TopShortcut:
    """Top-label index from the columns a text's terms were found at, or None when unproven."""

    def __init__(self, linear: LinearModel, idf: np.ndarray, l2: bool) -> None:
        scaled = idf.astype(np.float64)[:, None] * linear.weights.astype(np.float64)
        # one extra column: each row's largest |idf * weight|, summed along for the error bound
        self._table = np.ascontiguousarray(np.hstack([scaled, np.abs(scaled).max(axis=1, keepdims=True)]))
        self._idf_squared = (idf.astype(np.float64) ** 2).tolist()  # exact: float32 squares fit float64
        self._bias = linear.bias.tolist()
        self._l2 = l2
        self._mirrored = linear.post == MIRRORED

    @classmethod
    def of(cls, linear: LinearModel | None, vectorizer: TfidfVectorizer) -> TopShortcut | None:
        """The shortcut for a model whose top score follows its top logit, when its table is small."""
        if linear is None or linear.post not in (SOFTMAX, MIRRORED):
            return None
        if linear.weights.size + len(vectorizer) > FLOAT64_COPY_LIMIT:
            return None
        idf = vectorizer.idf
        if len(idf) and (float(idf.max()) > IDF_LIMIT or float(idf.max()) > SCALE_RANGE * float(idf.min())):
            return None
        return cls(linear, vectorizer.idf, vectorizer.l2)

    def top(self, found: list[int]) -> int | None:
        if not found:
            return None
        sums = self._table.take(found, axis=0).sum(axis=0).tolist()
        bound = sums.pop()
        if self._l2:
            idf_squared = self._idf_squared
            if len(set(found)) == len(found):
                total = sum([idf_squared[j] for j in found])
            else:
                total = sum([n * n * idf_squared[j] for j, n in Counter(found).items()])
            norm = math.sqrt(total)
            z = [s / norm + b for s, b in zip(sums, self._bias, strict=True)]
            bound /= norm
        else:
            z = [s + b for s, b in zip(sums, self._bias, strict=True)]
        largest = max(map(abs, z))
        if not largest + bound < LOGIT_LIMIT:  # beyond float32's range the exact path has NaN scores
            return None
        slack = ERROR_SCALE * (1.0 + bound + largest)
        if self._mirrored:
            lead = z[0]
            return 1 if lead > DECISIVE + slack else 0 if -lead > DECISIVE + slack else None
        top = max(z)
        i = z.index(top)
        z[i] = -math.inf
        return i if top - max(z) > DECISIVE + 2 * slack else None
