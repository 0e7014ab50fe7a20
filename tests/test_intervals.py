"""95% intervals next to real-text scores: known values, determinism, and widths that shrink with rows."""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from forge.evaluation import sentence_span_counts, span_metrics
from forge.intervals import bootstrap_f1, percent_range, wilson


def test_wilson_matches_known_values_and_stays_in_range() -> None:
    low, high = wilson(50, 100)
    assert low == pytest.approx(0.40383, abs=1e-5) and high == pytest.approx(0.59617, abs=1e-5)
    low, high = wilson(1002, 1200)  # the size of the sentiment check
    assert low == pytest.approx(0.81294, abs=1e-5) and high == pytest.approx(0.85493, abs=1e-5)
    for k, n in [(1, 3), (97, 388), (2990, 3000)]:  # scipy's Wilson interval agrees
        reference = binomtest(k, n).proportion_ci(method="wilson")
        assert wilson(k, n) == pytest.approx((reference.low, reference.high), abs=1e-12)
    assert wilson(0, 10)[0] == 0.0 and wilson(0, 10)[1] == pytest.approx(0.27753, abs=1e-5)
    assert wilson(10, 10)[1] == 1.0 and wilson(10, 10)[0] == pytest.approx(0.72247, abs=1e-5)
    assert wilson(0, 0) == (0.0, 1.0)  # no rows, no knowledge
    with pytest.raises(ValueError, match="within 0..3"):
        wilson(4, 3)


def test_bootstrap_f1_is_seeded_contains_the_score_and_narrows_with_sentences() -> None:
    # 60 of 100 sentences have their one name found, 40 a wrong span instead: F1 0.6.
    right = [1] * 60 + [0] * 40
    found = [1] * 100
    wanted = [1] * 100
    small = bootstrap_f1(right, found, wanted)
    assert small == bootstrap_f1(right, found, wanted)  # the same interval on every run and machine
    assert small[0] < 0.6 < small[1]
    assert 0.45 < small[0] and small[1] < 0.75  # about +-0.1 for 100 sentences
    big = bootstrap_f1(right * 100, found * 100, wanted * 100)
    assert big[0] < 0.6 < big[1] and (big[1] - big[0]) < (small[1] - small[0]) / 5
    # Two spans predicted per sentence, one of them right: precision 1/2, recall 1, F1 2/3 in every resample.
    assert bootstrap_f1([1] * 50, [2] * 50, [1] * 50) == pytest.approx((2 / 3, 2 / 3))
    assert bootstrap_f1([1, 1], [1, 1], [1, 1]) == (1.0, 1.0)
    # One span in 500 sentences, found: a resample without it has no F1 (not an F1 of 0).
    assert bootstrap_f1([1] + [0] * 499, [1] + [0] * 499, [1] + [0] * 499) == (1.0, 1.0)
    assert bootstrap_f1([], [], []) == (0.0, 1.0)
    with pytest.raises(ValueError, match="one count per sentence"):
        bootstrap_f1([1], [1, 1], [1])


def test_per_type_counts_give_span_metrics_and_an_interval_around_it() -> None:
    # Sentences with PERS and PROJ spans; the prediction gets every PERS and half the PROJ spans right.
    gold, predicted = [], []
    for i in range(200):
        gold.append([(0, 2, "PERS"), (5, 9, "PROJ")])
        predicted.append([(0, 2, "PERS"), (5, 9 if i % 2 else 8, "PROJ")])
    metrics = {t["label"]: t["f1"] for t in span_metrics(gold, predicted, ["PERS", "PROJ"])["per_type"]}
    assert metrics == {"PERS": 1.0, "PROJ": 0.5}
    counts = sentence_span_counts(gold, predicted, ["PERS", "PROJ"])
    assert counts["PROJ"].sum(axis=0).tolist() == [100, 200, 200]  # right, predicted, gold
    assert bootstrap_f1(*counts["PERS"].T) == (1.0, 1.0)  # the other type's misses do not count
    low, high = bootstrap_f1(*counts["PROJ"].T)
    assert low < metrics["PROJ"] < high and high - low < 0.2


def test_percent_range_formats_tables() -> None:
    assert percent_range((0.81297, 0.85311)) == "81.3-85.3%"
    assert percent_range([0.0, 1.0]) == "0.0-100.0%"
