"""The defer rule of a classifier: when to hand a text on instead of answering it (spec section 6)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ._proto import bundle_pb2 as pb
from .errors import BundleCorruptError

DEFER_RULE = "defer-rule"
TOP_SCORE = "top_score"
MARGIN = "margin"
_MEASURES = {pb.DeferRule.MEASURE_TOP_SCORE: TOP_SCORE, pb.DeferRule.MEASURE_MARGIN: MARGIN}


@dataclass(frozen=True)
class DeferRule:
    """Defer a text when ``measure`` of its scores is below ``threshold`` (a float32 value)."""

    measure: str  # "top_score" | "margin"
    threshold: float

    @classmethod
    def of(cls, pre: pb.Preprocessor, path: Path) -> DeferRule | None:
        """The bundle's rule, None when it has none; checked as the spec requires."""
        listed = DEFER_RULE in pre.required_features
        if not pre.HasField("defer_rule"):
            if listed:
                raise BundleCorruptError(path, f"required_features lists {DEFER_RULE!r} but there is no defer_rule")
            return None
        if not listed:
            raise BundleCorruptError(path, f"defer_rule is set but required_features does not list {DEFER_RULE!r}")
        if pre.kind != pb.TASK_KIND_TEXT_CLASSIFICATION:
            raise BundleCorruptError(path, "defer_rule: only classifiers defer")
        rule = pre.defer_rule
        measure = _MEASURES.get(rule.measure)
        if measure is None:
            raise BundleCorruptError(path, f"defer_rule: unknown measure {rule.measure}")
        if not math.isfinite(rule.threshold):
            raise BundleCorruptError(path, "defer_rule: the threshold must be finite")
        return cls(measure, rule.threshold)

    def measure_of(self, scores: Sequence[float]) -> float:
        """The rule's measure of float32 ``scores`` (given as Python floats), in float64."""
        if not scores:
            return 0.0
        top = max(scores)
        if self.measure == TOP_SCORE:
            return top
        rest = list(scores)
        rest.remove(top)  # one of the maxima: a tie leaves the other, for a margin of 0
        return top - (max(rest) if rest else 0.0)

    def defers(self, scores: Sequence[float]) -> bool:
        if any(map(math.isnan, scores)):
            return True  # no answer to stand by
        return self.measure_of(scores) < self.threshold

    def describe(self) -> str:
        return f"defer when the {self.measure.replace('_', ' ')} is below {self.threshold:.4g}"
