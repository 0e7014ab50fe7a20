"""Field-by-field comparison of two Responses: exact where bits must match, a tolerance for scores."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from cerebellum.defer import MARGIN, DeferRule

from ._proto import testee_pb2 as pb

# Logits and probabilities, absolute, for ONNX engines and other machines' runtimes: they
# sum in float32 in their own order and, on texts of thousands of terms, drift up to about
# 2e-5 from the float64 native sum. Native paths on this machine must match bit for bit
# (runner.EXACT_SCORES).
SCORE_TOLERANCE = 1e-4
EMISSION_TOLERANCE = 1e-4  # tagger emission scores, absolute (LSTM engines differ more)

# Every check a case goes through, in report order.
CHECKS = (
    "protocol",  # the testee answered at all (no crash, hang or garbled frame)
    "refusals",
    "tokens",
    "vectors",
    "labels",
    "defers",
    "scores",
    "units",
    "ids",
    "tags",
    "emissions",
    "emission_bits",  # a native tagger's emissions, bit for bit against the run's first native runtime
    "entities",
)


@dataclass(frozen=True)
class Mismatch:
    check: str
    detail: str


@dataclass
class CaseResult:
    mismatches: list[Mismatch] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # checks that applied to this case
    score_abs: float = 0.0
    score_ulps: int = 0  # at the largest absolute difference
    emission_abs: float = 0.0
    emission_ulps: int = 0  # at the largest absolute difference

    @property
    def ok(self) -> bool:
        return not self.mismatches


def ordered_bits(value: float) -> int:
    """float32 bits mapped so that adjacent floats differ by one (ULP distance = difference)."""
    (bits,) = struct.unpack("<i", struct.pack("<f", value))
    return bits if bits >= 0 else -(bits & 0x7FFFFFFF)


def ulps(a: float, b: float) -> int:
    return abs(ordered_bits(a) - ordered_bits(b))


def float_bits(values: Sequence[float]) -> list[int]:
    return [struct.unpack("<I", struct.pack("<f", v))[0] for v in values]


def _spans(spans: Sequence[pb.Span]) -> list[tuple[str, int, int]]:
    return [(s.text, s.start, s.end) for s in spans]


def _entities(entities: Sequence[pb.Entity]) -> list[tuple[str, int, int, str]]:
    return [(e.type, e.start, e.end, e.text) for e in entities]


def _first_difference(a: Sequence, b: Sequence) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"at {i}: expected {x!r}, got {y!r}"
    return f"lengths {len(a)} vs {len(b)}"


def _close(check: str, ref: Sequence[float], got: Sequence[float], tolerance: float, result: CaseResult) -> None:
    if len(ref) != len(got):
        result.mismatches.append(Mismatch(check, f"{len(ref)} values vs {len(got)}"))
        return
    # ULPs are counted where the absolute difference is largest: near zero a
    # tiny difference spans millions of ULPs and would say nothing.
    worst_abs, worst_ulps = 0.0, 0
    for a, b in zip(ref, got, strict=True):
        if a != a or b != b:  # NaN never conforms
            result.mismatches.append(Mismatch(check, "NaN"))
            return
        if abs(a - b) > worst_abs:
            worst_abs, worst_ulps = abs(a - b), ulps(a, b)
    if check == "scores":
        result.score_abs, result.score_ulps = worst_abs, worst_ulps
    else:
        result.emission_abs, result.emission_ulps = worst_abs, worst_ulps
    if worst_abs > tolerance:
        result.mismatches.append(Mismatch(check, f"differs by {worst_abs:.3g} (> {tolerance:g}), {worst_ulps} ULPs"))


def near_tie(response: pb.Response, tolerance: float = SCORE_TOLERANCE) -> bool:
    """The top two scores are closer than ``tolerance``: another engine may pick the other label."""
    if not response.HasField("outcome"):
        return False
    top = sorted(response.outcome.scores, reverse=True)[:2]
    return len(top) == 2 and top[0] - top[1] < tolerance


def near_threshold(response: pb.Response, rule: DeferRule | None, tolerance: float = SCORE_TOLERANCE) -> bool:
    """The defer measure is within reach of the threshold for scores ``tolerance`` away (twice
    that for a margin, a difference of two scores): another engine may decide the other way."""
    if rule is None or not response.HasField("outcome") or not response.outcome.scores:
        return False
    reach = tolerance * (2 if rule.measure == MARGIN else 1)
    return abs(rule.measure_of(list(response.outcome.scores)) - rule.threshold) <= reach


def same_emission_bits(anchor: pb.Response, got: pb.Response, anchor_name: str, result: CaseResult) -> None:
    """Adds the ``emission_bits`` check: ``got``'s emissions are ``anchor``'s, bit for bit (native evaluators)."""
    if anchor.HasField("failure") or got.HasField("failure"):
        return  # refusals are compared against the reference already
    result.checked.append("emission_bits")
    a, b = float_bits(anchor.outcome.emissions), float_bits(got.outcome.emissions)
    if a != b:
        detail = f"not the bits of {anchor_name}: " + _first_difference(a, b)
        result.mismatches.append(Mismatch("emission_bits", detail))


def compare(
    ref: pb.Response,
    got: pb.Response,
    score_tolerance: float = SCORE_TOLERANCE,
    emission_tolerance: float = EMISSION_TOLERANCE,
    rule: DeferRule | None = None,
) -> CaseResult:
    result = CaseResult()
    result.checked.append("refusals")
    if ref.HasField("failure") or got.HasField("failure"):
        if not (ref.HasField("failure") and got.HasField("failure")):
            which = "reference" if ref.HasField("failure") else "runtime"
            message = (ref if ref.HasField("failure") else got).failure.message
            result.mismatches.append(Mismatch("refusals", f"only the {which} refused: {message[:200]}"))
        elif ref.failure.kind != got.failure.kind:
            result.mismatches.append(Mismatch("refusals", f"{ref.failure.kind} vs {got.failure.kind}"))
        return result
    a, b = ref.outcome, got.outcome

    def exact(check: str, x: Sequence, y: Sequence) -> None:
        result.checked.append(check)
        if list(x) != list(y):
            result.mismatches.append(Mismatch(check, _first_difference(list(x), list(y))))

    if a.label or b.label:  # a classification bundle
        exact("tokens", _spans(a.tokens), _spans(b.tokens))
        exact("vectors", [*a.indices, -1, *float_bits(a.values)], [*b.indices, -1, *float_bits(b.values)])
        exact("labels", [a.label], [b.label])
        if score_tolerance and a.defer != b.defer and near_threshold(ref, rule, score_tolerance):
            result.checked.append("defers")  # scores within tolerance may fall either side: counted apart
        else:
            exact("defers", [a.defer], [b.defer])
        result.checked.append("scores")
        _close("scores", list(a.scores) + list(a.logits), list(b.scores) + list(b.logits), score_tolerance, result)
    else:
        exact("units", _spans(a.units), _spans(b.units))
        exact("ids", a.ids, b.ids)
        exact("tags", a.tags, b.tags)
        exact("entities", _entities(a.entities), _entities(b.entities))
        result.checked.append("emissions")
        if a.num_tags != b.num_tags:
            result.mismatches.append(Mismatch("emissions", f"{a.num_tags} tags vs {b.num_tags}"))
        else:
            _close("emissions", a.emissions, b.emissions, emission_tolerance, result)
    return result
