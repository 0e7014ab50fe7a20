"""CRF decoding with float32 additions and comparisons only (spec section 8)."""

from __future__ import annotations

import numpy as np


def viterbi(emissions: np.ndarray, transitions: np.ndarray, start: np.ndarray, end: np.ndarray) -> list[int]:
    """The highest-scoring tag sequence; ties go to the lowest tag index.

    emissions [n, T], transitions [T, T] (from, to), start [T], end [T], all float32.
    Step t: for each tag j, best_j = max over i of (score_i + transitions[i, j]),
    the lowest i among equals; score_j = best_j + emissions[t, j].
    """
    n, num_tags = emissions.shape
    if n == 0:
        return []
    into = np.ascontiguousarray(transitions.T)  # [to, from]
    rows = np.arange(num_tags)
    score = start + emissions[0]
    pointers = []
    for t in range(1, n):
        candidates = into + score  # candidates[j, i] = score_i + transitions[i, j]
        best_from = candidates.argmax(axis=1)  # the first maximum: lowest index
        pointers.append(best_from)
        score = candidates[rows, best_from] + emissions[t]
    last = int((score + end).argmax())
    path = [last]
    for best_from in reversed(pointers):
        last = int(best_from[last])
        path.append(last)
    path.reverse()
    return path
