"""Calibrated scores and the defer rule: fitted by the forge, decided alike by every runtime."""

from __future__ import annotations

import ctypes
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import cerebellum
from cerebellum._proto import bundle_pb2 as pb
from cerebellum.defer import DEFER_RULE, MARGIN, TOP_SCORE, DeferRule
from conformance.answers import answer
from conformance.compare import compare
from forge import calibration
from forge.chat import run_chat

from .conftest import TINY_CONFIG, rewrite_preprocessor, tiny_rows, write_tiny_blueprint
from .test_rust_runtime import CApi

TEXTS = [row["text"] for row in tiny_rows(5)] + ["", "   ", "天气", "what?", "turn it on?", "嗯 那个"]


def _with_rule(pre: pb.Preprocessor, measure: int, threshold: float) -> None:
    pre.defer_rule.measure = measure
    pre.defer_rule.threshold = threshold
    pre.required_features.append(DEFER_RULE)


@pytest.fixture(scope="module")
def c_lib(rust_build: Path) -> CApi:
    return CApi(rust_build / "libcerebellum.so")


@pytest.fixture
def deferring(tiny_bundle: Path, tmp_path: Path) -> Path:
    """The tiny bundle with a margin rule that defers some of TEXTS and answers others."""
    directory = Path(shutil.copytree(tiny_bundle, tmp_path / "deferring"))
    model = cerebellum.load(tiny_bundle)
    margins = sorted(DeferRule(MARGIN, 0.0).measure_of(model.predict_proba(t).tolist()) for t in TEXTS)
    threshold = float(np.float32(margins[len(margins) // 2]))
    rewrite_preprocessor(directory, lambda pre: _with_rule(pre, pb.DeferRule.MEASURE_MARGIN, threshold))
    return directory


@pytest.mark.parametrize("backend", ["python", "rust"])
def test_classify_defers_by_the_bundles_rule_and_keeps_the_label(deferring: Path, backend: str) -> None:
    model = cerebellum.load(deferring, backend=backend)
    rule = model.defer_rule
    assert rule is not None and rule.measure == MARGIN
    decisions = []
    for text in TEXTS:
        result = model.classify(text)
        scores = list(result.scores.values())
        assert result.defer == (DeferRule(MARGIN, 0.0).measure_of(scores) < rule.threshold)
        assert result.label == model.predict(text)  # a deferred text still has its label
        decisions.append(result.defer)
    assert any(decisions) and not all(decisions)


def test_every_runtime_decides_alike(deferring: Path, c_lib: CApi) -> None:
    python = cerebellum.load(deferring)
    rust = cerebellum.load(deferring, backend="rust")
    lib = c_lib.lib
    status, handle = c_lib.load_bytes(
        (deferring / "preprocessor.bin").read_bytes(), (deferring / "model.onnx").read_bytes()
    )
    assert status == 0
    label, scores, defer = ctypes.c_size_t(), (ctypes.c_float * 2)(), ctypes.c_bool()
    try:
        for text in TEXTS:
            data = text.encode()
            out = (ctypes.byref(label), scores, 2, ctypes.byref(defer))
            assert lib.cerebellum_classify_defer(handle, data, len(data), *out) == 0
            assert python.classify(text).defer == rust.classify(text).defer == defer.value
            # and through the conformance protocol: the reference and the Rust backend agree exactly
            assert compare(answer(python, text), answer(rust, text), 0.0, rule=python.defer_rule).ok
    finally:
        lib.cerebellum_free(handle)


def test_a_bundle_without_a_rule_never_defers(tiny_bundle: Path) -> None:
    model = cerebellum.load(tiny_bundle)
    assert model.defer_rule is None
    assert not any(model.classify(t).defer for t in TEXTS)


def test_the_measures_follow_the_spec() -> None:
    top, margin = DeferRule(TOP_SCORE, 0.6), DeferRule(MARGIN, 0.2)
    assert top.measure_of([0.5, 0.3, 0.2]) == 0.5 and top.defers([0.5, 0.3, 0.2])
    assert not top.defers([0.6, 0.4])  # equal to the threshold: answered
    assert margin.measure_of([0.4, 0.4, 0.2]) == 0.0  # a tie leaves no margin
    assert margin.measure_of([0.75]) == 0.75  # one score: the second is 0
    assert margin.defers([0.2, float("nan")])  # a NaN score is always deferred


BROKEN = {
    "does not list 'defer-rule'": lambda pre: setattr(pre.defer_rule, "threshold", 0.5),
    "there is no defer_rule": lambda pre: pre.required_features.append(DEFER_RULE),
    "unknown measure": lambda pre: _with_rule(pre, 7, 0.5),
    "threshold must be finite": lambda pre: _with_rule(pre, pb.DeferRule.MEASURE_TOP_SCORE, float("nan")),
}


@pytest.mark.parametrize("backend", ["python", "rust"])
@pytest.mark.parametrize("problem", sorted(BROKEN))
def test_a_broken_rule_is_refused(tiny_bundle: Path, tmp_path: Path, backend: str, problem: str) -> None:
    directory = Path(shutil.copytree(tiny_bundle, tmp_path / "broken"))
    rewrite_preprocessor(directory, BROKEN[problem])
    with pytest.raises(cerebellum.BundleCorruptError, match=problem):
        cerebellum.load(directory, backend=backend)


@pytest.mark.parametrize("backend", ["python", "rust"])
def test_a_tagger_with_a_rule_is_refused(tiny_tagger_workspace: Path, tmp_path: Path, backend: str) -> None:
    directory = Path(shutil.copytree(tiny_tagger_workspace / "models" / "tiny_ner", tmp_path / "tagger"))
    rewrite_preprocessor(directory, lambda pre: _with_rule(pre, pb.DeferRule.MEASURE_TOP_SCORE, 0.5))
    with pytest.raises(cerebellum.BundleCorruptError, match="only classifiers defer"):
        cerebellum.load(directory, backend=backend)


def test_forge_chat_marks_deferred_lines(deferring: Path) -> None:
    out = io.StringIO()
    run_chat(deferring, stdin=io.StringIO("\n".join(TEXTS[:12]) + "\n"), stdout=out)
    model = cerebellum.load(deferring)
    for line, text in zip(out.getvalue().splitlines(), [t for t in TEXTS[:12] if t.strip()], strict=True):
        assert line.split("\t")[0].endswith(" (defer)") == model.classify(text).defer


# -- the forge ---------------------------------------------------------------


def test_temperature_scaling_tames_overconfident_scores() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 2000)
    z = rng.normal(0, 1, (2000, 3))
    z[np.arange(2000), y] += 1.0
    z *= 6.0  # the right class leads, but six times too sure of itself
    fitted = calibration.fit("temperature", z, y)
    assert 4.0 < fitted.temperature < 8.0
    before = calibration.expected_calibration_error(calibration.scores(z), y)
    after = calibration.expected_calibration_error(calibration.scores(z * fitted.scale), y)
    assert after < before / 3


def test_platt_scaling_fits_a_binary_models_slope_and_offset() -> None:
    rng = np.random.default_rng(1)
    t = rng.normal(0, 2, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-(0.5 * t + 1.0)))).astype(np.int64)
    fitted = calibration.fit("platt", t[:, None], y)
    assert fitted.scale == pytest.approx(0.5, abs=0.1) and fitted.offset == pytest.approx(1.0, abs=0.15)
    with pytest.raises(ValueError, match="one-logit"):
        calibration.fit("platt", np.zeros((5, 3)), np.zeros(5, np.int64))


def _f32(values: list[float]) -> np.ndarray:
    return np.array(values, np.float32).astype(np.float64)


def test_the_precision_threshold_answers_as_many_rows_as_the_goal_allows() -> None:
    m = _f32([0.99, 0.95, 0.9, 0.9, 0.8, 0.6])  # measures of float32 scores, as the forge has them
    correct = np.array([True, True, True, False, True, False])
    # down to 0.95 all are right; 0.9 brings a tie of one right and one wrong (75%), 0.8 gives 80%
    choice = calibration.choose_threshold(m, correct, np.zeros(0), "precision", 0.85)
    assert choice.reached and 0.9 < choice.threshold <= 0.95  # between the last answered and the first deferred
    assert calibration.figures(m, correct, np.zeros(0), choice.threshold).coverage == pytest.approx(2 / 6)
    assert calibration.choose_threshold(m, correct, np.zeros(0), "precision", 0.8).threshold < 0.8
    # an out-of-scope row answered at 0.97 counts as a wrong answer
    choice = calibration.choose_threshold(m, correct, _f32([0.97]), "precision", 0.9)
    assert 0.97 < choice.threshold <= 0.99
    figures = calibration.figures(m, correct, _f32([0.97, 0.1]), choice.threshold)
    assert figures.out_of_scope_deferred == 1.0 and figures.coverage == pytest.approx(1 / 6)
    unreachable = calibration.choose_threshold(m, ~correct, np.zeros(0), "precision", 0.99)
    assert not unreachable.reached and "not reached" in unreachable.target
    # no dev rows at all: answer everything rather than fail
    empty = calibration.choose_threshold(np.zeros(0), np.zeros(0, bool), np.zeros(0), "precision", 0.9)
    assert empty.threshold == 0.0 and not empty.reached


def test_the_coverage_threshold_defers_at_most_the_share_asked() -> None:
    m = np.linspace(0.3, 1.0, 100)
    choice = calibration.choose_threshold(m, np.ones(100, bool), np.zeros(0), "coverage", 0.1)
    assert (m < choice.threshold).sum() == 10
    tied = _f32([0.5] * 5 + [0.9] * 5)  # deferring the tie would defer half: defer none
    assert calibration.choose_threshold(tied, np.ones(10, bool), np.zeros(0), "coverage", 0.3).threshold == 0.0


def test_out_of_scope_rows_go_to_dev_and_test_only() -> None:
    from forge.blueprint import SplitConfig
    from forge.refine import stratified_split

    rows = [{"text": f"q{i}", "label": "A" if i % 2 else "B"} for i in range(200)]
    rows += [{"text": f"none {i}", "label": calibration.OUT_OF_SCOPE} for i in range(40)]
    splits = stratified_split(rows, SplitConfig(dev=0.1, test=0.2), seed=3)
    assert not any(r["label"] == calibration.OUT_OF_SCOPE for r in splits["train"])
    dev = sum(r["label"] == calibration.OUT_OF_SCOPE for r in splits["dev"])
    test = sum(r["label"] == calibration.OUT_OF_SCOPE for r in splits["test"])
    assert (dev, test) == (13, 27)


OUT_OF_SCOPE_CONFIG = TINY_CONFIG.replace(
    "C = [1.0, 10.0]", 'C = [1.0, 10.0]\ndefer = "precision"\ndefer_goal = 0.99\ndefer_measure = "margin"'
)


def test_a_forged_bundle_carries_its_calibration_rule_and_out_of_scope_figures(tmp_path: Path) -> None:
    from forge.blueprint import load_blueprint
    from forge.pipeline import BuildOptions, build
    from forge.workspace import Workspace

    directory = write_tiny_blueprint(tmp_path, OUT_OF_SCOPE_CONFIG)
    unrelated = ["asdf qwer", "lorem ipsum dolor", "zzz", "一二三四", "banana banana", "xyz 123", "。。。", "hmm ok"]
    with (directory / "offline" / "tiny.jsonl").open("a", encoding="utf-8") as fh:
        for i, text in enumerate(unrelated * 4):
            fh.write(json.dumps({"text": f"{text} {i}", "label": calibration.OUT_OF_SCOPE}) + "\n")
    workspace = Workspace(tmp_path)
    build(load_blueprint("tiny", workspace.blueprints), workspace, BuildOptions())
    bundle = tmp_path / "models" / "tiny"
    model = cerebellum.load(bundle)
    pre = model.preprocessor
    assert model.labels == ("Question", "Statement")  # out of scope is no label
    assert DEFER_RULE in pre.required_features and pre.defer_rule.measure == pb.DeferRule.MEASURE_MARGIN
    assert pre.calibration.method == "temperature" and pre.calibration.temperature > 0
    oos = pre.defer_rule.dev.out_of_scope_rows + pre.defer_rule.test.out_of_scope_rows
    assert oos > 0 and pre.defer_rule.dev.rows > 0
    card = (bundle / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "## Confidence and deferral" in card and "out-of-scope deferred" in card
    for backend in ("python", "rust"):
        assert cerebellum.load(bundle, backend=backend).defer_rule == model.defer_rule


def test_conformance_counts_a_defer_flip_near_the_threshold_apart() -> None:
    from conformance._proto import testee_pb2 as tp

    rule = DeferRule(TOP_SCORE, 0.9)

    def response(top: float, defer: bool) -> tp.Response:
        outcome = tp.Outcome(scores=[top, 1 - top], logits=[0.0], label="A", defer=defer)
        return tp.Response(outcome=outcome)

    # an ONNX engine's score 5e-5 away, on the other side of the threshold: within tolerance, no mismatch
    assert compare(response(0.90002, False), response(0.89997, True), 1e-4, rule=rule).ok
    # the same flip where the native runtimes must agree bit for bit, or far from the threshold: a mismatch
    assert not compare(response(0.90002, False), response(0.90002, True), 0.0, rule=rule).ok
    far = compare(response(0.5, True), response(0.5, False), 1e-4, rule=rule)
    assert [m.check for m in far.mismatches] == ["defers"]
