"""Extra labelled sources a task trains on beside its generated or offline rows.

``[[tasks.NAME.sources]]`` names a JSONL file (relative to the blueprint),
a label map from the file's labels or entity types to the task's, and an
optional cap (rows sampled, seeded) and weight (how often each of its
training rows is seen: 2 doubles them, 0.5 keeps half). The refiner's
duplicate, leakage and split rules apply across all sources alike; every
row remembers where it came from, so the quality report can count rows per
source.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .files import read_jsonl
from .realtext import labelled_file

GENERATED = "generated"


@dataclass(frozen=True)
class ExtraSource:
    name: str
    path: Path
    label_map: dict[str, str] = field(default_factory=dict)
    cap: int | None = None
    weight: float = 1.0

    @classmethod
    def from_config(cls, raw: dict[str, Any], directory: Path, where: str) -> ExtraSource:
        name, path, label_map = labelled_file(raw, {"cap", "weight"}, directory, where)
        if not path.is_file():
            raise ValueError(f"{where}: {path} does not exist")
        cap = raw.get("cap")
        if cap is not None and (not isinstance(cap, int) or cap < 1):
            raise ValueError(f"{where}: cap must be a whole number >= 1")
        weight = raw.get("weight", 1.0)
        if not isinstance(weight, int | float) or weight <= 0:
            raise ValueError(f"{where}: weight must be a number > 0")
        if name == GENERATED:
            raise ValueError(f"{where}: the name {GENERATED!r} is taken by the task's own rows")
        return cls(name, path, label_map, cap, float(weight))

    def rows(self, seed: int, labels: tuple[str, ...]) -> list[dict[str, Any]]:
        """The file's rows (a seeded sample of ``cap`` of them), labels mapped, tagged with the source name.

        Entity types that are neither mapped nor the task's own become O: a
        source may know more types than the task.
        """
        rows = read_jsonl(self.path)
        if self.cap is not None and len(rows) > self.cap:
            rows = random.Random(f"source:{seed}:{self.name}").sample(rows, self.cap)
        out = []
        for row in rows:
            row = dict(row)
            if isinstance(row.get("label"), str):
                row["label"] = self.label_map.get(row["label"], row["label"])
            if isinstance(row.get("tags"), list):
                row["tags"] = [self._tag(t, labels) for t in row["tags"]]
            if isinstance(row.get("spans"), list):
                row["spans"] = [self._span(s, labels) for s in row["spans"]]
                row["spans"] = [s for s in row["spans"] if s is not None]
            row["source"] = self.name
            out.append(row)
        return out

    def _tag(self, tag: Any, labels: tuple[str, ...]) -> Any:
        if not isinstance(tag, str) or tag[:2] not in ("B-", "I-"):
            return tag
        kind = self.label_map.get(tag[2:], tag[2:])
        return f"{tag[:2]}{kind}" if not labels or kind in labels else "O"

    def _span(self, span: Any, labels: tuple[str, ...]) -> Any:
        if isinstance(span, list) and len(span) == 3 and isinstance(span[2], str):
            kind = self.label_map.get(span[2], span[2])
            return [span[0], span[1], kind] if not labels or kind in labels else None
        return span


def apply_weights(train: list[dict[str, Any]], sources: tuple[ExtraSource, ...], seed: int) -> list[dict[str, Any]]:
    """Training rows repeated (or thinned) by their source's weight, in a seeded, stable way."""
    weights = {s.name: s.weight for s in sources if s.weight != 1.0}
    if not weights:
        return train
    rng = random.Random(f"weights:{seed}")
    out = []
    for row in train:
        w = weights.get(row.get("source", GENERATED), 1.0)
        copies = int(w) + (1 if rng.random() < w - int(w) else 0)
        out += [row] * copies
    return out


def source_table(read: Counter, splits: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Rows per source: read, and kept in each split (after weights)."""
    names = list(read)
    lines = ["", "## Rows by source", "", "| source | read | train | dev | test |", "|---|---|---|---|---|"]
    for name in names:
        counts = [sum(r.get("source", GENERATED) == name for r in splits[s]) for s in ("train", "dev", "test")]
        lines.append(f"| {name} | {read[name]} | " + " | ".join(map(str, counts)) + " |")
    return lines
