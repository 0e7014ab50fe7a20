"""The native linear path and compressed weights: same answers as the ONNX engines, fewer bytes.

The forge's sparse linear graph is evaluated natively by both runtimes (numpy,
Rust without tract); onnxruntime and tract stay the reference. int8 and
float16 weights are stated in the graph (DequantizeLinear, Cast), so every
engine runs every bundle.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

import cerebellum
from cerebellum import bundle as cb
from cerebellum._proto import bundle_pb2 as pb
from cerebellum.linear import IDENTITY, MIRRORED, SIGMOID, SOFTMAX, LinearModel
from cerebellum.packed import CHARTABLE_BY_NAME, TFIDF_PACKED
from cerebellum.shortcut import TopShortcut
from cerebellum.tfidf import TfidfVectorizer
from forge.compress import CompressionSettings, Space, choose, decode_int8, encode_int8, stored_weights, term_space
from forge.onnx_sparse import LinearHead, build_sparse_graph

from .conftest import rewrite_preprocessor, tiny_rows

TEXTS = [row["text"] for row in tiny_rows(3)] + ["", "   ", "👨‍👩‍👧", "İ ß ﬁ", "what? what? what?", "天气怎么样"]


def _engines(directory: Path) -> dict[str, object]:
    return {
        "python-native": cerebellum.load(directory),
        "onnxruntime": cerebellum.load(directory, evaluator="onnx"),
        "rust-native": cerebellum.load(directory, backend="rust"),
        "tract": cerebellum.load(directory, backend="rust", evaluator="onnx"),
    }


def _assert_engines_agree(directory: Path, texts: list[str], native: str) -> None:
    engines = _engines(directory)
    assert {name: m.evaluator for name, m in engines.items()} == {
        "python-native": native,
        "onnxruntime": "onnxruntime",
        "rust-native": native,
        "tract": "tract",
    }
    scores = {name: np.array([m.predict_proba(t) for t in texts]) for name, m in engines.items()}
    logits = {name: m.decision_function_batch(texts) for name, m in engines.items()}
    # the two native paths follow one pinned arithmetic: the same bits
    assert scores["python-native"].tobytes() == scores["rust-native"].tobytes()
    assert logits["python-native"].tobytes() == logits["rust-native"].tobytes()
    for name in ("onnxruntime", "tract"):
        assert np.abs(scores[name] - scores["python-native"]).max() <= 1e-6, name
        assert (scores[name].argmax(axis=1) == scores["python-native"].argmax(axis=1)).all(), name
    batch = engines["python-native"].predict_proba_batch(texts)
    assert batch.tobytes() == scores["python-native"].tobytes(), "a batch row equals the single answer"


def _swap_graph(directory: Path, head: LinearHead, weight_format: str) -> None:
    model = build_sparse_graph(head, "swapped", weight_format).SerializeToString()
    (directory / cb.MODEL_FILE).write_bytes(model)

    def edit(pre: object) -> None:
        import hashlib

        pre.model_sha256 = hashlib.sha256(model).digest()  # type: ignore[attr-defined]

    rewrite_preprocessor(directory, edit)


@pytest.fixture
def bundle_copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(tiny_bundle, tmp_path / "tiny"))


def test_the_forged_bundle_runs_natively_in_both_runtimes_and_matches_the_engines(tiny_bundle: Path) -> None:
    native = cerebellum.load(tiny_bundle).evaluator
    assert native.startswith("native-")
    _assert_engines_agree(tiny_bundle, TEXTS, native)


@pytest.mark.parametrize("weight_format", ["float32", "float16", "int8"])
@pytest.mark.parametrize("classes", [2, 3, 5])
def test_every_weight_format_and_post_transform_agrees_across_engines(
    bundle_copy: Path, weight_format: str, classes: int
) -> None:
    features = cerebellum.load(bundle_copy).preprocessor.onnx.num_features
    rng = np.random.default_rng(classes)
    coefficients = (rng.standard_normal((classes, features)) * 3).astype(np.float32)
    intercepts = rng.standard_normal(classes).astype(np.float32)
    if classes == 2:  # the binary form skl2onnx writes: mirrored rows, one logit, logistic
        coefficients[0], intercepts[0] = -coefficients[1], -intercepts[1]
        head = LinearHead(coefficients, intercepts, "LOGISTIC", False)
    elif classes == 3:
        head = LinearHead(coefficients, intercepts, "SOFTMAX", False)
    else:  # one-vs-rest: logistic per class, then L1 normalisation
        head = LinearHead(coefficients, intercepts, "LOGISTIC", True)
    labels = [f"L{i}" for i in range(classes)]
    rewrite_preprocessor(bundle_copy, lambda pre: (pre.ClearField("labels"), pre.labels.extend(labels)))
    _swap_graph(bundle_copy, head, weight_format)
    _assert_engines_agree(bundle_copy, TEXTS, f"native-{weight_format}")


def test_a_graph_of_another_shape_runs_on_the_onnx_engines(bundle_copy: Path) -> None:
    import onnx
    from onnx import helper

    model = onnx.load_from_string((bundle_copy / cb.MODEL_FILE).read_bytes())
    add = next(n for n in model.graph.node if n.op_type == "Add")
    add.output[0] = "half"  # logits = 2 * (dot + b): a meaning the native matcher must not guess
    model.graph.node.insert(
        list(model.graph.node).index(add) + 1, helper.make_node("Add", ["half", "half"], ["logits"])
    )
    data = model.SerializeToString()
    (bundle_copy / cb.MODEL_FILE).write_bytes(data)
    rewrite_preprocessor(
        bundle_copy, lambda pre: setattr(pre, "model_sha256", __import__("hashlib").sha256(data).digest())
    )
    assert cerebellum.load(bundle_copy).evaluator == "onnxruntime"
    assert cerebellum.load(bundle_copy, backend="rust").evaluator == "tract"


def test_loading_and_running_a_classifier_never_imports_onnxruntime(tiny_bundle: Path) -> None:
    code = (
        "import sys, cerebellum\n"
        f"m = cerebellum.load({str(tiny_bundle)!r})\n"
        "m.predict('how is the weather')\n"
        "print(m.evaluator, 'onnxruntime' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0].startswith("native-") and out[1] == "False"


def test_int8_is_symmetric_per_class_and_within_half_a_step() -> None:
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((50, 4)).astype(np.float32) * np.array([0.01, 1, 100, 0], np.float32)
    q, scale = encode_int8(weights)
    assert q.dtype == np.int8 and scale.dtype == np.float32 and scale.shape == (4,)
    assert np.abs(q).max() <= 127 and scale[3] == 1.0  # an all-zero class keeps a harmless scale
    error = np.abs(decode_int8(q, scale) - weights)
    assert (error <= scale[None, :] / 2 + 1e-6 * np.abs(weights)).all()
    assert np.array_equal(stored_weights(weights, "float16"), weights.astype(np.float16).astype(np.float32))


def _separable(n: int, features: int, seed: int) -> tuple[sparse.csr_matrix, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    dense = rng.random((n, features)) * (rng.random((n, features)) < 0.05)
    for row, label in enumerate(y):  # a few informative columns per class, the rest noise
        dense[row, label * 5 : label * 5 + 5] += rng.random(5)
    from sklearn.preprocessing import normalize

    return sparse.csr_matrix(normalize(dense)), y


def _refit(x: sparse.csr_matrix, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=10.0, max_iter=2000, random_state=0).fit(x, y)
    return model.coef_, model.intercept_


def test_auto_compression_picks_the_smallest_model_within_the_dev_bound() -> None:
    x_train, y_train = _separable(600, 400, 1)
    x_dev, y_dev = _separable(300, 400, 2)
    coef, intercept = _refit(x_train, y_train)
    x, y = {"train": x_train, "dev": x_dev, "test": x_dev}, {"train": y_train, "dev": y_dev}
    terms = [f"term{j}" for j in range(400)]
    full = term_space(x, np.ones(400), terms, np.arange(400))

    def hashed(buckets: int) -> Space:  # folding columns onto buckets, as hashing would
        fold = sparse.csr_matrix((np.ones(400), (np.arange(400), np.arange(400) % buckets)), shape=(400, buckets))
        return Space(
            "hashed", {k: (m @ fold).tocsr() for k, m in x.items()}, np.ones(buckets), np.arange(buckets), 4 * buckets
        )

    chosen = choose(coef, intercept, full, terms, y, _refit, hashed, CompressionSettings(vocabulary="auto"))
    assert chosen.weight_format == "int8"
    assert chosen.space.vocabulary == "terms" and len(chosen.space.columns) < 400, "noise columns are pruned"
    assert np.all(np.diff(chosen.space.columns) > 0), "kept columns stay in vocabulary order"
    picked = min(
        (c for c in chosen.candidates if 100 * (chosen.baseline_dev_accuracy - c.dev_accuracy) <= 0.3 + 1e-9),
        key=lambda c: c.estimated_bytes,
    )
    assert (picked.vocabulary, picked.features, picked.weight_format) == ("terms", len(chosen.space.columns), "int8")
    assert {c.vocabulary for c in chosen.candidates} == {"terms", "hashed"}
    fixed = choose(coef, intercept, full, terms, y, _refit, hashed, CompressionSettings("float32", "terms", 1.0))
    assert fixed.weight_format == "float32" and len(fixed.space.columns) == 400
    assert np.array_equal(fixed.coef, coef)
    small = choose(
        coef, intercept, full, terms, y, _refit, hashed, CompressionSettings("int8", "hashed", "auto", 64, 100)
    )
    assert small.space.vocabulary == "hashed" and len(small.space.idf) == 64


def test_a_hashed_vocabulary_bundle_is_forged_and_answers_alike_everywhere(tmp_path: Path) -> None:
    from forge.blueprint import load_blueprint
    from forge.pipeline import BuildOptions, build
    from forge.workspace import Workspace

    from .conftest import TINY_CONFIG, write_tiny_blueprint

    config = TINY_CONFIG.replace("C = [1.0, 10.0]", 'C = [1.0, 10.0]\nvocabulary = "hashed"\nhash_buckets = 512')
    write_tiny_blueprint(tmp_path, config)
    workspace = Workspace(tmp_path)
    build(load_blueprint("tiny", workspace.blueprints), workspace, BuildOptions())
    directory = tmp_path / "models" / "tiny"
    model = cerebellum.load(directory)
    assert list(model.preprocessor.required_features) == [CHARTABLE_BY_NAME, cb.HASHED_VOCABULARY, TFIDF_PACKED]
    assert len(model.preprocessor.tfidf.vocabulary) == 0 and model.preprocessor.tfidf.hash_buckets == 512
    v = model.vectorize("how is the weather")
    from cerebellum.tfidf import fnv1a64

    assert set(v.indices.tolist()) == {fnv1a64(t.encode()) % 512 for t in model.terms("how is the weather")}
    _assert_engines_agree(directory, TEXTS, model.evaluator)
    rust = cerebellum.load(directory, backend="rust")
    assert all(
        rust.vectorize(t).indices.tolist() == model.vectorize(t).indices.tolist()
        and rust.vectorize(t).values.tobytes() == model.vectorize(t).values.tobytes()
        for t in TEXTS
    )


@pytest.mark.parametrize("backend", ["python", "rust"])
def test_a_bundle_that_needs_an_unknown_feature_is_refused_by_name(bundle_copy: Path, backend: str) -> None:
    rewrite_preprocessor(bundle_copy, lambda pre: pre.required_features.append("tfidf-sublinear-v9"))
    with pytest.raises(cerebellum.BundleVersionError, match="'tfidf-sublinear-v9'.*upgrade the runtime"):
        cerebellum.load(bundle_copy, backend=backend)


@pytest.mark.parametrize("backend", ["python", "rust"])
def test_hash_buckets_without_the_feature_named_are_refused(bundle_copy: Path, backend: str) -> None:
    def edit(pre: object) -> None:
        pre.tfidf.hash_buckets = len(pre.tfidf.idf_index)  # type: ignore[attr-defined]
        pre.tfidf.ClearField("packed_vocabulary")  # type: ignore[attr-defined]

    rewrite_preprocessor(bundle_copy, edit)
    with pytest.raises(cerebellum.BundleCorruptError, match="required_features does not list"):
        cerebellum.load(bundle_copy, backend=backend)


def test_logits_beyond_exp_range_score_alike_in_both_native_paths(bundle_copy: Path) -> None:
    # |z| > 709.78: exp overflows float64; C gives infinity (a score of 0), Python's math.exp raises
    features = cerebellum.load(bundle_copy).preprocessor.onnx.num_features
    coefficients = np.full((5, features), 5000.0, np.float32) * np.array([[1], [-1], [1], [-1], [0.0001]], np.float32)
    head = LinearHead(coefficients, np.zeros(5, np.float32), "LOGISTIC", True)
    labels = [f"L{i}" for i in range(5)]
    rewrite_preprocessor(bundle_copy, lambda pre: (pre.ClearField("labels"), pre.labels.extend(labels)))
    _swap_graph(bundle_copy, head, "float32")
    python, rust = cerebellum.load(bundle_copy), cerebellum.load(bundle_copy, backend="rust")
    for text in TEXTS:
        assert python.predict_proba(text).tobytes() == rust.predict_proba(text).tobytes(), text


_LOGIT = st.floats(-30, 30, width=32)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([SOFTMAX, MIRRORED, SIGMOID, IDENTITY]),
    st.lists(_LOGIT, min_size=1, max_size=6),
    st.lists(st.sampled_from([0.0, 1e-7, 5e-5, 1e-4, 2e-4, 1e-3]), min_size=1, max_size=6),
)
def test_predict_settles_on_the_logits_only_when_the_scores_agree(
    post: str, logits: list[float], nudges: list[float]
) -> None:
    # near ties included: logits a hair apart, where rounded scores may tie and the first maximum wins
    z = [float(np.float32(logits[0] + n)) for n in nudges] + logits[1:]
    if post == MIRRORED:
        z = z[:1]
    model = LinearModel(np.zeros((1, len(z)), np.float32), np.zeros(len(z), np.float32), post, "float32")
    scores = model.scores_of(z)
    top = model.top_of(z)
    assert top is None or top == scores.index(max(scores))
    ranked = sorted(z, reverse=True)
    lead = abs(z[0]) if post == MIRRORED else ranked[0] - ranked[1] if len(z) > 1 else np.inf
    if post in (SOFTMAX, MIRRORED) and lead > 1e-3:
        assert top is not None  # a clear lead skips the scores


# large weights give logits whose float32 ulp exceeds DECISIVE
_WEIGHT = st.one_of(st.floats(-8, 8, width=32), st.floats(-3000, 3000, width=32))


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from([SOFTMAX, MIRRORED]),
    st.integers(1, 6),
    st.data(),
    st.booleans(),
)
def test_the_predict_shortcut_answers_only_what_the_exact_path_answers(
    post: str, features: int, data: st.DataObject, l2: bool
) -> None:
    # near ties included: a class whose weights are another's nudged by a hair
    width = 1 if post == MIRRORED else data.draw(st.integers(2, 5))
    weights = np.array(
        data.draw(st.lists(st.lists(_WEIGHT, min_size=width, max_size=width), min_size=features, max_size=features)),
        np.float32,
    )
    bias = np.array(data.draw(st.lists(_WEIGHT, min_size=width, max_size=width)), np.float32)
    if width > 1:  # class 1 is class 0 moved by a few units in the last place
        ulps = st.sampled_from([0, 1, -1, 4, 40, -400, 4000])
        weights[:, 1] = weights[:, 0] + np.float32(data.draw(ulps)) * np.spacing(weights[:, 0])
        bias[1] = bias[0] + np.float32(data.draw(ulps)) * np.spacing(bias[0])
    idf = data.draw(st.lists(st.floats(0.5, 12, width=32), min_size=features, max_size=features))
    found = data.draw(st.lists(st.integers(0, features - 1), max_size=12))
    spec = pb.TfidfSpec(vocabulary=[f"t{i}" for i in range(features)], idf=idf, norm=pb.NORM_L2 if l2 else pb.NORM_NONE)
    vectorizer = TfidfVectorizer(spec, Path("test"))
    linear = LinearModel(weights, bias, post, "float32")
    shortcut = TopShortcut.of(linear, vectorizer)
    assert shortcut is not None
    columns, values = vectorizer.weigh(found)
    logits = linear.logits_of(columns, values)
    scores = linear.scores_of(logits)
    top = shortcut.top(found)
    assert top is None or top == scores.index(max(scores))
    ranked = sorted(logits, reverse=True)
    lead = abs(logits[0]) if post == MIRRORED else ranked[0] - ranked[1]
    magnitude = abs(ranked[0]) + float(np.abs(weights[columns]).sum(axis=1) @ np.array(values)) if found else 0.0
    if found and lead > 1e-3 + 1e-5 * magnitude:
        assert top is not None  # a clear lead needs no exact arithmetic


@pytest.mark.parametrize(
    ("idf", "weights", "found", "l2"),
    [
        ([1e30], [[0.0, 1e10]], [0], False),  # exact logits [0, inf]
        ([3e38], [[0.0, 1.0]], [0, 0], True),  # tf * idf overflows float32: NaN
        ([3e38], [[0.0, 1.0]], [0, 0], False),
        ([1e-30, 1e30], [[1.0, 0.0], [0.0, 1.0]], [0, 1], True),  # a value far below the other's
    ],
)
def test_the_predict_shortcut_stays_out_of_float32_overflow_and_underflow(
    idf: list[float], weights: list[list[float]], found: list[int], l2: bool
) -> None:
    spec = pb.TfidfSpec(vocabulary=[f"t{i}" for i in range(len(idf))], idf=idf, norm=pb.NORM_L2 if l2 else pb.NORM_NONE)
    vectorizer = TfidfVectorizer(spec, Path("test"))
    linear = LinearModel(np.array(weights, np.float32), np.zeros(2, np.float32), SOFTMAX, "float32")
    scores = linear.scores_of(linear.logits_of(*vectorizer.weigh(found)))
    shortcut = TopShortcut.of(linear, vectorizer)
    top = None if shortcut is None else shortcut.top(found)
    assert top is None or top == scores.index(max(scores))
