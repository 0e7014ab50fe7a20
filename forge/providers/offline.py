"""The default provider: the blueprint's own curated rows and grammars, no network."""

from __future__ import annotations

import json
import math
import random
from fractions import Fraction
from typing import Any

from ..blueprint import Blueprint, TaskSpec
from ..files import iter_jsonl, sha256_file, write_jsonl
from ..grammar import expand_grammar, is_grammar, library_versions, load_grammar
from . import GenerationJob, ProviderError

Row = dict[str, Any]


class OfflineProvider:
    name = "offline"
    resumable = False  # deterministic: it writes the whole file at once

    def fingerprint(self, blueprint: Blueprint, task: TaskSpec) -> str:
        if not task.offline:
            return "offline:none"
        parts = []
        for path in task.offline:
            parts.append(sha256_file(path))
            if is_grammar(path):
                if task.grammar_weight(path) != 1.0:  # unweighted grammars keep the fingerprints they had
                    parts.append(f"weight={task.grammar_weight(path)!r}")
                versions = library_versions(json.loads(path.read_text(encoding="utf-8")))
                parts += [f"{k}={v}" for k, v in sorted(versions.items())]
        return f"offline:{':'.join(parts)}:rows={blueprint.generate.get('rows')}:seed={blueprint.seed}"

    def generate(self, job: GenerationJob) -> str:
        rows = self.rows(job.blueprint, job.task, job.rows, job.seed)
        write_jsonl(job.raw, rows)
        return f"{len(rows)} rows from the blueprint's offline examples and grammars"

    def rows(self, blueprint: Blueprint, task: TaskSpec, rows: int, seed: int) -> list[Row]:
        """Every curated row, then grammar rows up to ``rows`` in all, shared among the grammars
        in proportion to their weights."""
        if not task.offline:
            raise ProviderError(
                f'task {task.name!r} has no offline examples: set `offline = "offline/{task.name}.jsonl"` '
                f"in {blueprint.config_path}, pass --data DIR, or choose an LLM provider"
            )
        curated = [r for path in task.offline if not is_grammar(path) for r in iter_jsonl(path)]
        grammars = [path for path in task.offline if is_grammar(path)]
        out = list(curated)
        if grammars:
            wanted = max(rows - len(curated), 0)
            counts = shares(wanted, [task.grammar_weight(path) for path in grammars])
            for i, (path, count) in enumerate(zip(grammars, counts, strict=True)):
                out += expand_grammar(load_grammar(path, seed), count, seed + i, task.labels)
        # A seeded shuffle, so that rows are not grouped by how they were written.
        random.Random(seed).shuffle(out)
        return out


def shares(total: int, weights: list[float]) -> list[int]:
    """``total`` split in proportion to ``weights``: the floors of the exact shares, then one
    more for the largest remainders (the earlier source on a tie), so equal weights give the
    earlier sources the extra rows and every count is the same on every machine."""
    # weights as written (0.1 is 1/10, not its binary neighbour), so that ties written as ties stay ties
    written = [Fraction(repr(w)) for w in weights]
    whole = sum(written)
    exact = [total * w / whole for w in written]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def sample_rows(task: TaskSpec, seed: int, count: int) -> list[Row]:
    """A few rows from the task's offline sources, for few-shot prompts."""
    out: list[Row] = []
    for i, path in enumerate(task.offline):
        if is_grammar(path):
            out += expand_grammar(load_grammar(path, seed), count, seed + i, task.labels)
        else:
            out += [r for _, r in zip(range(count * 30), iter_jsonl(path), strict=False)]
    return out
