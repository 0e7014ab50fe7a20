"""Text classification: the runtime's tokenizer + TF-IDF + a linear model.

The vectorizer's analyzer is cerebellum's own Tokenizer (built from the same
pinned character table the bundle will carry), so what the model is trained
on is by construction what the runtime computes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from cerebellum import bundle as cb
from cerebellum._proto import bundle_pb2 as pb
from cerebellum.chartable import CharTable
from cerebellum.defer import DEFER_RULE
from cerebellum.packed import CHARTABLE_BY_NAME
from cerebellum.tfidf import fnv1a64
from cerebellum.tokenizer import Tokenizer

from .. import calibration
from ..bundle_writer import measure_latency, metrics_header, provenance, write_bundle
from ..chartable import TABLE_PATH, pinned_table
from ..compress import WEIGHT_FORMATS, CompressionSettings, Space, choose, lowered, stored_weights, term_space
from ..compress import logits as compressed_logits
from ..compress import predict as compressed_predict
from ..console import console, progress
from ..evaluation import classification_metrics
from ..files import atomic_write_text, read_jsonl, sha256_files
from ..model_card import render_card
from ..onnx_sparse import INDICES, LOGITS, PROBABILITIES, VALUES, build_sparse_graph, read_linear_head
from ..packing import table_by_name, tfidf_spec
from . import TaskContext, TrainerError, VerificationError, params_from_config

ARTIFACTS = "trained.npz"
TRAIN_REPORT = "train.json"
VERIFY_REPORT = "verify.json"
PROBABILITY_TOLERANCE = 1e-5


@dataclass(frozen=True)
class Params:
    """Hyperparameters, from the blueprint's [train] table (task overrides win)."""

    ngram_range: tuple[int, int] = (1, 2)
    boundary_tokens: bool = True
    min_df: int = 1
    max_features: int | None = None
    estimator: str = "logistic_regression"
    C: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0)  # several values: chosen on dev macro-F1
    class_weight: str | None = "balanced"
    max_iter: int = 2000
    solver: str = "lbfgs"
    # Bundle size: weight storage, vocabulary pruning or hashing; "auto" = the smallest
    # model whose dev accuracy is within max_dev_drop points of the float32 model's.
    weights: str = "auto"  # auto | float32 | float16 | int8
    # hashing is opt-in: it matched pruned term lists on dev but lost points on real text
    vocabulary: str = "terms"  # terms | hashed | auto (both weighed)
    keep_features: str | float = "auto"  # auto | a fraction of the vocabulary in (0, 1]
    hash_buckets: str | int = "auto"  # auto | a bucket count
    max_dev_drop: float = 0.3
    # Scores fitted to dev (temperature | platt | none), folded into the weights, and a defer
    # rule: "precision" answers dev rows right at least defer_goal of the time, "coverage"
    # defers at most defer_goal of them; measured on the top score or the top-two margin.
    calibration: str = "temperature"
    defer: str = "none"  # precision | coverage | none
    defer_goal: float = 0.98
    defer_measure: str = "top_score"  # top_score | margin
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Params:
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        unknown = sorted(set(config) - known)
        if unknown:
            raise TrainerError(f"unknown [train] keys for tfidf_linear: {', '.join(unknown)}")
        values = dict(config)
        if "ngram_range" in values:
            lo, hi = values["ngram_range"]
            if not (1 <= lo <= hi <= 5):
                raise TrainerError(f"ngram_range must satisfy 1 <= min <= max <= 5, got {[lo, hi]}")
            values["ngram_range"] = (int(lo), int(hi))
        if "C" in values:
            c = values["C"]
            values["C"] = tuple(float(x) for x in (c if isinstance(c, list) else [c]))
        if values.get("class_weight") == "none":
            values["class_weight"] = None
        params = cls(**values)
        if params.weights not in ("auto", *WEIGHT_FORMATS):
            raise TrainerError(f"weights must be auto, {', '.join(WEIGHT_FORMATS)}; got {params.weights!r}")
        keep = params.keep_features
        if keep != "auto" and not (isinstance(keep, int | float) and 0 < keep <= 1):
            raise TrainerError(f"keep_features must be 'auto' or a fraction in (0, 1], got {keep!r}")
        if params.vocabulary not in ("auto", "terms", "hashed"):
            raise TrainerError(f"vocabulary must be auto, terms or hashed; got {params.vocabulary!r}")
        buckets = params.hash_buckets
        if buckets != "auto" and not (isinstance(buckets, int) and 1 <= buckets <= 1 << 24):
            raise TrainerError(f"hash_buckets must be 'auto' or a count in [1, 2^24], got {buckets!r}")
        if not params.max_dev_drop >= 0:
            raise TrainerError(f"max_dev_drop must be >= 0 accuracy points, got {params.max_dev_drop}")
        for key, allowed in (
            ("calibration", calibration.METHODS),
            ("defer", calibration.DEFER_TARGETS),
            ("defer_measure", calibration.MEASURES),
        ):
            if getattr(params, key) not in allowed:
                raise TrainerError(f"{key} must be one of {', '.join(allowed)}; got {getattr(params, key)!r}")
        if params.defer == "precision" and not 0 < params.defer_goal <= 1:
            raise TrainerError(f"defer_goal for precision is an accuracy in (0, 1], got {params.defer_goal}")
        if params.defer == "coverage" and not 0 <= params.defer_goal < 1:
            raise TrainerError(f"defer_goal for coverage is a share of rows in [0, 1), got {params.defer_goal}")
        if params.estimator != "logistic_regression":
            raise TrainerError(f"estimator {params.estimator!r} is not supported; use logistic_regression")
        return params

    def tokenizer_spec(self) -> pb.TokenizerSpec:
        return pb.TokenizerSpec(
            ngram_min=self.ngram_range[0], ngram_max=self.ngram_range[1], boundary_tokens=self.boundary_tokens
        )


def make_tokenizer(params: Params) -> Tokenizer:
    return Tokenizer(CharTable(pinned_table(), TABLE_PATH), params.tokenizer_spec())


def _identity(terms: list[str]) -> list[str]:
    return terms


def load_splits(ctx: TaskContext) -> tuple[list[str], dict[str, list[dict[str, str]]]]:
    meta = ctx.read_json(ctx.processed / "meta.json")
    splits = {s: read_jsonl(ctx.processed / f"{s}.jsonl") for s in ("train", "dev", "test")}
    return list(meta["labels"]), splits


class TfidfLinearTrainer:
    name = "tfidf_linear"
    kind = "classification"

    def check(self, config: dict[str, Any]) -> None:
        params_from_config(Params, config, self.name, ignore=("extra",))
        try:
            Params.from_config(config)
        except (TypeError, ValueError) as exc:
            raise TrainerError(f"[train] for {self.name}: {exc}") from None

    # -- train ---------------------------------------------------------------
    def train(self, ctx: TaskContext) -> dict[str, Any]:
        params = Params.from_config(ctx.task.train)
        labels, splits = load_splits(ctx)
        # out-of-scope rows train nothing; on dev and test they size and measure the defer rule
        none = calibration.OUT_OF_SCOPE
        outside = {f"{s}_oos": [r for r in splits[s] if r["label"] == none] for s in ("dev", "test")}
        splits = {s: [r for r in rows if r["label"] != none] for s, rows in splits.items()}
        index = {label: i for i, label in enumerate(labels)}
        missing = [label for label in labels if not any(r["label"] == label for r in splits["train"])]
        if missing:
            raise TrainerError(f"{ctx.task.name}: no training rows for labels {missing}")
        tokenizer = make_tokenizer(params)
        terms: dict[str, list[list[str]]] = {}
        y: dict[str, np.ndarray] = {}
        with progress() as bar:
            total = sum(len(rows) for rows in (*splits.values(), *outside.values()))
            job = bar.add_task(f"{ctx.task.name}: tokenizing", total=total)
            for split, rows in (*splits.items(), *outside.items()):
                terms[split] = []
                for row in rows:
                    terms[split].append(tokenizer.terms(row["text"]))
                    bar.advance(job)
                if split in splits:
                    y[split] = np.array([index[r["label"]] for r in rows], dtype=np.int64)
        vectorizer = TfidfVectorizer(
            analyzer=_identity,
            min_df=params.min_df,
            max_features=params.max_features,
            norm="l2",
            smooth_idf=True,
            sublinear_tf=False,
        )
        x = {"train": vectorizer.fit_transform(terms["train"])}
        for split in terms.keys() - {"train"}:
            x[split] = _transform(vectorizer, terms[split])

        dev_scores: dict[float, float] = {}
        best: LogisticRegression | None = None
        with progress() as bar:
            job = bar.add_task(f"{ctx.task.name}: fitting C={list(params.C)}", total=len(params.C))
            for c in params.C:
                model = LogisticRegression(
                    C=c,
                    class_weight=params.class_weight,
                    max_iter=params.max_iter,
                    solver=params.solver,
                    random_state=ctx.blueprint.seed,
                )
                model.fit(x["train"], y["train"])
                dev_pred = model.predict(x["dev"]) if len(y["dev"]) else model.predict(x["train"])
                dev_true = y["dev"] if len(y["dev"]) else y["train"]
                dev_scores[c] = float(f1_score(dev_true, dev_pred, average="macro", labels=list(range(len(labels)))))
                if best is None or dev_scores[c] > dev_scores[best.C]:
                    best = model
                bar.advance(job)
        assert best is not None
        float32_metrics = {
            split: classification_metrics(y[split], best.predict(x[split]), labels)
            for split in ("dev", "test")
            if len(y[split])
        }

        def refit(x_kept: Any, y_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            model = LogisticRegression(
                C=best.C,
                class_weight=params.class_weight,
                max_iter=params.max_iter,
                solver=params.solver,
                random_state=ctx.blueprint.seed,
            )
            model.fit(x_kept, y_train)
            return model.coef_, model.intercept_

        all_terms = [""] * len(vectorizer.vocabulary_)
        for term, column in vectorizer.vocabulary_.items():
            all_terms[column] = term
        full = term_space(x, vectorizer.idf_, all_terms, np.arange(len(all_terms)))
        settings = CompressionSettings(
            params.weights, params.vocabulary, params.keep_features, params.hash_buckets, params.max_dev_drop
        )
        with console.status(f"{ctx.task.name}: choosing weights and vocabulary on dev"):
            try:
                compressed = choose(
                    best.coef_, best.intercept_, full, all_terms, y, refit, _hashed_spaces(terms), settings
                )
            except ValueError as exc:
                raise TrainerError(f"{ctx.task.name}: {exc}") from None
        space = compressed.space
        weights, bias = lowered(compressed.coef, compressed.intercept)
        weights = stored_weights(weights, compressed.weight_format)
        uncalibrated = {split: compressed_logits(space.x[split], weights, bias) for split in space.x}
        try:
            fitted = calibration.fit(params.calibration, uncalibrated["dev"], y["dev"])
        except ValueError as exc:
            raise TrainerError(f"{ctx.task.name}: {exc}") from None
        coef, intercept = fitted.apply(compressed.coef, compressed.intercept)
        weights, bias = lowered(coef, intercept)
        weights = stored_weights(weights, compressed.weight_format)
        confidence = _confidence(params, fitted, uncalibrated, space.x, y, weights, bias)
        metrics = {
            split: classification_metrics(y[split], compressed_predict(space.x[split], weights, bias), labels)
            for split in ("dev", "test")
            if len(y[split])
        }
        test_proba = calibration.scores(compressed_logits(space.x["test"], weights, bias))
        test_pred = compressed_predict(space.x["test"], weights, bias)
        hashed = space.vocabulary == "hashed"
        vocabulary = [] if hashed else [all_terms[j] for j in space.columns.tolist()]
        ctx.build.mkdir(parents=True, exist_ok=True)
        artifacts = ctx.build / ARTIFACTS
        tmp = artifacts.with_name(".trained.tmp.npz")
        np.savez(
            tmp,
            vocabulary=np.array(vocabulary, dtype=str),
            idf=space.idf,
            hash_buckets=np.array(len(space.idf) if hashed else 0),
            coef=coef,
            intercept=intercept,
            test_proba=test_proba,
            test_pred=test_pred,
        )
        tmp.replace(artifacts)
        report = {
            "task": ctx.task.name,
            "labels": labels,
            "params": {**params.__dict__, "extra": None},
            "chosen_C": best.C,
            "dev_macro_f1_by_C": {str(k): v for k, v in dev_scores.items()},
            "estimator": " ".join(repr(best).split()),
            "vocabulary_size": len(space.idf),
            "weight_format": compressed.weight_format,
            "compression": {
                "trained_features": len(all_terms),
                "vocabulary": space.vocabulary,
                "kept_features": len(space.idf),
                "weight_format": compressed.weight_format,
                "max_dev_drop": params.max_dev_drop,
                "float32_dev_accuracy": compressed.baseline_dev_accuracy,
                "float32_metrics": float32_metrics,
                "candidates": [c.as_dict() for c in compressed.candidates],
            },
            "rows": {s: len(rows) for s, rows in (*splits.items(), *outside.items())},
            "metrics": metrics,
            **confidence,
            "data_sha256": sha256_files(ctx.processed / f"{s}.jsonl" for s in ("train", "dev", "test")),
        }
        atomic_write_text(ctx.build / TRAIN_REPORT, json.dumps(report, indent=2, ensure_ascii=False))
        test = metrics.get("test", {})
        console.print(
            f"  [bold]{ctx.task.name}[/]: "
            + (f"{len(space.idf)} hash buckets" if hashed else f"{len(vocabulary)} of {len(all_terms)} terms")
            + f" ({len(all_terms)} trained), "
            f"{compressed.weight_format} weights, C={best.C}, "
            f"test accuracy {test.get('accuracy', float('nan')):.4f}, macro-F1 {test.get('macro_f1', float('nan')):.4f}"
        )
        return report

    # -- export --------------------------------------------------------------
    def export(self, ctx: TaskContext) -> Path:
        report = ctx.read_json(ctx.build / TRAIN_REPORT)
        arrays = self._artifacts(ctx)
        params = Params.from_config(ctx.task.train)
        labels: list[str] = report["labels"]
        onnx_bytes = self._onnx(arrays, len(labels), ctx.task.name, report.get("weight_format", "float32"))
        buckets = int(arrays["hash_buckets"]) if "hash_buckets" in arrays else 0
        tfidf, tfidf_features = tfidf_spec([str(t) for t in arrays["vocabulary"]], arrays["idf"], buckets)
        pre = pb.Preprocessor(
            kind=pb.TASK_KIND_TEXT_CLASSIFICATION,
            task=ctx.task.name,
            labels=labels,
            char_table=table_by_name(),
            tokenizer=params.tokenizer_spec(),
            tfidf=tfidf,
            onnx=pb.OnnxSignature(
                indices_input=INDICES,
                values_input=VALUES,
                logits_output=LOGITS,
                probabilities_output=PROBABILITIES,
                num_features=len(arrays["idf"]),
            ),
            model_sha256=hashlib.sha256(onnx_bytes).digest(),
            provenance=provenance(ctx, self.name, report),
            metrics=_metrics_proto(report),
            required_features=[CHARTABLE_BY_NAME, *tfidf_features],
        )
        _confidence_proto(pre, report)
        return write_bundle(ctx.model_dir, pre, onnx_bytes, render_card(pre, report, sizes=None, verification=None))

    def _artifacts(self, ctx: TaskContext) -> dict[str, np.ndarray]:
        path = ctx.build / ARTIFACTS
        if not path.exists():
            raise TrainerError(f"{path} is missing: run the train step first")
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def _onnx(self, arrays: dict[str, np.ndarray], n_labels: int, name: str, weight_format: str) -> bytes:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType

        coef, intercept = arrays["coef"], arrays["intercept"]
        estimator = LogisticRegression()
        estimator.classes_ = np.arange(n_labels)
        estimator.coef_ = coef
        estimator.intercept_ = intercept
        estimator.n_features_in_ = coef.shape[1]
        dense = convert_sklearn(
            estimator,
            initial_types=[("tfidf", FloatTensorType([None, coef.shape[1]]))],
            options={id(estimator): {"zipmap": False}},
            target_opset={"": 17, "ai.onnx.ml": 3},
        )
        return build_sparse_graph(read_linear_head(dense), name, weight_format).SerializeToString()

    # -- verify --------------------------------------------------------------
    def verify(self, ctx: TaskContext) -> dict[str, Any]:
        import cerebellum

        report = ctx.read_json(ctx.build / TRAIN_REPORT)
        arrays = self._artifacts(ctx)
        _, splits = load_splits(ctx)
        model = cerebellum.load(ctx.model_dir)
        texts = [r["text"] for r in splits["test"] if r["label"] != calibration.OUT_OF_SCOPE]
        proba = np.concatenate(
            [model.predict_proba_batch(texts[i : i + 256]) for i in range(0, len(texts), 256)]
            or [np.zeros((0, len(model.labels)), np.float32)]
        )
        expected = arrays["test_proba"]
        pred = proba.argmax(axis=1) if len(texts) else np.zeros(0, np.int64)
        label_mismatches = np.flatnonzero(pred != arrays["test_pred"]).tolist()
        max_diff = float(np.abs(proba - expected).max()) if len(texts) else 0.0
        problems = []
        if label_mismatches:
            examples = "; ".join(
                f"{texts[i]!r}: runtime {model.labels[pred[i]]}, scikit-learn {model.labels[arrays['test_pred'][i]]}"
                for i in label_mismatches[:5]
            )
            problems.append(f"{len(label_mismatches)} test rows get another label: {examples}")
        if max_diff > PROBABILITY_TOLERANCE:
            problems.append(f"probabilities differ by up to {max_diff:.3g} (> {PROBABILITY_TOLERANCE})")
        canary_failures = {
            text: (expected_label, model.predict(text))
            for text, expected_label in ctx.task.canaries.items()
            if model.predict(text) != expected_label
        }
        if canary_failures:
            problems.append(
                "canaries answered wrong: "
                + "; ".join(f"{t!r} -> {got} (expected {want})" for t, (want, got) in canary_failures.items())
            )
        if problems:
            raise VerificationError(f"{ctx.task.name}: verification failed: " + " | ".join(problems))
        verification = {
            "rows": len(texts),
            "label_mismatches": 0,
            "max_probability_difference": max_diff,
            "tolerance": PROBABILITY_TOLERANCE,
            "canaries": len(ctx.task.canaries),
            "latency": measure_latency(model, texts or list(ctx.task.canaries) or ["hello"]),
            "evaluator": model.evaluator,
        }
        sizes = {name: (ctx.model_dir / name).stat().st_size for name in (cb.MODEL_FILE, cb.PREPROCESSOR_FILE)}
        verification["bundle_bytes"] = sum(sizes.values())
        atomic_write_text(ctx.build / VERIFY_REPORT, json.dumps(verification, indent=2))
        card = render_card(model.preprocessor, report, sizes=sizes, verification=verification)
        atomic_write_text(ctx.model_dir / cb.CARD_FILE, card)
        return verification


def _transform(vectorizer: TfidfVectorizer, rows: list[list[str]]) -> Any:
    """``vectorizer.transform``, which refuses no rows: those give a matrix without rows."""
    if rows:
        return vectorizer.transform(rows)
    return sparse.csr_matrix((0, len(vectorizer.idf_)), dtype=np.float64)


def _hashed_spaces(terms: dict[str, list[list[str]]]) -> Callable[[int], Space]:
    """Hashed feature spaces of the tokenized splits, for any bucket count (spec section 5)."""
    hashes: dict[str, int] = {}
    for rows in terms.values():
        for row in rows:
            for term in row:
                if term not in hashes:
                    hashes[term] = fnv1a64(term.encode("utf-8"))

    def space(buckets: int) -> Space:
        def buckets_of(row: list[str]) -> list[str]:
            return [str(hashes[t] % buckets) for t in row]

        vectorizer = TfidfVectorizer(
            analyzer=buckets_of,
            vocabulary={str(b): b for b in range(buckets)},
            norm="l2",
            smooth_idf=True,
            sublinear_tf=False,
        )
        x = {"train": vectorizer.fit_transform(terms["train"])}
        x |= {split: _transform(vectorizer, terms[split]) for split in terms.keys() - {"train"}}
        return Space(
            "hashed", x, vectorizer.idf_, np.arange(buckets), tfidf_spec([], vectorizer.idf_, buckets)[0].ByteSize()
        )

    return space


def _confidence(
    params: Params,
    fitted: calibration.Calibration,
    uncalibrated: dict[str, np.ndarray],
    x: dict[str, Any],
    y: dict[str, np.ndarray],
    weights: np.ndarray,
    bias: np.ndarray,
) -> dict[str, Any]:
    """The report's "calibration" and "defer" entries: ECE before and after, and the chosen rule."""
    # float32 logits, as the runtimes have them; sklearn's TF-IDF is float64, so the last bits
    # may still differ, which is why thresholds sit between dev rows (choose_threshold)
    p = {
        split: calibration.scores(compressed_logits(m, weights, bias).astype(np.float32).astype(np.float64))
        for split, m in x.items()
    }
    report: dict[str, Any] = {
        "calibration": {
            "method": fitted.method,
            "scale": fitted.scale,
            "offset": fitted.offset,
            **{
                split: {
                    "rows": len(y[split]),
                    "ece_before": calibration.expected_calibration_error(
                        calibration.scores(uncalibrated[split]), y[split]
                    ),
                    "ece_after": calibration.expected_calibration_error(p[split], y[split]),
                }
                for split in ("dev", "test")
            },
            "reliability": calibration.reliability(p["test"], y["test"]) if len(y["test"]) else [],
        }
    }
    if params.defer == "none":
        return report

    def measured(split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        m = calibration.measure(p[split], params.defer_measure)
        outside = p.get(f"{split}_oos")
        m_oos = calibration.measure(outside, params.defer_measure) if outside is not None else np.zeros(0)
        return m, p[split].argmax(axis=1) == y[split], m_oos

    choice = calibration.choose_threshold(*measured("dev"), params.defer, params.defer_goal)
    report["defer"] = {
        "measure": params.defer_measure,
        "threshold": choice.threshold,
        "target": choice.target,
        "reached": choice.reached,
        **{split: calibration.figures(*measured(split), choice.threshold).__dict__ for split in ("dev", "test")},
    }
    return report


def _confidence_proto(pre: pb.Preprocessor, report: dict[str, Any]) -> None:
    """Record the calibration and, when there is one, the defer rule (with its feature) in ``pre``."""
    cal = report.get("calibration")
    if cal and cal["method"] != "none":
        pre.calibration.method = cal["method"]
        if cal["method"] == "temperature":
            pre.calibration.temperature = 1.0 / cal["scale"]
        else:
            pre.calibration.platt_scale = cal["scale"]
            pre.calibration.platt_offset = cal["offset"]
        for split in ("dev", "test"):
            figures = getattr(pre.calibration, split)
            figures.rows = cal[split]["rows"]
            figures.ece_before = cal[split]["ece_before"]
            figures.ece_after = cal[split]["ece_after"]
    rule = report.get("defer")
    if rule:
        measure = {"top_score": pb.DeferRule.MEASURE_TOP_SCORE, "margin": pb.DeferRule.MEASURE_MARGIN}
        pre.defer_rule.measure = measure[rule["measure"]]
        pre.defer_rule.threshold = rule["threshold"]
        pre.defer_rule.target = rule["target"]
        for split in ("dev", "test"):
            getattr(pre.defer_rule, split).CopyFrom(calibration.Figures(**rule[split]).as_proto())
        pre.required_features.append(DEFER_RULE)


def _metrics_proto(report: dict[str, Any]) -> pb.Metrics:
    metrics, test = metrics_header(report)
    if test:
        metrics.accuracy = test["accuracy"]
        metrics.macro_f1 = test["macro_f1"]
        for c in test["per_class"]:
            metrics.per_class.add(**c)
        metrics.confusion.extend(v for row in test["confusion"] for v in row)
    return metrics


Trainer = TfidfLinearTrainer
