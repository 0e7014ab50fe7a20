"""Where a build reads and writes: datasets/, models/ and build/ under one root.

Task names come from blueprints and the command line; each is checked
before it becomes part of a path, and every path is checked to stay under
the root.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .names import check_name, inside


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def blueprints(self) -> Path:
        return self.root / "blueprints"

    def _under(self, *parts: str, task: str) -> Path:
        check_name(task, "task name")
        return inside(self.root, self.root.joinpath(*parts), "the output of task")

    def raw(self, task: str) -> Path:
        return self._under("datasets", "raw", f"{task}.jsonl", task=task)

    def processed(self, task: str) -> Path:
        return self._under("datasets", "processed", task, task=task)

    def build(self, task: str) -> Path:
        """Intermediate training artifacts (numpy archives, reports; never pickle)."""
        return self._under("build", task, task=task)

    def model(self, task: str) -> Path:
        return self._under("models", task, task=task)
