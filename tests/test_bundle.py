"""Bundles: round trip, and every kind of damage failing with a clear, typed error."""

from __future__ import annotations

import hashlib
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

import cerebellum
from cerebellum import bundle as cb
from cerebellum._proto import bundle_pb2 as pb
from forge.onnx_sparse import LinearHead, build_sparse_graph

from .conftest import rewrite_preprocessor


@pytest.fixture()
def bundle_copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    target = tmp_path / "tiny"
    shutil.copytree(tiny_bundle, target)
    return target


def test_round_trip(tiny_bundle: Path) -> None:
    model = cerebellum.load(tiny_bundle)
    assert model.labels == ("Question", "Statement")
    assert model.predict("how is the weather?") == "Question"
    assert model.predict("打开音乐") == "Statement"
    same = cerebellum.load_bytes(
        (tiny_bundle / cb.PREPROCESSOR_FILE).read_bytes(), (tiny_bundle / cb.MODEL_FILE).read_bytes()
    )
    texts = ["when is dinner?", "cancel music", "", "x" * 5000]
    np.testing.assert_array_equal(model.predict_proba_batch(texts), same.predict_proba_batch(texts))


def test_prediction_api(tiny_bundle: Path) -> None:
    model = cerebellum.load(tiny_bundle)
    texts = ["when is dinner?", "cancel music", "", "火车怎么样", "x" * 100_000]
    batch = model.predict_proba_batch(texts)
    assert batch.shape == (5, 2) and batch.dtype == np.float32
    np.testing.assert_allclose(batch.sum(axis=1), 1.0, atol=1e-6)
    for row, text in enumerate(texts):
        np.testing.assert_allclose(model.predict_proba(text), batch[row], atol=1e-7)
        assert model.predict(text) == model.labels[int(np.argmax(batch[row]))]
    assert model.predict_batch(texts) == [model.predict(t) for t in texts]
    assert model.predict_batch([]) == [] and model.predict_proba_batch([]).shape == (0, 2)
    result = model.classify("when is dinner?")
    assert result.label == "Question" and list(result.scores) == ["Question", "Statement"]
    assert model.decision_function_batch(["when is dinner?"]).shape == (1, 1)
    vector = model.vectorize("when is dinner?")
    assert len(vector) > 0 and vector.values.dtype == np.float32
    with pytest.raises(cerebellum.InvalidInputError):
        model.predict("bad \udfff")


def test_missing_bundle_and_files(tmp_path: Path, bundle_copy: Path) -> None:
    with pytest.raises(cerebellum.BundleNotFoundError, match="bundle directory not found"):
        cerebellum.load(tmp_path / "nope")
    (bundle_copy / cb.MODEL_FILE).unlink()
    with pytest.raises(cerebellum.BundleNotFoundError) as info:
        cerebellum.load(bundle_copy)
    assert info.value.path.name == cb.MODEL_FILE and "file not found" in str(info.value)


def test_wrong_version(bundle_copy: Path) -> None:
    path = bundle_copy / cb.PREPROCESSOR_FILE
    envelope = pb.PreprocessorFile()
    envelope.ParseFromString(path.read_bytes())
    envelope.format_version = 2
    path.write_bytes(envelope.SerializeToString())
    with pytest.raises(
        cerebellum.BundleVersionError, match="format version 2, but this runtime reads version 1"
    ) as info:
        cerebellum.load(bundle_copy)
    assert info.value.path == path


def test_wrong_magic(bundle_copy: Path) -> None:
    path = bundle_copy / cb.PREPROCESSOR_FILE
    envelope = pb.PreprocessorFile()
    envelope.ParseFromString(path.read_bytes())
    envelope.magic = "something else"
    path.write_bytes(envelope.SerializeToString())
    with pytest.raises(cerebellum.BundleCorruptError, match="magic"):
        cerebellum.load(bundle_copy)


def test_preprocessor_changed_after_forging(bundle_copy: Path) -> None:
    path = bundle_copy / cb.PREPROCESSOR_FILE
    envelope = pb.PreprocessorFile()
    envelope.ParseFromString(path.read_bytes())
    pre = pb.Preprocessor()
    pre.ParseFromString(envelope.preprocessor)
    pre.labels[0] = "Hacked"
    envelope.preprocessor = pre.SerializeToString()  # checksum left as it was
    path.write_bytes(envelope.SerializeToString())
    with pytest.raises(cerebellum.BundleIntegrityError, match="checksum mismatch"):
        cerebellum.load(bundle_copy)


def test_model_changed_after_forging(bundle_copy: Path) -> None:
    path = bundle_copy / cb.MODEL_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(cerebellum.BundleIntegrityError, match="checksum mismatch") as info:
        cerebellum.load(bundle_copy)
    assert info.value.path == path


def test_truncations_and_bit_flips_never_escape_as_other_errors(tiny_bundle: Path) -> None:
    pre = (tiny_bundle / cb.PREPROCESSOR_FILE).read_bytes()
    model = (tiny_bundle / cb.MODEL_FILE).read_bytes()
    rng = random.Random(0)
    cases = [(pre[:n], model) for n in [0, 1, 2, 10, len(pre) // 3, len(pre) - 1]]
    cases += [(pre, model[:n]) for n in [0, 5, len(model) - 1]]
    for _ in range(150):
        damaged = bytearray(pre)
        damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        cases.append((bytes(damaged), model))
    for damaged_pre, damaged_model in cases:
        with pytest.raises(cerebellum.BundleError):
            cerebellum.load_bytes(damaged_pre, damaged_model)


def _swap_model(directory: Path, onnx_bytes: bytes) -> None:
    (directory / cb.MODEL_FILE).write_bytes(onnx_bytes)

    def edit(pre: pb.Preprocessor) -> None:
        pre.model_sha256 = hashlib.sha256(onnx_bytes).digest()

    rewrite_preprocessor(directory, edit)


def test_model_that_does_not_fit_the_preprocessor(bundle_copy: Path) -> None:
    too_few_rows = build_sparse_graph(
        LinearHead(np.ones((1, 3), np.float32), np.zeros(1, np.float32), "NONE", False), "x"
    )
    _swap_model(bundle_copy, too_few_rows.SerializeToString())
    with pytest.raises(cerebellum.BundleMismatchError, match="model has 3 feature rows, vocabulary has"):
        cerebellum.load(bundle_copy)  # the native evaluator reads the rows
    with pytest.raises(cerebellum.BundleMismatchError, match="rejects the preprocessor's features"):
        cerebellum.load(bundle_copy, evaluator="onnx")  # onnxruntime finds out when it runs the probe


def test_model_with_other_label_count(bundle_copy: Path) -> None:
    rows = cerebellum.load(bundle_copy).preprocessor.onnx.num_features
    three = build_sparse_graph(
        LinearHead(np.ones((3, rows), np.float32), np.zeros(3, np.float32), "SOFTMAX", False), "x"
    )
    _swap_model(bundle_copy, three.SerializeToString())
    with pytest.raises(cerebellum.BundleMismatchError, match="names 2 labels"):
        cerebellum.load(bundle_copy)


def test_model_that_is_not_onnx(bundle_copy: Path) -> None:
    _swap_model(bundle_copy, b"not an onnx model at all")
    with pytest.raises(cerebellum.BundleCorruptError, match="not an ONNX model"):
        cerebellum.load(bundle_copy)


def test_vocabulary_size_must_match_the_model(bundle_copy: Path) -> None:
    rewrite_preprocessor(bundle_copy, lambda pre: setattr(pre.onnx, "num_features", pre.onnx.num_features + 1))
    with pytest.raises(cerebellum.BundleMismatchError, match="feature rows"):
        cerebellum.load(bundle_copy)


def test_unsupported_kind(bundle_copy: Path) -> None:
    rewrite_preprocessor(bundle_copy, lambda pre: setattr(pre, "kind", pb.TASK_KIND_UNSPECIFIED))
    with pytest.raises(cerebellum.BundleCorruptError, match="unsupported task kind"):
        cerebellum.load(bundle_copy)
