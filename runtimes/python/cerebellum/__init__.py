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
    BundleMismatchError,
    BundleNotFoundError,
    BundleVersionError,
    CerebellumError,
    InvalidInputError,
)
from .tagger import Entity, TaggedToken, TextTagger
from .tfidf import SparseVector

__version__ = "0.1.0"

Model = TextClassifier | TextTagger

__all__ = [
    "BundleCorruptError",
    "BundleError",
    "BundleIntegrityError",
    "BundleMismatchError",
    "BundleNotFoundError",
    "BundleVersionError",
    "CerebellumError",
    "Classification",
    "Entity",
    "InvalidInputError",
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


def load(path: str | Path) -> Model:
    """Load the bundle in directory ``path`` (``model.onnx`` + ``preprocessor.bin``)."""
    return _build(read_bundle(path))


def load_bytes(preprocessor: bytes, model: bytes) -> Model:
    """Load a bundle from the contents of its two files."""
    return _build(read_bundle_bytes(preprocessor, model))
