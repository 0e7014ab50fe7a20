"""Resource limits: a crafted bundle per limit, refused alike by Python, Rust through Python and the C ABI."""

from __future__ import annotations

import ctypes
import hashlib
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

import cerebellum
from cerebellum import bundle as cb
from cerebellum._proto import bundle_pb2 as pb
from cerebellum.packed import CHARTABLE_BY_NAME
from forge.chartable import pinned_table

from .conftest import rewrite_preprocessor
from .test_error_contract import BACKENDS

LIMIT_STATUS = 13  # CEREBELLUM_STATUS_LIMIT in include/cerebellum.h


def _files(directory: Path) -> tuple[bytes, bytes]:
    return (directory / cb.PREPROCESSOR_FILE).read_bytes(), (directory / cb.MODEL_FILE).read_bytes()


def _just_under(bundle: Path) -> dict[str, cerebellum.Limits]:
    """For each limit, limits that this bundle exceeds by one."""
    pre, model = _files(bundle)
    parsed = cerebellum.load(bundle).preprocessor  # expanded: the vocabulary as built
    vocabulary = max(len(parsed.tfidf.vocabulary), len(parsed.tfidf.idf)) + len(parsed.tagger.vocabulary)
    table = cb.unwrap_preprocessor(pre, bundle).char_table  # as stored: a table given by name has no entries
    base = cerebellum.PHONE
    weights = 0
    import onnx

    for t in onnx.load_from_string(model).graph.initializer:
        n = 1
        for d in t.dims:
            n *= d
        weights += n
    return {
        "file size": replace(base, max_preprocessor_bytes=len(pre) - 1),
        "model file size": replace(base, max_model_bytes=len(model) - 1),
        "vocabulary": replace(base, max_vocabulary=vocabulary - 1),
        "labels": replace(base, max_labels=len(parsed.labels) - 1),
        "ONNX weight elements": replace(base, max_initializer_elements=weights - 1),
    } | (
        {}
        if table.sha256  # the runtime's own table: nothing of the bundle's to bound
        else {
            "character table entries": replace(
                base,
                max_char_table_entries=len(table.fold_from_delta)
                + len(table.fold_to)
                + len(table.class_start_delta)
                - 1,
            )
        }
    )


def _listed_table(pre: pb.Preprocessor) -> None:
    pre.char_table.CopyFrom(pinned_table())
    pre.required_features.remove(CHARTABLE_BY_NAME)


@pytest.fixture(scope="module")
def bundles(
    tiny_bundle: Path, tiny_tagger_workspace: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    listed = Path(shutil.copytree(tiny_bundle, tmp_path_factory.mktemp("listed") / "tiny"))
    rewrite_preprocessor(listed, _listed_table)  # a bundle that carries its character table
    return {"classifier": tiny_bundle, "tagger": tiny_tagger_workspace / "models" / "tiny_ner", "listed table": listed}


@pytest.mark.parametrize("kind", ["classifier", "tagger", "listed table"])
def test_each_limit_refuses_a_bundle_just_over_it(bundles: dict[str, Path], kind: str) -> None:
    bundle = bundles[kind]
    pre, model = _files(bundle)
    for backend in BACKENDS:
        cerebellum.load(bundle, backend=backend)  # the defaults fit
        for what, limits in _just_under(bundle).items():
            expected = what.removeprefix("model ")
            for attempt in (
                lambda b=backend, lim=limits: cerebellum.load(bundle, backend=b, limits=lim),
                lambda b=backend, lim=limits: cerebellum.load_bytes(pre, model, backend=b, limits=lim),
            ):
                with pytest.raises(cerebellum.BundleLimitError, match=expected):
                    attempt()


def _claim_gigabytes(bundle: Path, out: Path) -> Path:
    """A copy whose largest initializer declares two billion rows and holds none: a tiny file."""
    import onnx

    shutil.copytree(bundle, out)
    model = onnx.load(out / cb.MODEL_FILE)
    tensor = max(model.graph.initializer, key=lambda t: len(t.raw_data) + len(t.float_data))
    del tensor.dims[:]
    tensor.dims.extend([2_000_000_000, 4])
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    data = model.SerializeToString()
    (out / cb.MODEL_FILE).write_bytes(data)
    rewrite_preprocessor(out, lambda pre: setattr(pre, "model_sha256", hashlib.sha256(data).digest()))
    return out


def _millions_of_terms(bundle: Path, out: Path) -> Path:
    shutil.copytree(bundle, out)

    def grow(pre) -> None:
        extra = 1_000_001 - len(pre.tfidf.vocabulary)
        pre.tfidf.vocabulary.extend(f"zz{i}" for i in range(extra))
        pre.tfidf.idf.extend([1.0] * extra)

    rewrite_preprocessor(out, grow)
    return out


@pytest.fixture(scope="module")
def crafted(bundles: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("crafted")
    return {
        "claims gigabytes": _claim_gigabytes(bundles["classifier"], tmp / "gigabytes"),
        "claims gigabytes (tagger)": _claim_gigabytes(bundles["tagger"], tmp / "gigabytes_tagger"),
        "a million terms": _millions_of_terms(bundles["classifier"], tmp / "terms"),
    }


def test_default_limits_refuse_crafted_bundles(crafted: dict[str, Path]) -> None:
    for name, bundle in crafted.items():
        for backend in BACKENDS:
            with pytest.raises(cerebellum.BundleLimitError):
                cerebellum.load(bundle, backend=backend)
        assert (bundle / cb.MODEL_FILE).stat().st_size < 2_000_000, name


class CLimits(ctypes.Structure):
    _fields_ = [
        ("max_preprocessor_bytes", ctypes.c_size_t),
        ("max_model_bytes", ctypes.c_size_t),
        ("max_vocabulary", ctypes.c_size_t),
        ("max_labels", ctypes.c_size_t),
        ("max_char_table_entries", ctypes.c_size_t),
        ("max_initializer_elements", ctypes.c_uint64),
    ]


def test_c_abi_limits(rust_build: Path, bundles: dict[str, Path], crafted: dict[str, Path]) -> None:
    lib = ctypes.CDLL(str(rust_build / "libcerebellum.so"))
    lib.cerebellum_default_limits.restype = CLimits
    lib.cerebellum_default_limits.argtypes = [ctypes.c_int]
    lib.cerebellum_load_bytes_with_limits.argtypes = [
        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(CLimits),
        ctypes.POINTER(ctypes.c_void_p),
    ]  # fmt: skip
    lib.cerebellum_last_error.restype = ctypes.c_char_p
    lib.cerebellum_free.argtypes = [ctypes.c_void_p]
    phone, mcu = lib.cerebellum_default_limits(0), lib.cerebellum_default_limits(1)
    assert phone.max_vocabulary == cerebellum.PHONE.max_vocabulary
    assert mcu.max_model_bytes == cerebellum.MICROCONTROLLER.max_model_bytes

    def load(directory: Path, limits: CLimits | None) -> int:
        pre, model = _files(directory)
        out = ctypes.c_void_p()
        ref = ctypes.byref(limits) if limits is not None else None
        status = lib.cerebellum_load_bytes_with_limits(pre, len(pre), model, len(model), ref, ctypes.byref(out))
        lib.cerebellum_free(out)
        return status

    for kind, bundle in bundles.items():
        assert load(bundle, None) == 0
        for what, limits in _just_under(bundle).items():
            assert load(bundle, CLimits(*limits.as_tuple())) == LIMIT_STATUS, (kind, what)
            assert b"over the limit" in lib.cerebellum_last_error()
    for name, bundle in crafted.items():
        assert load(bundle, None) == LIMIT_STATUS, name
