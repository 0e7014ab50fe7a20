"""Refine raw rows into clean train/dev/test splits, with a quality report."""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .blueprint import RefineConfig, SplitConfig

SPLITS = ("train", "dev", "test")
_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """NFC, whitespace runs to one space, trimmed; the text otherwise as written."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def dedupe_key(text: str) -> str:
    """Texts equal under this key are duplicates (case, width and spacing ignored)."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


@dataclass
class RefineReport:
    rows_in: int = 0
    dropped: Counter = field(default_factory=Counter)  # reason -> rows
    relabelled: int = 0  # labels mapped to their canonical spelling
    kept: int = 0

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] += n


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
        canonical = labels.canonical(label)
        if canonical is None:
            report.drop(f"unknown label {label!r}")
            continue
        if canonical != label:
            report.relabelled += 1
        text = normalize_text(text)
        if len(text) < cfg.min_chars:
            report.drop(f"shorter than {cfg.min_chars} characters")
            continue
        if len(text) > cfg.max_chars:
            report.drop(f"longer than {cfg.max_chars} characters")
            continue
        if dedupe:
            key = dedupe_key(text)
            if key in seen:
                if kept[seen[key]]["label"] != canonical:
                    conflicting.add(key)
                report.drop("duplicate")
                continue
            seen[key] = len(kept)
        kept.append({"text": text, "label": canonical})
    if conflicting:
        before = len(kept)
        kept = [r for r in kept if dedupe_key(r["text"]) not in conflicting]
        report.drop("same text with conflicting labels", before - len(kept))
    report.kept += len(kept)
    return kept


def stratified_split(rows: list[dict[str, str]], cfg: SplitConfig, seed: int) -> dict[str, list[dict[str, str]]]:
    """Per label: a seeded shuffle, then the test and dev shares, the rest for training."""
    by_label: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_label[row["label"]].append(row)
    rng = random.Random(seed)
    out: dict[str, list[dict[str, str]]] = {s: [] for s in SPLITS}
    for label in sorted(by_label):
        group = by_label[label]
        rng.shuffle(group)
        n_test = round(len(group) * cfg.test)
        n_dev = round(len(group) * cfg.dev)
        out["test"].extend(group[:n_test])
        out["dev"].extend(group[n_test : n_test + n_dev])
        out["train"].extend(group[n_test + n_dev :])
    for split in SPLITS:
        rng.shuffle(out[split])
    return out


def overlap(splits: dict[str, list[dict[str, str]]]) -> dict[str, int]:
    """How many dev/test texts also occur (as duplicates) in train."""
    train = {dedupe_key(r["text"]) for r in splits["train"]}
    return {s: sum(dedupe_key(r["text"]) in train for r in splits[s]) for s in ("dev", "test")}


def quality_report(task: str, source: str, report: RefineReport, splits: dict[str, list[dict[str, str]]]) -> str:
    labels = sorted({r["label"] for rows in splits.values() for r in rows})
    lines = [f"# Quality report: {task}", "", f"Source: {source}", ""]
    lines += [f"- rows read: {report.rows_in}", f"- rows kept: {report.kept}"]
    lines += [f"- labels respelled to their canonical form: {report.relabelled}"]
    if report.dropped:
        lines += ["", "## Dropped", "", "| reason | rows |", "|---|---|"]
        lines += [f"| {reason} | {n} |" for reason, n in report.dropped.most_common()]
    lines += ["", "## Label distribution", "", "| label | " + " | ".join(SPLITS) + " |", "|---|---|---|---|"]
    for label in labels:
        counts = [sum(r["label"] == label for r in splits[s]) for s in SPLITS]
        lines.append(f"| {label} | " + " | ".join(map(str, counts)) + " |")
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
