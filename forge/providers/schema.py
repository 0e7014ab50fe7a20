"""The JSON schema an LLM must answer in, and the validation of every item it returns.

Classification items are ``{"text", "label"}`` with the label an enum;
tagging items are ``{"tokens", "tags"}`` with BIO tags over the entity types.
Anything else is counted by reason and dropped: it never reaches datasets/raw.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..blueprint import RefineConfig
from ..refine import LabelMap, length_problem
from ..tagging_data import Repairs, tag_set, tokens_to_spans
from ..textnorm import dedupe_key, normalize_text

Row = dict[str, Any]


def response_schema(kind: str, labels: tuple[str, ...]) -> dict[str, Any]:
    """JSON schema of one answer: ``{"items": [item, ...]}``."""
    if kind == "tagging":
        item = {
            "type": "object",
            "properties": {
                "tokens": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                "tags": {"type": "array", "items": {"type": "string", "enum": tag_set(labels)}, "minItems": 1},
            },
            "required": ["tokens", "tags"],
            "additionalProperties": False,
        }
    else:
        item = {
            "type": "object",
            "properties": {
                "text": {"type": "string"},
                "label": {"type": "string", "enum": list(labels)},
            },
            "required": ["text", "label"],
            "additionalProperties": False,
        }
    return {
        "type": "object",
        "properties": {"items": {"type": "array", "items": item}},
        "required": ["items"],
        "additionalProperties": False,
    }


@dataclass
class Validation:
    rows: list[Row] = field(default_factory=list)
    rejected: Counter = field(default_factory=Counter)  # reason -> items


class MalformedAnswerError(ValueError):
    """The answer is not JSON of the expected shape (truncated, prose, wrong top level)."""


class ItemValidator:
    """Checks items against the task's labels and the blueprint's length limits."""

    def __init__(self, kind: str, labels: tuple[str, ...], limits: RefineConfig) -> None:
        self.kind = kind
        self.labels = LabelMap(labels)
        self.tags = LabelMap(tag_set(labels))
        self.limits = limits

    def parse(self, text: str) -> Validation:
        """Validate a whole answer; raises MalformedAnswerError when it is not an items list."""
        try:
            payload = json.loads(text)
        except (json.JSONDecodeError, TypeError) as exc:
            raise MalformedAnswerError(f"answer is not JSON ({exc})") from None
        items = payload.get("items") if isinstance(payload, dict) else payload
        if not isinstance(items, list):
            raise MalformedAnswerError('answer has no "items" list')
        result = Validation()
        for item in items:
            row, reason = self.check(item)
            if row is None:
                result.rejected[reason] += 1
            else:
                result.rows.append(row)
        return result

    def check(self, item: Any) -> tuple[Row | None, str]:
        if not isinstance(item, dict):
            return None, "item is not an object"
        if self.kind == "tagging":
            return self._check_tagged(item)
        text, label = item.get("text"), item.get("label")
        if not isinstance(text, str) or not isinstance(label, str):
            return None, "missing or non-string text/label"
        canonical = self.labels.canonical(label)
        if canonical is None:
            return None, "label not in the task's labels"
        text = normalize_text(text)
        reason = self._length_problem(text)
        if reason:
            return None, reason
        return {"text": text, "label": canonical}, ""

    def _check_tagged(self, item: dict[str, Any]) -> tuple[Row | None, str]:
        tokens, tags = item.get("tokens"), item.get("tags")
        if not isinstance(tokens, list) or not isinstance(tags, list):
            return None, "missing tokens/tags lists"
        if not tokens or len(tokens) != len(tags):
            return None, "tokens and tags differ in length"
        if not all(isinstance(t, str) and t.strip() for t in tokens):
            return None, "empty or non-string token"
        canonical = [self.tags.canonical(t) if isinstance(t, str) else None for t in tags]
        if any(t is None for t in canonical):
            return None, "tag not in the task's tag set"
        previous = "O"
        for tag in canonical:
            if tag.startswith("I-") and previous[2:] != tag[2:]:
                return None, "I- tag without a B- tag before it"
            previous = tag
        row = {"tokens": [normalize_text(t) for t in tokens], "tags": canonical}
        reason = self._length_problem(self.text_of(row))
        if reason:
            return None, reason
        return row, ""

    def _length_problem(self, text: str) -> str:
        # The refiner's limits, so that no row written here is dropped there for its length.
        return "empty text" if not text.strip() else length_problem(text, self.limits)

    def key(self, row: Row) -> str:
        """Rows with equal keys are duplicates."""
        return dedupe_key(self.text_of(row))

    def text_of(self, row: Row) -> str:
        """The text as the refiner will rebuild it (CJK tokens joined without spaces)."""
        if self.kind != "tagging":
            return row["text"]
        return tokens_to_spans(row["tokens"], row["tags"], self.labels.labels, Repairs())[0]
