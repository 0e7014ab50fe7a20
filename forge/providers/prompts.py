"""Prompts that differ on every request, drawn with a seeded RNG.

One identical prompt sent a few hundred times returns the same few hundred
sentences. Each request here takes its own combination of scenario, style,
length and language (a run walks a seeded shuffle of all of them, so no two
requests of a run share one until every one was used), picks its few-shot
examples, asks for the label the data has least of, and lists recent rows the
model must not repeat.
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass
from typing import Any

from ..blueprint import Blueprint, TaskSpec
from ..tagging_data import unspaced

DEFAULT_DIVERSITY: dict[str, list[str]] = {
    "scenarios": [
        "at home, talking to a smart speaker",
        "at work, between meetings",
        "shopping online",
        "travelling: flights, hotels, trains",
        "cooking and food delivery",
        "health and fitness",
        "money: bills, transfers, budgets",
        "school and studying",
        "family and friends",
        "driving or commuting",
        "entertainment: films, music, games",
        "customer service for an app",
    ],
    "styles": [
        "terse, a few words",
        "casual and chatty",
        "polite and formal",
        "with a typo or two",
        "with slang or internet shorthand",
        "like a voice transcript, without punctuation",
        "hesitant, with filler words",
    ],
    "lengths": [
        "very short (1 to 4 words)",
        "short (5 to 10 words)",
        "one full sentence",
        "one or two longer sentences",
    ],
    "languages": ["English", "Simplified Chinese", "Chinese mixed with English words"],
}
FEW_SHOT = 4
DO_NOT_REPEAT = 12


@dataclass(frozen=True)
class Prompt:
    request_id: str
    system: str
    user: str


class PromptPlanner:
    def __init__(self, blueprint: Blueprint, task: TaskSpec, run_id: str, seed: int) -> None:
        self.blueprint = blueprint
        self.task = task
        self.run_id = run_id
        self.seed = seed
        configured = blueprint.generate.get("diversity", {})
        self.axes = {axis: list(configured.get(axis) or default) for axis, default in DEFAULT_DIVERSITY.items()}
        combinations = list(itertools.product(*self.axes.values()))
        random.Random(f"{seed}:{run_id}:combinations").shuffle(combinations)
        self.combinations = combinations
        self.examples = _offline_examples(blueprint, task, seed)
        constitution = task.constitution.read_text(encoding="utf-8").strip() if task.constitution else ""
        self.system = "\n\n".join(
            part
            for part in (
                constitution,
                f"You write training data for a {blueprint.kind} model. Reply with JSON only, "
                'an object {"items": [...]} that follows the response schema. Every item must be new, '
                "natural and different from the others.",
            )
            if part
        )

    def prompt(self, index: int, items: int, label_counts: dict[str, int], recent: list[str]) -> Prompt:
        rng = random.Random(f"{self.seed}:{self.run_id}:{index}")
        pick = dict(zip(self.axes, self.combinations[index % len(self.combinations)], strict=True))
        labels = self.task.labels
        focus = min(labels, key=lambda label: (label_counts.get(label, 0), rng.random()))
        if self.blueprint.kind == "tagging":
            what = (
                f"Write {items} sentences as token lists with BIO tags over the entity types "
                f"{', '.join(labels)} (O outside entities). Most of them should name a {focus}; "
                "a few should name no entity at all."
            )
        else:
            what = (
                f"Write {items} labelled examples. Labels: {', '.join(labels)}. "
                f"About half should be {focus}; spread the rest over the other labels."
            )
        lines = [
            f"Task: {self.task.name}. {self.task.description}".strip(),
            what,
            f"This batch: scenario: {pick['scenarios']}; style: {pick['styles']}; "
            f"length: {pick['lengths']}; language: {pick['languages']}.",
        ]
        shots = rng.sample(self.examples, min(FEW_SHOT, len(self.examples)))
        if shots:
            lines.append("Examples of the format (do not copy them):")
            lines += [json.dumps(s, ensure_ascii=False) for s in shots]
        if recent:
            lines.append("Already written, do not repeat or paraphrase:")
            lines += [f"- {text}" for text in recent[-DO_NOT_REPEAT:]]
        return Prompt(f"{self.run_id}-{index:05d}", self.system, "\n".join(lines))


def _offline_examples(blueprint: Blueprint, task: TaskSpec, seed: int) -> list[dict[str, Any]]:
    """Few-shot candidates in the answer's item shape, from the blueprint's offline examples."""
    from .offline import sample_rows

    rows = sample_rows(task, seed, 64)
    if blueprint.kind == "tagging":
        return [spans_to_bio(r["text"], r["spans"]) for r in rows if "spans" in r]
    rows = [r for r in rows if isinstance(r.get("text"), str) and r.get("label") in task.labels]
    return [{"text": r["text"], "label": r["label"]} for r in rows[:2000]]


def spans_to_bio(text: str, spans: list) -> dict[str, list[str]]:
    """Tokens (words, single CJK characters) and BIO tags; a span edge always splits a token."""
    owner = [""] * len(text)
    starts = set()
    for start, end, kind in spans:
        starts.add(start)
        for i in range(start, end):
            owner[i] = kind
    tokens: list[str] = []
    tags: list[str] = []
    for i, ch in enumerate(text):
        if ch.isspace():
            continue
        joins = (
            tokens
            and i > 0
            and not text[i - 1].isspace()
            and not unspaced(ch)
            and not unspaced(text[i - 1])
            and owner[i - 1] == owner[i]
            and i not in starts
        )
        if joins:
            tokens[-1] += ch
            continue
        tokens.append(ch)
        if not owner[i]:
            tags.append("O")
        elif i in starts:
            tags.append(f"B-{owner[i]}")
        else:
            tags.append(f"I-{owner[i]}")
    return {"tokens": tokens, "tags": tags}
