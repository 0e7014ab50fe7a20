"""Minimal counterexamples found by earlier runs, replayed first by every later run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Regression:
    text: str
    runtime: str
    checks: tuple[str, ...]


class RegressionStore:
    """conformance/regressions/<task>.jsonl: one JSON object per minimal failing input."""

    def __init__(self, directory: Path | None, save: bool = True) -> None:
        self.directory = directory
        self.saving = save

    def _path(self, task: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{task}.jsonl"

    def load(self, task: str) -> list[Regression]:
        path = self._path(task)
        if path is None or not path.exists():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                out.append(Regression(row["text"], row.get("runtime", ""), tuple(row.get("checks", ()))))
        return out

    def save(self, task: str, regression: Regression) -> Path | None:
        path = self._path(task)
        if path is None or not self.saving or regression.text in {r.text for r in self.load(task)}:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        row = {"text": regression.text, "runtime": regression.runtime, "checks": list(regression.checks)}
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        return path
