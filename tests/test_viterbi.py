"""CRF decoding and likelihood against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from cerebellum.viterbi import viterbi
from forge.trainers.crf_model import CRF


def path_score(path, emissions, transitions, start, end) -> float:
    score = start[path[0]] + emissions[0, path[0]]
    for t in range(1, len(path)):
        score += transitions[path[t - 1], path[t]] + emissions[t, path[t]]
    return score + end[path[-1]]


def random_crf(rng: np.random.Generator, n: int, tags: int):
    draw = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    return draw(n, tags), draw(tags, tags), draw(tags), draw(tags)


@pytest.mark.parametrize("seed", range(20))
def test_viterbi_finds_the_best_path(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, tags = int(rng.integers(1, 6)), int(rng.integers(2, 5))
    emissions, transitions, start, end = random_crf(rng, n, tags)
    best = max(
        itertools.product(range(tags), repeat=n),
        key=lambda p: path_score(p, *(x.astype(np.float64) for x in (emissions, transitions, start, end))),
    )
    assert viterbi(emissions, transitions, start, end) == list(best)


def test_ties_go_to_the_lowest_index() -> None:
    zeros = np.zeros((4, 3), np.float32)
    assert viterbi(zeros, np.zeros((3, 3), np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32)) == [0] * 4
    assert viterbi(np.zeros((0, 3), np.float32), *(np.zeros(s, np.float32) for s in ((3, 3), 3, 3))) == []


def test_negative_log_likelihood_matches_enumeration() -> None:
    rng = np.random.default_rng(7)
    crf = CRF(3)
    emissions = torch.from_numpy(rng.standard_normal((2, 4, 3)).astype(np.float32))
    tags = torch.tensor([[0, 2, 1, 0], [1, 1, 0, 0]])
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    got = crf.neg_log_likelihood(emissions, tags, mask)
    t, s, e = (p.detach().double().numpy() for p in (crf.transitions, crf.start, crf.end))
    losses = []
    for b, length in enumerate([4, 2]):
        em = emissions[b, :length].double().numpy()
        scores = [path_score(p, em, t, s, e) for p in itertools.product(range(3), repeat=length)]
        log_z = np.logaddexp.reduce(scores)
        losses.append(log_z - path_score(tags[b, :length].tolist(), em, t, s, e))
    assert float(got.detach()) == pytest.approx(float(np.mean(losses)), rel=1e-5)
