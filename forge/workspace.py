"""Where a build reads and writes: datasets/, models/ and build/ under one root."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def blueprints(self) -> Path:
        return self.root / "blueprints"

    def raw(self, task: str) -> Path:
        return self.root / "datasets" / "raw" / f"{task}.jsonl"

    def processed(self, task: str) -> Path:
        return self.root / "datasets" / "processed" / task

    def build(self, task: str) -> Path:
        """Intermediate training artifacts (numpy archives, reports; never pickle)."""
        return self.root / "build" / task

    def model(self, task: str) -> Path:
        return self.root / "models" / task
