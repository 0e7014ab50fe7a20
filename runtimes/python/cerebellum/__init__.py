"""cerebellum: run model_foundry bundles (ONNX + protobuf preprocessor).

>>> import cerebellum
>>> model = cerebellum.load("models/is_question")     # doctest: +SKIP
>>> model.predict("what's the weather like tomorrow")  # doctest: +SKIP
'Question'

The runtime needs numpy, onnxruntime and protobuf only.
"""

from __future__ import annotations

from pathlib import Path

from ._proto import bundle_pb2 as _pb
from .bundle import BundleData, read_bundle, read_bundle_bytes
from .classifier import Classification, TextClassifier
from .errors import (
    BundleCorruptError,
    BundleError,
    BundleIntegrityError,
    BundleLimitError,
    BundleMismatchError,
    BundleNotFoundError,
    BundleVersionError,
    CerebellumError,
    InvalidInputError,
)
from .limits import MICROCONTROLLER, PHONE, Limits
from .tagger import Entity, TaggedToken, TextTagger
from .tfidf import SparseVector

__version__ = "0.1.0"

Model = TextClassifier | TextTagger

__all__ = [
    "BundleCorruptError",
    "BundleError",
    "BundleIntegrityError",
    "BundleLimitError",
    "BundleMismatchError",
    "BundleNotFoundError",
    "BundleVersionError",
    "CerebellumError",
    "Classification",
    "Entity",
    "InvalidInputError",
    "Limits",
    "MICROCONTROLLER",
    "PHONE",
    "Model",
    "SparseVector",
    "TaggedToken",
    "TextClassifier",
    "TextTagger",
    "load",
    "load_bytes",
]


def _build(bundle: BundleData) -> Model:
    kind = bundle.preprocessor.kind
    if kind == _pb.TASK_KIND_TEXT_CLASSIFICATION:
        return TextClassifier(bundle)
    if kind == _pb.TASK_KIND_SEQUENCE_TAGGING:
        return TextTagger(bundle)
    raise BundleCorruptError(bundle.preprocessor_path, f"unsupported task kind {kind}")


BACKENDS = ("python", "rust")


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")


def load(path: str | Path, backend: str = "python", limits: Limits = PHONE) -> Model:
    """Load the bundle in directory ``path`` (``model.onnx`` + ``preprocessor.bin``).

    ``limits`` bounds what the bundle may claim (file sizes, vocabulary,
    labels, character table, ONNX weights); a bundle over them raises
    ``BundleLimitError`` before anything is built from it.

    ``backend="rust"`` runs it on the Rust engine (tract) through the
    ``cerebellum_rs`` module, behind the same API.
    """
    _check_backend(backend)
    if backend == "rust":
        from . import rust_backend

        return rust_backend.load(path, limits)
    return _build(read_bundle(path, limits))


def load_bytes(preprocessor: bytes, model: bytes, backend: str = "python", limits: Limits = PHONE) -> Model:
    """Load a bundle from the contents of its two files (``limits`` as for ``load``)."""
    _check_backend(backend)
    if backend == "rust":
        from . import rust_backend

        return rust_backend.load_bytes(preprocessor, model, limits)
    return _build(read_bundle_bytes(preprocessor, model, given=limits))
