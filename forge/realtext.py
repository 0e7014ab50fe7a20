"""Real-text checks: score a bundle on labelled files of real human text.

A task's held-out split comes from the same rows and grammars as its
training data, so it says little about text the model has never seen the
like of. A blueprint task lists evaluation files (``[[tasks.NAME.realtext]]``)
and the build scores them after verify, in a table of their own. A file
that is missing is reported and skipped, never fatal: such files usually
live outside the repository.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from .evaluation import sentence_span_counts, span_metrics_from_counts
from .files import DataFileError, iter_jsonl
from .intervals import bootstrap_f1, percent_range, wilson
from .tagging_data import Repairs, TaggingDataError, tokens_to_spans

BATCH = 256


@dataclass(frozen=True)
class RealTextCheck:
    """One evaluation file and how to read it."""

    name: str
    path: Path
    # Gold label (or entity type) -> the model's label; gold labels of a
    # classifier that are neither mapped nor the model's own drop the row,
    # gold entity types that are not mapped are not scored.
    label_map: dict[str, str] = field(default_factory=dict)
    strip_trailing: str = ""  # characters cut from the end of every text (speech-style input: "?")
    limit: int | None = None  # score only the first rows of a big file
    # Rows passed over before scoring starts: read the first rows while improving
    # a model and keep a second check on the rest, which nothing was shaped after.
    skip: int = 0

    @classmethod
    def from_config(cls, raw: dict[str, Any], directory: Path, where: str) -> RealTextCheck:
        name, path, label_map = labelled_file(raw, {"strip_trailing", "limit", "skip"}, directory, where)
        limit = raw.get("limit")
        return cls(
            name=name,
            path=path,
            label_map=label_map,
            strip_trailing=str(raw.get("strip_trailing", "")),
            limit=None if limit is None else _row_count(limit, "limit", 1, where),
            skip=_row_count(raw.get("skip", 0), "skip", 0, where),
        )


def _row_count(value: Any, key: str, least: int, where: str) -> int:
    # TOML's true is an int to Python; a row count is not a boolean.
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise ValueError(f"{where}: {key} must be a whole number of rows, at least {least}; got {value!r}")
    return value


def labelled_file(
    raw: dict[str, Any], extra_keys: set[str], directory: Path, where: str
) -> tuple[str, Path, dict[str, str]]:
    """The keys every labelled-file table shares: name, path (relative to the blueprint) and label_map."""
    known = {"name", "path", "label_map"} | extra_keys
    unknown = sorted(set(raw) - known)
    if unknown or not isinstance(raw.get("path"), str):
        raise ValueError(f"{where}: expected keys {sorted(known)} with a string 'path'; got {sorted(raw)}")
    path = (directory / raw["path"]).resolve()
    label_map = raw.get("label_map", {})
    if not isinstance(label_map, dict) or not all(isinstance(v, str) for v in label_map.values()):
        raise ValueError(f"{where}: label_map must map strings to strings")
    return str(raw.get("name") or path.stem), path, {str(k): v for k, v in label_map.items()}


def _rows(check: RealTextCheck) -> list[dict[str, Any]]:
    stop = None if check.limit is None else check.skip + check.limit
    return list(islice(iter_jsonl(check.path), check.skip, stop))


def _text(check: RealTextCheck, text: str) -> str:
    if check.strip_trailing:
        text = text.rstrip().rstrip(check.strip_trailing).rstrip()
    return text


def score_classifier(model: Any, check: RealTextCheck) -> dict[str, Any]:
    """Accuracy, recall per gold label, and how often labels the file never uses were predicted.

    When the file uses only some of the model's labels (reviews that are Positive
    or Negative, scored by a model that may also answer Neutral), the accuracy is
    also given with the answer chosen among the file's labels only: how well the
    model tells those labels apart, next to how often it answers outside them.
    """
    labels = list(model.labels)
    texts, gold = [], []
    skipped = 0
    for row in _rows(check):
        text, label = row.get("text"), row.get("label")
        label = check.label_map.get(label, label) if isinstance(label, str) else None
        if not isinstance(text, str) or label not in labels:
            skipped += 1
            continue
        texts.append(_text(check, text))
        gold.append(label)
    deferred: list[bool] = []
    if getattr(model, "defer_rule", None) is not None:  # one pass gives both the label and the decision
        answers = [model.classify(text) for text in texts]
        predicted = [answer.label for answer in answers]
        deferred = [answer.defer for answer in answers]
        scores = np.array([[answer.scores[label] for label in labels] for answer in answers], np.float32)
    else:
        batches = [model.predict_proba_batch(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)]
        scores = np.concatenate(batches) if batches else np.empty((0, len(labels)), np.float32)
        predicted = [labels[i] for i in scores.argmax(axis=1).tolist()]  # the first maximum, as predict_batch
    correct = sum(p == g for p, g in zip(predicted, gold, strict=True))
    used = set(gold)
    recall = {}
    for label in sorted(used, key=labels.index):
        rows = [p for p, g in zip(predicted, gold, strict=True) if g == label]
        recall[label] = sum(p == label for p in rows) / len(rows)
    outside = Counter(p for p in predicted if p not in used)
    result = {
        "kind": "classification",
        "rows": len(texts),
        "skipped": skipped,
        "accuracy": correct / len(texts) if texts else 0.0,
        "accuracy_interval": list(wilson(correct, len(texts))),
        "recall": recall,
        "predicted_outside": {label: n / len(texts) for label, n in sorted(outside.items())},
    }
    if len(used) >= 2 and used != set(labels):
        own = [i for i, label in enumerate(labels) if label in used]
        among = [labels[own[i]] for i in scores[:, own].argmax(axis=1).tolist()]
        right = sum(p == g for p, g in zip(among, gold, strict=True))
        result["accuracy_among_own"] = right / len(texts)
        result["accuracy_among_own_interval"] = list(wilson(right, len(texts)))
    if deferred:
        answered = [not d for d in deferred]
        right = sum(a and p == g for a, p, g in zip(answered, predicted, gold, strict=True))
        result["answered"] = sum(answered) / len(texts)
        result["answered_accuracy"] = right / sum(answered) if any(answered) else 1.0
    return result


def score_tagger(model: Any, check: RealTextCheck) -> dict[str, Any]:
    """Exact-span precision, recall and F1 for the mapped entity types."""
    source_types = set(check.label_map)
    scored = sorted(set(check.label_map.values()))
    gold: list[list[tuple]] = []
    predicted: list[list[tuple]] = []
    skipped = 0
    repairs = Repairs()
    for row in _rows(check):
        tags = row.get("tags")
        if isinstance(tags, list):
            # Types that are not mapped become O, so that they are neither gold nor penalised.
            tags = [t if isinstance(t, str) and t[2:] in source_types else "O" for t in tags]
            tags = [t if t == "O" else f"{t[:2]}{check.label_map[t[2:]]}" for t in tags]
        try:
            text, spans = tokens_to_spans(row.get("tokens"), tags, scored, repairs)
        except TaggingDataError:
            skipped += 1
            continue
        gold.append([tuple(s) for s in spans])
        predicted.append([(e.start, e.end, e.type) for e in model.tag(text) if e.type in scored])
    counts = sentence_span_counts(gold, predicted, scored)
    metrics = span_metrics_from_counts(counts, scored, len(gold))
    for entry in metrics["per_type"]:
        entry["f1_interval"] = list(bootstrap_f1(*counts[entry["label"]].T))
    return {"kind": "tagging", "rows": len(gold), "skipped": skipped, **metrics}


def run_check(model: Any, check: RealTextCheck) -> dict[str, Any]:
    """The check's scores, or ``{"missing": reason}`` when its file cannot be read."""
    if not check.path.is_file():
        return {"name": check.name, "path": str(check.path), "missing": "file not found"}
    tagging = hasattr(model, "tag")
    try:
        result = score_tagger(model, check) if tagging else score_classifier(model, check)
    except DataFileError as exc:
        return {"name": check.name, "path": str(check.path), "missing": str(exc)}
    return {"name": check.name, "path": str(check.path), "file": check.path.name, **result}


def markdown(results: list[dict[str, Any]]) -> list[str]:
    """The model card's real-text section."""
    lines = [
        "## Real-text checks",
        "",
        "Scored on files of real human text that are not in the training data or its sources (their own table, "
        "apart from the held-out split above). In brackets: the 95% interval of this model's accuracy or F1 on "
        "text of the file's kind (Wilson for accuracy, a bootstrap over sentences for F1). Two models scored on "
        "the same file are compared row by row, not by whether these intervals overlap.",
        "",
    ]
    if not results:
        return [*lines, "None listed for this task."]
    classification = [r for r in results if r.get("kind") == "classification"]
    tagging = [r for r in results if r.get("kind") == "tagging"]
    if classification:
        lines += [
            "| check | file | rows | accuracy | recall per label | predicted outside the file's labels "
            "| accuracy choosing among the file's labels only |"
        ]
        lines += ["|---|---|---|---|---|---|---|"]
        for r in classification:
            recall = ", ".join(f"{k} {v:.1%}" for k, v in r["recall"].items())
            outside = ", ".join(f"{k} {v:.1%}" for k, v in r["predicted_outside"].items()) or "none"
            among = (
                f"{r['accuracy_among_own']:.1%} ({percent_range(r['accuracy_among_own_interval'])})"
                if "accuracy_among_own" in r
                else "-"
            )
            lines.append(
                f"| {r['name']} | `{r['file']}` | {r['rows']:,} | **{r['accuracy']:.1%}** "
                f"({percent_range(r['accuracy_interval'])}) | {recall} | {outside} | {among} |"
            )
        lines += [
            f"\n- {r['name']} with the defer rule: {r['answered']:.1%} of rows answered, "
            f"{r['answered_accuracy']:.1%} of those right (the rest handed on)"
            for r in classification
            if "answered" in r
        ]
    if tagging:
        lines += ["| check | file | sentences | type | precision | recall | F1 |", "|---|---|---|---|---|---|---|"]
        for r in tagging:
            for t in r["per_type"]:
                lines.append(
                    f"| {r['name']} | `{r['file']}` | {r['rows']:,} | {t['label']} | {t['precision']:.1%} | "
                    f"{t['recall']:.1%} | **{t['f1']:.1%}** ({percent_range(t['f1_interval'])}) |"
                )
    for r in results:
        if "missing" in r:
            lines.append(f"- {r['name']}: skipped, {r['missing']} (`{r['path']}`)")
    return lines


def summary_line(result: dict[str, Any]) -> str:
    if "missing" in result:
        return f"{result['name']}: skipped ({result['missing']}: {result['path']})"
    if result["kind"] == "tagging":
        parts = ", ".join(
            f"{t['label']} P {t['precision']:.1%} R {t['recall']:.1%} "
            f"F1 {t['f1']:.1%} (95% {percent_range(t['f1_interval'])})"
            for t in result["per_type"]
        )
        return f"{result['name']} ({result['rows']:,} sentences): {parts}"
    recall = ", ".join(f"{k} {v:.1%}" for k, v in result["recall"].items())
    outside = "".join(f", predicted {k} {v:.1%}" for k, v in result["predicted_outside"].items())
    if "accuracy_among_own" in result:
        outside += f"; {result['accuracy_among_own']:.1%} choosing among the file's labels only"
    deferred = (
        f"; with the defer rule {result['answered']:.1%} answered, {result['answered_accuracy']:.1%} of them right"
        if "answered" in result
        else ""
    )
    return (
        f"{result['name']} ({result['rows']:,} rows): accuracy {result['accuracy']:.1%} "
        f"(95% {percent_range(result['accuracy_interval'])}; recall {recall}{outside})" + deferred
    )
