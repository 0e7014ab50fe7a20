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


def span_metrics(gold: list[list[tuple]], predicted: list[list[tuple]], types: list[str]) -> dict[str, Any]:
    """Exact span-and-type precision, recall and F1, per type and micro-averaged.

    ``gold`` and ``predicted`` hold, per sentence, (start, end, type) spans.
    """
    tp = dict.fromkeys(types, 0)
    n_gold = dict.fromkeys(types, 0)
    n_pred = dict.fromkeys(types, 0)
    for g, p in zip(gold, predicted, strict=True):
        g_set, p_set = set(map(tuple, g)), set(map(tuple, p))
        for span in g_set:
            n_gold[span[2]] = n_gold.get(span[2], 0) + 1
        for span in p_set:
            n_pred[span[2]] = n_pred.get(span[2], 0) + 1
        for span in g_set & p_set:
            tp[span[2]] = tp.get(span[2], 0) + 1

    def prf(t: int, p: int, g: int) -> tuple[float, float, float]:
        precision = t / p if p else 0.0
        recall = t / g if g else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1

    per_type = []
    for kind in types:
        precision, recall, f1 = prf(tp[kind], n_pred[kind], n_gold[kind])
        per_type.append(
            {"label": kind, "precision": precision, "recall": recall, "f1": f1, "support": int(n_gold[kind])}
        )
    precision, recall, f1 = prf(sum(tp.values()), sum(n_pred.values()), sum(n_gold.values()))
    return {"precision": precision, "recall": recall, "f1": f1, "per_type": per_type, "sentences": len(gold)}
