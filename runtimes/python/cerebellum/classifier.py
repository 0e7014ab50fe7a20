"""Text classifiers: tokenizer + TF-IDF in Python, then the linear model: natively with
numpy when the graph is the forge's linear form, with onnxruntime otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .bundle import HASHED_VOCABULARY, BundleData
from .chartable import CharTable
from .defer import DeferRule
from .errors import BundleCorruptError, BundleMismatchError
from .linear import LinearModel, Signature
from .shortcut import TopShortcut
from .tfidf import SparseVector, TfidfVectorizer
from .tokenizer import Token, Tokenizer, check_texts


@dataclass(frozen=True)
class Classification:
    """A classifier's answer: the top label, every label's score, and whether to defer.

    ``defer`` is True when the bundle's defer rule says the answer is not to be trusted and the
    text should go on to something slower (an LLM, a person); always False without a rule.
    """

    label: str
    scores: dict[str, float]  # label -> score, in label order
    defer: bool = False


class LabelDecisions:
    """Labels from scores, shared by both engines: the first maximum wins (spec section 6)."""

    labels: tuple[str, ...]
    defer_rule: DeferRule | None = None

    def predict_proba(self, text: str) -> np.ndarray:
        """Scores in label order, float32."""
        raise NotImplementedError

    def predict_proba_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Scores of each text, shape [len(texts), len(labels)], float32."""
        raise NotImplementedError

    def predict(self, text: str) -> str:
        """The top label of ``text`` (the first of equal top scores)."""
        return self.labels[int(np.argmax(self.predict_proba(text)))]

    def predict_batch(self, texts: Sequence[str]) -> list[str]:
        """``predict`` of each text, in order."""
        return [self.labels[i] for i in np.argmax(self.predict_proba_batch(texts), axis=1).tolist()]

    def classify(self, text: str) -> Classification:
        """The top label, the scores in label order, and the defer decision of the bundle's rule."""
        probabilities = self.predict_proba(text)
        scores = probabilities.tolist()
        return Classification(
            label=self.labels[int(np.argmax(probabilities))],
            scores=dict(zip(self.labels, scores, strict=True)),
            defer=self.defer_rule is not None and self.defer_rule.defers(scores),
        )


EVALUATORS = ("auto", "onnx")


def check_evaluator(evaluator: str) -> None:
    if evaluator not in EVALUATORS:
        raise ValueError(f"evaluator must be one of {EVALUATORS}, got {evaluator!r}")


class TextClassifier(LabelDecisions):
    """A loaded text classification bundle. Thread-safe for concurrent predicts."""

    def __init__(self, bundle: BundleData, evaluator: str = "auto") -> None:
        pre = bundle.preprocessor
        path = bundle.preprocessor_path
        if not pre.HasField("tfidf"):
            raise BundleCorruptError(path, "a text classification bundle needs a tfidf section")
        if len(pre.labels) < 2 or len(set(pre.labels)) != len(pre.labels):
            raise BundleCorruptError(path, "labels must be at least two distinct names")
        if pre.tokenizer.ngram_min < 1 or pre.tokenizer.ngram_max < pre.tokenizer.ngram_min:
            raise BundleCorruptError(path, "tokenizer: invalid n-gram range")
        self.preprocessor = pre
        self.task = pre.task
        self.labels: tuple[str, ...] = tuple(pre.labels)
        self.tokenizer = Tokenizer(CharTable(pre.char_table, path), pre.tokenizer)
        self.defer_rule = DeferRule.of(pre, path)
        self.vectorizer = TfidfVectorizer(pre.tfidf, path, HASHED_VOCABULARY in pre.required_features)
        self._signature = sig = pre.onnx
        if sig.num_features != len(self.vectorizer):
            raise BundleMismatchError(
                bundle.model_path,
                f"model has {sig.num_features} feature rows, vocabulary has {len(self.vectorizer)} terms",
            )
        check_evaluator(evaluator)
        self._linear: LinearModel | None = None
        if evaluator == "auto":
            names = Signature(
                sig.indices_input, sig.values_input, sig.logits_output, sig.probabilities_output, sig.num_features
            )
            self._linear = LinearModel.recognize(bundle.model, names, bundle.model_path)
        self._shortcut = TopShortcut.of(self._linear, self.vectorizer)
        if self._linear is None:
            from .session import create_session  # onnxruntime only for graphs the native path does not know

            self._session = create_session(bundle.model, bundle.model_path)
            self._check_signature(bundle.model_path)
        else:
            self._probe(bundle.model_path)

    @property
    def evaluator(self) -> str:
        """``"native-float32"``, ``"native-float16"``, ``"native-int8"`` or ``"onnxruntime"``."""
        return "onnxruntime" if self._linear is None else f"native-{self._linear.weight_format}"

    def _check_signature(self, path: Path) -> None:
        sig = self._signature
        inputs = {i.name: i.type for i in self._session.get_inputs()}
        expected_inputs = {sig.indices_input: "tensor(int64)", sig.values_input: "tensor(float)"}
        if inputs != expected_inputs:
            raise BundleMismatchError(path, f"model inputs {inputs} differ from the preprocessor's {expected_inputs}")
        outputs = {o.name for o in self._session.get_outputs()}
        missing = {sig.logits_output, sig.probabilities_output} - outputs
        if missing:
            raise BundleMismatchError(path, f"model lacks outputs {sorted(missing)}")
        self._outputs = [sig.probabilities_output, sig.logits_output]
        self._probe(path)

    def _probe(self, path: Path) -> None:
        sig = self._signature
        try:  # the last row must exist and the output must have one score per label
            probe, probe_logits = self._run(np.array([[sig.num_features - 1]], np.int64), np.zeros((1, 1), np.float32))
        except Exception as exc:
            raise BundleMismatchError(path, f"model rejects the preprocessor's features: {exc}") from None
        if probe.shape != (1, len(self.labels)):
            raise BundleMismatchError(
                path,
                f"model outputs {probe.shape[1:]} scores per text, the preprocessor names {len(self.labels)} labels",
            )
        if not (np.isfinite(probe).all() and np.isfinite(probe_logits).all()):
            raise BundleMismatchError(path, "model produced non-finite scores for the probe input")
        self._logit_width = probe_logits.shape[1]

    def _run(self, indices: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and logits of rows of (index, value) pairs; padding is (0, 0.0)."""
        if self._linear is not None:
            linear = self._linear
            logits = np.empty((len(indices), linear.width), np.float32)
            probabilities = np.empty((len(indices), linear.score_width), np.float32)
            for row, (i, v) in enumerate(zip(indices, values, strict=True)):
                used = v != 0  # padding adds nothing; a zero TF-IDF value never occurs
                logits[row] = linear.logits(i[used], v[used])
                probabilities[row] = linear.scores(logits[row])
            return probabilities, logits
        sig = self._signature
        probabilities, logits = self._session.run(self._outputs, {sig.indices_input: indices, sig.values_input: values})
        return probabilities, logits

    # Introspection -------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``text`` (spec section 3), without offsets."""
        return self.tokenizer.tokenize(text)

    def tokenize_with_offsets(self, text: str) -> list[Token]:
        """Tokens with [start, end) offsets into ``text``, in code points."""
        return self.tokenizer.tokenize_with_offsets(text)

    def terms(self, text: str) -> list[str]:
        """The n-gram terms of ``text``, in spec order (by n, then position)."""
        return self.tokenizer.terms(text)

    def vectorize(self, text: str) -> SparseVector:
        """The TF-IDF vector of ``text``: ascending columns and float32 values."""
        tokenizer = self.tokenizer
        return self.vectorizer.transform_sequence(tokenizer.sequence(text), tokenizer.ngram_min, tokenizer.ngram_max)

    # Prediction ----------------------------------------------------------
    def _feed(self, vectors: Sequence[SparseVector]) -> tuple[np.ndarray, np.ndarray]:
        # Rows are padded with (column 0, value 0.0): a zero value adds nothing,
        # and no engine ever sees an empty tensor.
        width = max(1, max(len(v) for v in vectors))
        indices = np.zeros((len(vectors), width), dtype=np.int64)
        values = np.zeros((len(vectors), width), dtype=np.float32)
        for row, v in enumerate(vectors):
            indices[row, : len(v)] = v.indices
            values[row, : len(v)] = v.values
        return indices, values

    def decision_function_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Raw linear scores, shape [len(texts), C'] as the estimator defines them."""
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self._logit_width), np.float32)
        return self._run(*self._feed([self.vectorize(t) for t in texts]))[1]

    def predict_proba_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Scores in label order, shape [len(texts), len(labels)], float32."""
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, len(self.labels)), np.float32)
        return self._run(*self._feed([self.vectorize(t) for t in texts]))[0]

    def predict(self, text: str) -> str:
        """The top label of ``text`` (the first of equal top scores)."""
        if self._linear is None:
            return super().predict(text)
        found = self._found(text)
        if self._shortcut is not None:
            top = self._shortcut.top(found)
            if top is not None:
                return self.labels[top]
        logits = self._linear.logits_of(*self.vectorizer.weigh(found))
        top = self._linear.top_of(logits)
        if top is None:
            scores = self._linear.scores_of(logits)
            top = scores.index(max(scores))  # the first maximum, as argmax
        return self.labels[top]

    def _found(self, text: str) -> list[int]:
        tokenizer = self.tokenizer
        return self.vectorizer.found(tokenizer.sequence(text), tokenizer.ngram_min, tokenizer.ngram_max)

    def _native_logits(self, text: str) -> list[float]:
        # the whole query in Python floats: numpy's per-call cost outweighs a few dozen products
        assert self._linear is not None
        return self._linear.logits_of(*self.vectorizer.weigh(self._found(text)))

    def _native_scores(self, text: str) -> list[float]:
        assert self._linear is not None
        return self._linear.scores_of(self._native_logits(text))

    def predict_proba(self, text: str) -> np.ndarray:
        """Scores in label order, float32 (calibrated when the bundle says so)."""
        if self._linear is not None:
            return np.array(self._native_scores(text), dtype=np.float32)
        v = self.vectorize(text)
        if len(v):
            probabilities = self._run(v.indices[None, :], v.values[None, :])[0]
        else:
            probabilities = self._run(*self._feed([v]))[0]
        return probabilities[0]

    def __repr__(self) -> str:
        return (
            f"TextClassifier(task={self.task!r}, labels={list(self.labels)}, features={len(self.vectorizer)}, "
            f"evaluator={self.evaluator!r})"
        )
