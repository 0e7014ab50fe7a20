"""The default provider: the blueprint's own curated examples, no network."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from ..blueprint import Blueprint, TaskSpec
from ..files import iter_jsonl, sha256_file, write_jsonl
from ..tagging_data import expand_template, load_templates
from . import GenerationJob, ProviderError

Row = dict[str, Any]


class OfflineProvider:
    name = "offline"
    resumable = False  # deterministic: it writes the whole file at once

    def fingerprint(self, blueprint: Blueprint, task: TaskSpec) -> str:
        if task.offline is None:
            return "offline:none"
        return f"offline:{sha256_file(task.offline)}:rows={blueprint.generate.get('rows')}:seed={blueprint.seed}"

    def generate(self, job: GenerationJob) -> str:
        rows = self.rows(job.blueprint, job.task, job.rows, job.seed)
        write_jsonl(job.raw, rows)
        return f"{len(rows)} rows from the blueprint's offline examples"

    def rows(self, blueprint: Blueprint, task: TaskSpec, rows: int, seed: int) -> list[Row]:
        if task.offline is None:
            raise ProviderError(
                f'task {task.name!r} has no offline examples: set `offline = "offline/{task.name}.jsonl"` '
                f"in {blueprint.config_path}, pass --data DIR, or choose an LLM provider"
            )
        if task.offline.name.endswith(".templates.json"):
            return expand_templates(task.offline, rows, seed)
        examples = list(iter_jsonl(task.offline))
        # A seeded shuffle, so that rows are not grouped by how they were written.
        random.Random(seed).shuffle(examples)
        return examples


def expand_templates(path: Path, rows: int, seed: int) -> list[Row]:
    """``rows`` distinct sentences from a templates file (see forge/tagging_data.py), seeded."""
    spec = load_templates(path)
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[Row] = []
    attempts = 0
    while len(out) < rows and attempts < rows * 50:
        attempts += 1
        row = expand_template(rng.choice(spec["templates"]), spec["slots"], rng)
        if row["text"] not in seen:
            seen.add(row["text"])
            out.append(row)
    return out
