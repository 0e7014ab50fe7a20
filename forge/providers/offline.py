"""The default provider: the blueprint's own curated examples, no network."""

from __future__ import annotations

import random
from collections.abc import Iterator

from ..blueprint import Blueprint, TaskSpec
from ..files import iter_jsonl, sha256_file
from . import ProviderError, Row


class OfflineProvider:
    name = "offline"

    def fingerprint(self, blueprint: Blueprint, task: TaskSpec) -> str:
        return f"offline:{sha256_file(task.offline)}" if task.offline else "offline:none"

    def generate(self, blueprint: Blueprint, task: TaskSpec, rows: int, seed: int) -> Iterator[list[Row]]:
        if task.offline is None:
            raise ProviderError(
                f'task {task.name!r} has no offline examples: set `offline = "offline/{task.name}.jsonl"` '
                f"in {blueprint.config_path}, pass --data DIR, or choose an LLM provider"
            )
        examples = list(iter_jsonl(task.offline))
        # A seeded shuffle, so that rows are not grouped by how they were written.
        random.Random(seed).shuffle(examples)
        yield examples
