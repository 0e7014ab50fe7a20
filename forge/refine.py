"""Refine raw rows into clean train/dev/test splits, with a quality report."""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .blueprint import RefineConfig, SplitConfig
from .files import DataFileError
from .near_duplicates import near_duplicates
from .tagging_data import Repairs, TaggingDataError, check_spans, tokens_to_spans
from .textnorm import dedupe_key, normalize_text

SPLITS = ("train", "dev", "test")
_SPACES = re.compile(r"\s+")


@dataclass
class RefineReport:
    rows_in: int = 0
    dropped: Counter = field(default_factory=Counter)  # reason -> rows
    relabelled: int = 0  # labels mapped to their canonical spelling
    repaired: Counter = field(default_factory=Counter)  # repair -> times
    kept: int = 0

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] += n


class NoTrainingRowsError(DataFileError):
    """Refining left the train split empty, so no later step can run."""


def check_trainable(task: str, source: str, report: RefineReport, train_rows: int, details: Path) -> None:
    """Stop at refine, saying why, when nothing is left to train on (NoTrainingRowsError)."""
    if train_rows:
        return
    if report.rows_in == 0:
        why = f"{source} holds no rows"
    elif report.kept == 0:
        why = f"all {report.rows_in} rows read from {source} were dropped"
    else:
        why = (
            f"none of the {report.kept} rows kept (of {report.rows_in} read from {source}) is a training row: "
            "they are all out-of-scope rows or dev/test rows"
        )
    reasons = report.dropped.most_common()
    dropped = "; ".join(f"{n} {reason}" for reason, n in reasons[:5])
    if len(reasons) > 5:
        dropped += f"; and {len(reasons) - 5} more reasons"
    raise NoTrainingRowsError(
        f"task {task!r}: refine left no rows to train on: {why}"
        + (f" (dropped: {dropped})" if dropped else "")
        + f"; details in {details}"
    )


# The label of a row no class fits: it trains nothing and tells the defer rule what to hand on.
OUT_OF_SCOPE = "__none__"


class LabelMap:
    """Maps label spellings that differ only in case or spacing to the canonical label."""

    def __init__(self, labels: Iterable[str]) -> None:
        self.labels = tuple(labels)
        self._by_key = {self._key(label): label for label in self.labels}

    @staticmethod
    def _key(label: str) -> str:
        return _SPACES.sub("", label).casefold()

    def canonical(self, label: str) -> str | None:
        return self._by_key.get(self._key(label))


def clean_rows(
    rows: Iterable[dict[str, Any]], labels: LabelMap, cfg: RefineConfig, report: RefineReport, dedupe: bool
) -> list[dict[str, str]]:
    """Validate, normalize and (optionally) deduplicate classification rows."""
    kept: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    conflicting: set[str] = set()
    for row in rows:
        report.rows_in += 1
        text, label = row.get("text"), row.get("label")
        if not isinstance(text, str) or not isinstance(label, str):
            report.drop("missing or non-string text/label")
            continue
        canonical = OUT_OF_SCOPE if label == OUT_OF_SCOPE else labels.canonical(label)
        if canonical is None:
            report.drop(f"unknown label {label!r}")
            continue
        if canonical != label:
            report.relabelled += 1
        text = normalize_text(text)
        problem = length_problem(text, cfg)
        if problem:
            report.drop(problem)
            continue
        if dedupe:
            key = dedupe_key(text)
            if key in seen:
                if kept[seen[key]]["label"] != canonical:
                    conflicting.add(key)
                report.drop("duplicate")
                continue
            seen[key] = len(kept)
        kept.append(_with_source({"text": text, "label": canonical}, row))
    if conflicting:
        before = len(kept)
        kept = [r for r in kept if dedupe_key(r["text"]) not in conflicting]
        report.drop("same text with conflicting labels", before - len(kept))
    if dedupe:
        kept = _drop_near_duplicates(kept, cfg, report, lambda i, j: kept[i]["label"] == kept[j]["label"])
    report.kept += len(kept)
    return kept


def _with_source(clean: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """Keep the name of the source a row came from (rows of extra sources carry one)."""
    if isinstance(row.get("source"), str):
        clean["source"] = row["source"]
    return clean


def length_problem(text: str, cfg: RefineConfig) -> str:
    """Why ``text`` is outside the blueprint's length limits ("" when it is not); spaces alone do not count."""
    if len(text.strip()) < cfg.min_chars:
        return f"shorter than {cfg.min_chars} characters"
    if len(text) > cfg.max_chars:
        return f"longer than {cfg.max_chars} characters"
    return ""


def _drop_near_duplicates(
    rows: list[dict[str, Any]], cfg: RefineConfig, report: RefineReport, same_group: Callable[[int, int], bool]
) -> list[dict[str, Any]]:
    drop = near_duplicates([r["text"] for r in rows], cfg.near_duplicate_threshold, same_group)
    if drop:
        report.drop(f"near-duplicate (character 3-gram Jaccard >= {cfg.near_duplicate_threshold})", len(drop))
    return [r for i, r in enumerate(rows) if i not in drop]


def clean_tagged_rows(
    rows: Iterable[dict[str, Any]],
    types: LabelMap,
    cfg: RefineConfig,
    report: RefineReport,
    dedupe: bool,
) -> list[dict[str, Any]]:
    """Validate tagging rows ({"text","spans"} or BIO {"tokens","tags"}) into {"text","spans"}."""
    kept: list[dict[str, Any]] = []
    seen: set[str] = set()
    repairs = Repairs()
    for row in rows:
        report.rows_in += 1
        try:
            if "tokens" in row or "tags" in row:
                canonical_tags = [_canonical_tag(t, types) for t in row.get("tags") or []]
                text, spans = tokens_to_spans(row.get("tokens"), canonical_tags, types.labels, repairs)
            elif isinstance(row.get("text"), str):
                text = row["text"]
                spans = check_spans(text, [_canonical_span(s, types) for s in row.get("spans", [])], types.labels)
            else:
                raise TaggingDataError("neither text/spans nor tokens/tags")
        except TaggingDataError as exc:
            report.drop(f"invalid: {_reason(exc)}")
            continue
        problem = length_problem(text, cfg)
        if problem:
            report.drop(problem)
            continue
        if dedupe:
            key = dedupe_key(text)
            if key in seen:
                report.drop("duplicate")
                continue
            seen.add(key)
        kept.append(_with_source({"text": text, "spans": [list(s) for s in spans]}, row))
    for what, n in repairs.counts.items():
        report.repaired[what] += n
    if dedupe:
        kept = _drop_near_duplicates(kept, cfg, report, lambda i, j: True)
    report.kept += len(kept)
    return kept


def _canonical_tag(tag: Any, types: LabelMap) -> Any:
    if not isinstance(tag, str) or tag.strip().upper() == "O":
        return "O" if isinstance(tag, str) else tag
    prefix, _, kind = tag.strip().partition("-")
    canonical = types.canonical(kind)
    return f"{prefix.upper()}-{canonical}" if canonical else tag


def _canonical_span(span: Any, types: LabelMap) -> Any:
    if isinstance(span, list | tuple) and len(span) == 3 and isinstance(span[2], str):
        return [span[0], span[1], types.canonical(span[2]) or span[2]]
    return span


def _reason(exc: Exception) -> str:
    """Group messages by kind, not by their row-specific numbers."""
    return re.sub(r"\d+", "N", re.sub(r"'[^']*'", "'…'", str(exc)))


def group_of(row: dict[str, Any]) -> str:
    """What splits are stratified on: the label, or a tagging row's first entity type."""
    if "label" in row:
        return row["label"]
    return row["spans"][0][2] if row["spans"] else "(no entity)"


def carve(
    rows: list[dict[str, Any]], shares: dict[str, float], seed: int
) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """Per group, a seeded shuffle, then each named share in order; the rest stays (the first result)."""
    by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_group[group_of(row)].append(row)
    rng = random.Random(seed)
    carved: dict[str, list[dict[str, Any]]] = {name: [] for name in shares}
    rest: list[dict[str, Any]] = []
    for group in sorted(by_group):
        members = by_group[group]
        rng.shuffle(members)
        at = 0
        for name, share in shares.items():
            n = round(len(members) * share)
            carved[name].extend(members[at : at + n])
            at += n
        rest.extend(members[at:])
    rng.shuffle(rest)
    for name in shares:
        rng.shuffle(carved[name])
    return rest, carved


def stratified_split(rows: list[dict[str, Any]], cfg: SplitConfig, seed: int) -> dict[str, list[dict[str, Any]]]:
    """Per group: a seeded shuffle, then the test and dev shares, the rest for training.

    Out-of-scope rows train nothing, so they are all shared between dev and test instead.
    """
    inside = [r for r in rows if r.get("label") != OUT_OF_SCOPE]
    outside = [r for r in rows if r.get("label") == OUT_OF_SCOPE]
    train, carved = carve(inside, {"test": cfg.test, "dev": cfg.dev}, seed)
    if outside:
        rest, to_test = carve(outside, {"test": cfg.test / (cfg.dev + cfg.test)}, seed)
        carved["dev"] += rest
        carved["test"] += to_test["test"]
    return {"train": train, "dev": carved["dev"], "test": carved["test"]}


def accounting(files: dict[str, str], reports: dict[str, RefineReport], moved: dict[str, dict[str, int]]) -> list[str]:
    """Every row of every input file: read = dropped + kept, and where the kept rows went.

    ``files`` maps a split's input to its file name, ``moved`` a split's
    input to the splits its kept rows ended in.
    """
    lines = ["", "## Row accounting", "", "| file | read | dropped | kept | to train | to dev | to test |"]
    lines.append("|---|---|---|---|---|---|---|")
    totals = [0] * 6
    for split, name in files.items():
        r = reports[split]
        dropped = sum(r.dropped.values())
        values = [r.rows_in, dropped, r.kept] + [moved[split].get(s, 0) for s in SPLITS]
        totals = [a + b for a, b in zip(totals, values, strict=True)]
        lines.append(f"| {name} | " + " | ".join(map(str, values)) + " |")
    lines.append("| all | " + " | ".join(map(str, totals)) + " |")
    for split, name in files.items():
        for reason, n in reports[split].dropped.most_common():
            lines.append(f"- {name}: {n} dropped, {reason}")
    return lines


def merge_reports(reports: list[RefineReport]) -> RefineReport:
    merged = RefineReport()
    for r in reports:
        merged.rows_in += r.rows_in
        merged.kept += r.kept
        merged.relabelled += r.relabelled
        merged.dropped.update(r.dropped)
        merged.repaired.update(r.repaired)
    return merged


def overlap(splits: dict[str, list[dict[str, str]]]) -> dict[str, int]:
    """How many dev/test texts also occur (as duplicates) in train."""
    train = {dedupe_key(r["text"]) for r in splits["train"]}
    return {s: sum(dedupe_key(r["text"]) in train for r in splits[s]) for s in ("dev", "test")}


def quality_report(task: str, source: str, report: RefineReport, splits: dict[str, list[dict[str, Any]]]) -> str:
    groups = sorted({group_of(r) for rows in splits.values() for r in rows})
    lines = [f"# Quality report: {task}", "", f"Source: {source}", ""]
    lines += [f"- rows read: {report.rows_in}", f"- rows kept: {report.kept}"]
    lines += [f"- labels respelled to their canonical form: {report.relabelled}"]
    if report.repaired:
        lines += ["", "## Repaired", "", "| repair | times |", "|---|---|"]
        lines += [f"| {what} | {n} |" for what, n in report.repaired.most_common()]
    if report.dropped:
        lines += ["", "## Dropped", "", "| reason | rows |", "|---|---|"]
        lines += [f"| {reason} | {n} |" for reason, n in report.dropped.most_common()]
    tagging = any("spans" in r for rows in splits.values() for r in rows)
    title = "Rows by first entity type" if tagging else "Label distribution"
    lines += ["", f"## {title}", "", "| group | " + " | ".join(SPLITS) + " |", "|---|---|---|---|"]
    for group in groups:
        counts = [sum(group_of(r) == group for r in splits[s]) for s in SPLITS]
        lines.append(f"| {group} | " + " | ".join(map(str, counts)) + " |")
    if tagging:
        kinds = sorted({sp[2] for rows in splits.values() for r in rows for sp in r["spans"]})
        lines += ["", "## Entities", "", "| type | " + " | ".join(SPLITS) + " |", "|---|---|---|---|"]
        for kind in kinds:
            counts = [sum(sp[2] == kind for r in splits[s] for sp in r["spans"]) for s in SPLITS]
            lines.append(f"| {kind} | " + " | ".join(map(str, counts)) + " |")
    lines += ["", "## Text length (characters)", "", "| split | rows | min | median | max |", "|---|---|---|---|---|"]
    for split in SPLITS:
        lengths = sorted(len(r["text"]) for r in splits[split])
        if lengths:
            lines.append(f"| {split} | {len(lengths)} | {lengths[0]} | {lengths[len(lengths) // 2]} | {lengths[-1]} |")
    leaks = overlap(splits)
    lines += [
        "",
        "## Leakage",
        "",
        f"- dev texts also in train: {leaks['dev']}",
        f"- test texts also in train: {leaks['test']}",
    ]
    return "\n".join(lines) + "\n"
