"""One error contract for both backends: the same exception types for every bad input and bad bundle."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

import cerebellum
from cerebellum import bundle as cb

from .conftest import rewrite_preprocessor

try:
    import cerebellum_rs  # noqa: F401

    BACKENDS = ["python", "rust"]
except ImportError:  # the Rust module is built by `make rust-module` (part of `make test`)
    BACKENDS = ["python"]

BAD_TEXTS = [None, 3, b"bytes", "lone \ud800 surrogate", "\udfff"]
BAD_BATCHES = ["a string, not a list", b"bytes", 42, ["ok", 3], ["ok", "\ud800"], [None]]


def _raised(call) -> type[BaseException] | None:
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the type is what is compared
        return type(exc)
    return None


@pytest.fixture(scope="module")
def models(tiny_bundle: Path, tiny_tagger_workspace: Path) -> dict[str, dict[str, object]]:
    paths = {"classifier": tiny_bundle, "tagger": tiny_tagger_workspace / "models" / "tiny_ner"}
    return {kind: {b: cerebellum.load(p, backend=b) for b in BACKENDS} for kind, p in paths.items()}


@pytest.mark.parametrize("text", BAD_TEXTS, ids=repr)
@pytest.mark.parametrize("method", ["predict", "predict_proba", "classify", "tokenize", "vectorize"])
def test_bad_text_classifier(models, method: str, text: object) -> None:
    types = {b: _raised(lambda m=m: getattr(m, method)(text)) for b, m in models["classifier"].items()}
    assert set(types.values()) == {cerebellum.InvalidInputError}, types


@pytest.mark.parametrize("text", BAD_TEXTS, ids=repr)
@pytest.mark.parametrize("method", ["tag", "tag_tokens", "emissions", "units"])
def test_bad_text_tagger(models, method: str, text: object) -> None:
    types = {b: _raised(lambda m=m: getattr(m, method)(text)) for b, m in models["tagger"].items()}
    assert set(types.values()) == {cerebellum.InvalidInputError}, types


@pytest.mark.parametrize("batch", BAD_BATCHES, ids=repr)
@pytest.mark.parametrize(
    "kind, method", [("classifier", "predict_batch"), ("classifier", "predict_proba_batch"), ("tagger", "tag_batch")]
)
def test_bad_batches(models, kind: str, method: str, batch: object) -> None:
    types = {b: _raised(lambda m=m: getattr(m, method)(batch)) for b, m in models[kind].items()}
    assert len(set(types.values())) == 1, types
    expected = TypeError if isinstance(batch, str | bytes | int) else cerebellum.InvalidInputError
    assert set(types.values()) == {expected}


def test_a_string_batch_says_what_to_do(models) -> None:
    for model in models["classifier"].values():
        with pytest.raises(TypeError, match="expected a list of str, got a str"):
            model.predict_batch("abc")


def _poison(bundle: Path, out: Path) -> Path:
    """A copy whose ONNX weights are NaN, re-signed so that only the probe can tell."""
    import onnx
    from onnx import numpy_helper

    shutil.copytree(bundle, out)
    model = onnx.load(out / cb.MODEL_FILE)
    floats = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT]
    for tensor in floats:
        array = numpy_helper.to_array(tensor).copy()
        array[...] = np.nan
        tensor.CopyFrom(numpy_helper.from_array(array, tensor.name))
    data = model.SerializeToString()
    (out / cb.MODEL_FILE).write_bytes(data)
    rewrite_preprocessor(out, lambda pre: setattr(pre, "model_sha256", hashlib.sha256(data).digest()))
    return out


def _bad_bundles(tiny_bundle: Path, tagger: Path, tmp: Path) -> dict[str, Path]:
    out = {"missing": tmp / "missing"}
    for name, source in (("classifier", tiny_bundle), ("tagger", tagger)):
        out[f"nan {name}"] = _poison(source, tmp / f"nan_{name}")
        truncated = shutil.copytree(source, tmp / f"truncated_{name}")
        data = (truncated / cb.PREPROCESSOR_FILE).read_bytes()
        (truncated / cb.PREPROCESSOR_FILE).write_bytes(data[: len(data) // 2])
        out[f"truncated {name}"] = truncated
        other_model = shutil.copytree(source, tmp / f"model_changed_{name}")
        with (other_model / cb.MODEL_FILE).open("ab") as fh:
            fh.write(b"\0")
        out[f"model changed {name}"] = other_model
        named = shutil.copytree(source, tmp / f"path_name_{name}")
        rewrite_preprocessor(named, lambda pre: setattr(pre, "task", "../escape"))
        out[f"task name {name}"] = named
    return out


def test_bad_bundles_raise_the_same_types(tiny_bundle: Path, tiny_tagger_workspace: Path, tmp_path: Path) -> None:
    bundles = _bad_bundles(tiny_bundle, tiny_tagger_workspace / "models" / "tiny_ner", tmp_path)
    expected = {
        "missing": cerebellum.BundleNotFoundError,
        "nan classifier": cerebellum.BundleMismatchError,
        "nan tagger": cerebellum.BundleMismatchError,
        "truncated classifier": cerebellum.BundleCorruptError,
        "truncated tagger": cerebellum.BundleCorruptError,
        "model changed classifier": cerebellum.BundleIntegrityError,
        "model changed tagger": cerebellum.BundleIntegrityError,
        "task name classifier": cerebellum.BundleCorruptError,
        "task name tagger": cerebellum.BundleCorruptError,
    }
    for name, path in bundles.items():
        types = {b: _raised(lambda b=b, p=path: cerebellum.load(p, backend=b)) for b in BACKENDS}
        assert set(types.values()) == {expected[name]}, (name, types)
