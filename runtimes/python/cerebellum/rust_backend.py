"""The Rust engine behind the same API: ``cerebellum.load(path, backend="rust")``.

The native module ``cerebellum_rs`` (built by maturin from
runtimes/rust/bindings/python) does the work with the GIL released; this
module only converts its plain return values into the Python runtime's
types, so callers cannot tell the engines apart except by speed.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ._proto import bundle_pb2 as pb
from .classifier import Classification, LabelDecisions
from .defer import MARGIN, TOP_SCORE, DeferRule
from .errors import CerebellumError, InvalidInputError
from .limits import Limits
from .tagger import Entity, TaggedToken
from .tfidf import SparseVector
from .tokenizer import Token, check_text, check_texts


def _call(method: Any, argument: Any) -> Any:
    """Call the native module under the Python backend's input contract: InvalidInputError for bad text."""
    if not isinstance(argument, str | list):
        check_text(argument)  # raises InvalidInputError naming the type
    try:
        return method(argument)
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"text holds a lone surrogate at {exc.start}; it is not valid Unicode") from None


def _native() -> Any:
    try:
        import cerebellum_rs
    except ImportError:
        raise CerebellumError(
            "the Rust engine is not installed: pip install 'model-foundry-runtime[rust]' "
            "(in a checkout: make rust-module)"
        ) from None
    return cerebellum_rs


class _RustModel:
    def __init__(self, native: Any) -> None:
        self._native = native
        self.task: str = native.task

    @cached_property
    def preprocessor(self) -> pb.Preprocessor:
        pre = pb.Preprocessor()
        pre.ParseFromString(self._native.preprocessor_bytes())
        return pre


class RustTextClassifier(_RustModel, LabelDecisions):
    backend = "rust"

    def __init__(self, native: Any) -> None:
        super().__init__(native)
        self.labels: tuple[str, ...] = tuple(native.labels)
        rule = native.defer_rule
        if rule is not None and rule[0] not in (TOP_SCORE, MARGIN):
            raise CerebellumError(f"the Rust engine reports a defer measure {rule[0]!r} this module does not know")
        self.defer_rule = None if rule is None else DeferRule(*rule)

    def classify(self, text: str) -> Classification:
        index, scores, defer = _call(self._native.classify, text)
        return Classification(self.labels[index], dict(zip(self.labels, scores, strict=True)), defer)

    def tokenize(self, text: str) -> list[str]:
        return [t for t, _, _ in _call(self._native.tokenize, text)]

    def tokenize_with_offsets(self, text: str) -> list[Token]:
        return [Token(*t) for t in _call(self._native.tokenize, text)]

    def terms(self, text: str) -> list[str]:
        return _call(self._native.terms, text)

    def vectorize(self, text: str) -> SparseVector:
        indices, values = _call(self._native.vectorize, text)
        return SparseVector(np.array(indices, dtype=np.int64), np.array(values, dtype=np.float32))

    def predict_proba(self, text: str) -> np.ndarray:
        return np.array(_call(self._native.predict_proba, text), dtype=np.float32)

    def predict(self, text: str) -> str:
        return _call(self._native.predict, text)

    def predict_proba_batch(self, texts: Sequence[str]) -> np.ndarray:
        probabilities, _ = _call(self._native.scores_batch, check_texts(texts))
        return np.array(probabilities, dtype=np.float32).reshape(len(texts), len(self.labels))

    def decision_function_batch(self, texts: Sequence[str]) -> np.ndarray:
        _, logits = _call(self._native.scores_batch, check_texts(texts))
        return np.array(logits, dtype=np.float32).reshape(len(texts), -1)

    @property
    def evaluator(self) -> str:
        """``"native-float32"``, ``"native-float16"``, ``"native-int8"`` or ``"tract"``."""
        return self._native.evaluator

    def __repr__(self) -> str:
        return f"RustTextClassifier(task={self.task!r}, labels={list(self.labels)}, evaluator={self.evaluator!r})"


class RustTextTagger(_RustModel):
    backend = "rust"

    def __init__(self, native: Any) -> None:
        super().__init__(native)
        self.tags: tuple[str, ...] = tuple(native.tags)
        self.labels = self.tags
        self.entity_types: tuple[str, ...] = tuple(native.entity_types)

    def units(self, text: str) -> list[Token]:
        return [Token(*u) for u in _call(self._native.units, text)]

    def tokenize(self, text: str) -> list[str]:
        return [u for u, _, _ in _call(self._native.units, text)]

    def encode(self, text: str) -> np.ndarray:
        return np.array(_call(self._native.encode, text), dtype=np.int64)

    def emissions(self, text: str) -> np.ndarray:
        return np.array(_call(self._native.emissions, text), dtype=np.float32).reshape(-1, len(self.tags))

    def tag_ids(self, text: str) -> list[int]:
        return _call(self._native.tag_ids, text)

    def tag_tokens(self, text: str) -> list[TaggedToken]:
        units = _call(self._native.units, text)
        path = _call(self._native.tag_ids, text)
        return [TaggedToken(text[s:e], s, e, self.tags[t]) for (_, s, e), t in zip(units, path, strict=True)]

    def tag(self, text: str) -> list[Entity]:
        return [Entity(*e) for e in _call(self._native.tag, text)]

    def tag_batch(self, texts: Sequence[str]) -> list[list[Entity]]:
        return [self.tag(t) for t in check_texts(texts)]

    @property
    def evaluator(self) -> str:
        """``"native BiLSTM"`` or ``"tract"``."""
        return self._native.evaluator

    def __repr__(self) -> str:
        return (
            f"RustTextTagger(task={self.task!r}, entity_types={list(self.entity_types)}, evaluator={self.evaluator!r})"
        )


def _wrap(native: Any) -> RustTextClassifier | RustTextTagger:
    return RustTextTagger(native) if hasattr(native, "tags") else RustTextClassifier(native)


def load(path: str | Path, limits: Limits, evaluator: str = "auto") -> RustTextClassifier | RustTextTagger:
    return _wrap(_native().load(str(path), limits.as_tuple(), evaluator))


def load_bytes(
    preprocessor: bytes, model: bytes, limits: Limits, evaluator: str = "auto"
) -> RustTextClassifier | RustTextTagger:
    return _wrap(_native().load_bytes(preprocessor, model, limits.as_tuple(), evaluator))
