"""cerebellum: run model_foundry bundles (ONNX + protobuf preprocessor).

>>> import cerebellum
>>> model = cerebellum.load("models/is_question")     # doctest: +SKIP
>>> model.predict("what's the weather like tomorrow")  # doctest: +SKIP
'Question'

The runtime needs numpy and protobuf; onnxruntime only for taggers and for
classifier graphs other than the forge's linear model.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ._proto import bundle_pb2 as _pb
from .bundle import BundleData, read_bundle, read_bundle_bytes
from .classifier import Classification, TextClassifier, check_evaluator
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

# Declared once for every Python distribution, in this package's VERSION file (the
# Cargo workspace repeats it; tests/test_version.py keeps the two equal).
__version__ = resources.files(__name__).joinpath("VERSION").read_text(encoding="utf-8").strip()

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


def _build(bundle: BundleData, evaluator: str) -> Model:
    kind = bundle.preprocessor.kind
    if kind == _pb.TASK_KIND_TEXT_CLASSIFICATION:
        return TextClassifier(bundle, evaluator)
    if kind == _pb.TASK_KIND_SEQUENCE_TAGGING:
        return TextTagger(bundle)
    raise BundleCorruptError(bundle.preprocessor_path, f"unsupported task kind {kind}")


BACKENDS = ("python", "rust")


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")


def load(path: str | Path, backend: str = "python", limits: Limits = PHONE, evaluator: str = "auto") -> Model:
    """Load the bundle in directory ``path`` (``model.onnx`` + ``preprocessor.bin``).

    ``limits`` bounds what the bundle may claim (file sizes, vocabulary,
    labels, character table, ONNX weights); a bundle over them raises
    ``BundleLimitError`` before anything is built from it.

    ``backend="rust"`` runs it on the Rust runtime through the ``cerebellum_rs``
    module, behind the same API.

    A classifier whose graph is the forge's linear model is evaluated natively
    (numpy, or Rust without tract); ``evaluator="onnx"`` forces the ONNX engine
    instead (onnxruntime, or tract for the Rust backend), the reference
    the native path is checked against. Taggers run on onnxruntime with the
    Python backend; the Rust backend computes the forge's BiLSTM emissions
    natively, and on tract with ``evaluator="onnx"`` or for other graphs.
    """
    _check_backend(backend)
    check_evaluator(evaluator)
    if backend == "rust":
        from . import rust_backend

        return rust_backend.load(path, limits, evaluator)
    return _build(read_bundle(path, limits), evaluator)


def load_bytes(
    preprocessor: bytes, model: bytes, backend: str = "python", limits: Limits = PHONE, evaluator: str = "auto"
) -> Model:
    """Load a bundle from the contents of its two files (options as for ``load``)."""
    _check_backend(backend)
    check_evaluator(evaluator)
    if backend == "rust":
        from . import rust_backend

        return rust_backend.load_bytes(preprocessor, model, limits, evaluator)
    return _build(read_bundle_bytes(preprocessor, model, given=limits), evaluator)
