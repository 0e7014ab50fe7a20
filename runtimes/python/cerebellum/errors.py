"""Typed errors. Every bundle error names the file and the problem."""

from __future__ import annotations

from pathlib import Path


class CerebellumError(Exception):
    """Base class of every error the runtime raises on bad bundles or input."""


class BundleError(CerebellumError):
    """A bundle cannot be used; ``path`` is the offending file."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class BundleNotFoundError(BundleError, FileNotFoundError):
    """The bundle directory or one of its files does not exist."""


class BundleCorruptError(BundleError):
    """A file cannot be parsed or holds inconsistent fields."""


class BundleVersionError(BundleError):
    """The bundle was written in a format this runtime does not read."""


class BundleIntegrityError(BundleError):
    """A checksum does not match: the file changed after it was forged."""


class BundleMismatchError(BundleError):
    """The ONNX model does not fit its preprocessor."""


class BundleLimitError(BundleError):
    """The bundle claims more than the configured limits allow (``cerebellum.Limits``)."""


class InvalidInputError(CerebellumError, ValueError):
    """The text cannot be processed (not a str, or not valid Unicode)."""
