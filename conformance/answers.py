"""A Response (testee.proto) from any runtime with the cerebellum Python API.

The reference is ``cerebellum.load(path)``; the Rust engine in process is
``cerebellum.load(path, backend="rust")``. Both answer through this one
function, so in-process and out-of-process runs compare the same fields.
"""

from __future__ import annotations

from typing import Any

import cerebellum
from cerebellum import errors

from ._proto import testee_pb2 as pb

FAILURE_KINDS: tuple[tuple[type[Exception], str], ...] = (
    (errors.BundleNotFoundError, "not_found"),
    (errors.BundleVersionError, "version"),
    (errors.BundleIntegrityError, "integrity"),
    (errors.BundleMismatchError, "mismatch"),
    (errors.BundleLimitError, "limit"),
    (errors.BundleCorruptError, "corrupt"),
    (errors.InvalidInputError, "invalid_input"),
)


def failure_kind(exc: Exception) -> str:
    for cls, kind in FAILURE_KINDS:
        if isinstance(exc, cls):
            return kind
    if "non-finite" in str(exc):
        return "non_finite"
    return "inference" if isinstance(exc, errors.CerebellumError) else "internal"


def answer(model: Any, text: str) -> pb.Response:
    try:
        outcome = _classify(model, text) if isinstance(model, _classifier_types()) else _tag(model, text)
    except Exception as exc:  # every refusal is part of what is compared
        return pb.Response(failure=pb.Failure(kind=failure_kind(exc), message=str(exc)))
    return pb.Response(outcome=outcome)


def _classifier_types() -> tuple[type, ...]:
    from cerebellum.rust_backend import RustTextClassifier

    return (cerebellum.TextClassifier, RustTextClassifier)


def _classify(model: Any, text: str) -> pb.Outcome:
    vector = model.vectorize(text)
    classified = model.classify(text)
    scores = model.predict_proba(text)
    logits = model.decision_function_batch([text])[0]
    return pb.Outcome(
        tokens=[pb.Span(text=t.text, start=t.start, end=t.end) for t in model.tokenize_with_offsets(text)],
        indices=[int(i) for i in vector.indices],
        values=[float(v) for v in vector.values],
        logits=[float(v) for v in logits],
        scores=[float(v) for v in scores],
        label=model.predict(text),
        defer=classified.defer,
    )


def _tag(model: Any, text: str) -> pb.Outcome:
    emissions = model.emissions(text)
    return pb.Outcome(
        units=[pb.Span(text=u.text, start=u.start, end=u.end) for u in model.units(text)],
        ids=[int(i) for i in model.encode(text)],
        num_tags=len(model.tags),
        emissions=[float(v) for v in emissions.reshape(-1)],
        tags=[int(t) for t in model.tag_ids(text)],
        entities=[pb.Entity(type=e.type, start=e.start, end=e.end, text=e.text) for e in model.tag(text)],
    )
