"""Classification metrics for reports and model cards."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict[str, Any]:
    ids = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=ids, average="macro", zero_division=0)),
        "per_class": [
            {
                "label": label,
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        ],
        "confusion": confusion_matrix(y_true, y_pred, labels=ids).tolist(),
        "rows": int(len(y_true)),
    }


def sentence_span_counts(
    gold: list[list[tuple]], predicted: list[list[tuple]], types: list[str]
) -> dict[str, np.ndarray]:
    """Per entity type, one row per sentence: exact spans right, spans predicted, gold spans.

    ``gold`` and ``predicted`` hold, per sentence, (start, end, type) spans; a
    span listed twice counts once. Types seen but not in ``types`` get rows too,
    after the listed ones.
    """
    seen = {span[2] for sentence in (*gold, *predicted) for span in sentence}
    kinds = list(types) + sorted(seen - set(types))
    index = {kind: i for i, kind in enumerate(kinds)}
    counts = np.zeros((len(kinds), len(gold), 3), np.int64)
    for row, (g, p) in enumerate(zip(gold, predicted, strict=True)):
        g_set, p_set = set(map(tuple, g)), set(map(tuple, p))
        for column, spans in enumerate((g_set & p_set, p_set, g_set)):
            for span in spans:
                counts[index[span[2]], row, column] += 1
    return {kind: counts[i] for kind, i in index.items()}


def span_metrics_from_counts(counts: dict[str, np.ndarray], types: list[str], sentences: int) -> dict[str, Any]:
    """Precision, recall and F1 per type in ``types``, micro-averaged over every type in ``counts``."""
    totals = {kind: [int(x) for x in c.sum(axis=0)] for kind, c in counts.items()}

    def prf(t: int, p: int, g: int) -> tuple[float, float, float]:
        precision = t / p if p else 0.0
        recall = t / g if g else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1

    per_type = []
    for kind in types:
        precision, recall, f1 = prf(*totals[kind])
        per_type.append({"label": kind, "precision": precision, "recall": recall, "f1": f1, "support": totals[kind][2]})
    precision, recall, f1 = prf(*(sum(total[i] for total in totals.values()) for i in range(3)))
    return {"precision": precision, "recall": recall, "f1": f1, "per_type": per_type, "sentences": sentences}


def span_metrics(gold: list[list[tuple]], predicted: list[list[tuple]], types: list[str]) -> dict[str, Any]:
    """Exact span-and-type precision, recall and F1, per type and micro-averaged.

    ``gold`` and ``predicted`` hold, per sentence, (start, end, type) spans.
    """
    return span_metrics_from_counts(sentence_span_counts(gold, predicted, types), types, len(gold))
