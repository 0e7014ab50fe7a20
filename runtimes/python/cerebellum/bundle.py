"""Reads and checks bundle files: envelope, version, checksums, consistency."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import unknown_fields
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from . import limits, packed
from ._proto import bundle_pb2 as pb
from .bigrams import TAGGER_CHAR_BIGRAMS
from .defer import DEFER_RULE
from .errors import (
    BundleCorruptError,
    BundleIntegrityError,
    BundleNotFoundError,
    BundleVersionError,
)
from .lexicon import TAGGER_LEXICON

FORMAT_VERSION = 1
MAGIC = "cerebellum.preprocessor"
MODEL_FILE = "model.onnx"
PREPROCESSOR_FILE = "preprocessor.bin"
CARD_FILE = "MODEL_CARD.md"


@dataclass(frozen=True)
class BundleData:
    """A checked bundle: the parsed preprocessor and the ONNX bytes."""

    preprocessor: pb.Preprocessor
    model: bytes
    preprocessor_path: Path
    model_path: Path


def wrap_preprocessor(preprocessor: pb.Preprocessor) -> bytes:
    """Serialize ``preprocessor`` inside its checksummed envelope."""
    return wrap_preprocessor_payload(preprocessor.SerializeToString(deterministic=True))


def wrap_preprocessor_payload(payload: bytes) -> bytes:
    """An already serialized preprocessor inside its checksummed envelope."""
    envelope = pb.PreprocessorFile(
        magic=MAGIC,
        format_version=FORMAT_VERSION,
        preprocessor=payload,
        preprocessor_sha256=hashlib.sha256(payload).digest(),
    )
    return envelope.SerializeToString(deterministic=True)


def _is_repeated(field: FieldDescriptor) -> bool:
    # protobuf >= 6.31 has is_repeated and deprecates label; older runtimes have label only
    repeated = getattr(field, "is_repeated", None)
    return bool(repeated) if repeated is not None else field.label == field.LABEL_REPEATED


def _wire_type_conflict(message: Message) -> str | None:
    """A known field sent with another wire type, anywhere in ``message``.

    The Python protobuf runtime keeps such a field as an unknown field where
    other implementations (prost, in the Rust runtime) refuse the message;
    refusing it here keeps both runtimes' answers the same.
    """
    descriptor = message.DESCRIPTOR
    for field in unknown_fields.UnknownFieldSet(message):
        if field.field_number in descriptor.fields_by_number:
            return f"{descriptor.name}.{descriptor.fields_by_number[field.field_number].name}: invalid wire type"
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        for item in value if _is_repeated(field) else [value]:
            problem = _wire_type_conflict(item)
            if problem:
                return problem
    return None


# Capabilities beyond format v1's base that this runtime implements (spec section 1, "Format evolution").
HASHED_VOCABULARY = "tfidf-hashed-fnv1a64"
FEATURES = (
    HASHED_VOCABULARY,
    packed.CHARTABLE_BY_NAME,
    packed.TFIDF_PACKED,
    packed.TFIDF_TOKEN_TRIE,
    DEFER_RULE,
    TAGGER_CHAR_BIGRAMS,
    TAGGER_LEXICON,
)


def unwrap_preprocessor(data: bytes, path: Path) -> pb.Preprocessor:
    """Check the envelope of ``preprocessor.bin`` and parse what it holds."""
    envelope = pb.PreprocessorFile()
    try:
        envelope.ParseFromString(data)
    except DecodeError as exc:
        raise BundleCorruptError(path, f"not a preprocessor file (truncated or corrupted?): {exc}") from None
    conflict = _wire_type_conflict(envelope)
    if conflict:
        raise BundleCorruptError(path, f"not a preprocessor file (truncated or corrupted?): {conflict}")
    if envelope.magic != MAGIC:
        raise BundleCorruptError(path, "not a preprocessor file: magic string missing or wrong")
    if envelope.format_version != FORMAT_VERSION:
        raise BundleVersionError(
            path,
            f"bundle format version {envelope.format_version}, but this runtime reads version "
            f"{FORMAT_VERSION}; re-export the bundle with a matching forge or upgrade the runtime",
        )
    actual = hashlib.sha256(envelope.preprocessor).digest()
    if actual != envelope.preprocessor_sha256:
        raise BundleIntegrityError(
            path,
            f"checksum mismatch: recorded {envelope.preprocessor_sha256.hex() or '(none)'}, "
            f"content hashes to {actual.hex()}",
        )
    preprocessor = pb.Preprocessor()
    try:
        preprocessor.ParseFromString(envelope.preprocessor)
    except DecodeError as exc:
        raise BundleCorruptError(path, f"preprocessor payload does not parse: {exc}") from None
    conflict = _wire_type_conflict(preprocessor)
    if conflict:
        raise BundleCorruptError(path, f"preprocessor payload does not parse: {conflict}")
    unknown = sorted(set(preprocessor.required_features) - set(FEATURES))
    if unknown:
        shown = ", ".join(repr(f[:80]) for f in unknown[:5])
        raise BundleVersionError(
            path,
            f"bundle needs features this runtime does not implement: {shown} (it implements "
            f"{', '.join(FEATURES)}); upgrade the runtime or re-export the bundle without them",
        )
    if not valid_task_name(preprocessor.task):
        raise BundleCorruptError(
            path,
            f"task name {preprocessor.task[:80]!r} is not a valid name ({TASK_NAME_RULE}); apps build paths from it",
        )
    return preprocessor


TASK_NAME_RULE = "letters, digits, '_', '.' and '-', starting with a letter, digit or '_', at most 128, no '..'"
_TASK_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def valid_task_name(name: str) -> bool:
    """Spec section 1: a bundle's task name is safe as a file name, so tools may build paths from it."""
    return bool(_TASK_NAME.fullmatch(name)) and ".." not in name


def check_model(model: bytes, preprocessor: pb.Preprocessor, path: Path) -> None:
    actual = hashlib.sha256(model).digest()
    if actual != preprocessor.model_sha256:
        raise BundleIntegrityError(
            path,
            f"checksum mismatch: the preprocessor expects {preprocessor.model_sha256.hex() or '(none)'}, "
            f"the file hashes to {actual.hex()}",
        )


def _read(path: Path, limit: int) -> bytes:
    try:
        limits.check_size(path, path.stat().st_size, limit)  # before a byte is read
        return path.read_bytes()
    except FileNotFoundError:
        raise BundleNotFoundError(path, "file not found") from None
    except IsADirectoryError:
        raise BundleCorruptError(path, "expected a file, found a directory") from None


def _checked(bundle: BundleData, given: limits.Limits) -> BundleData:
    limits.check_preprocessor(bundle.preprocessor, bundle.preprocessor_path, given)
    limits.check_model(bundle.model, bundle.model_path, given)
    packed.expand(bundle.preprocessor, bundle.preprocessor_path, given)
    return bundle


def read_bundle(directory: str | Path, given: limits.Limits = limits.PHONE) -> BundleData:
    directory = Path(directory)
    if not directory.is_dir():
        raise BundleNotFoundError(directory, "bundle directory not found")
    preprocessor_path = directory / PREPROCESSOR_FILE
    model_path = directory / MODEL_FILE
    preprocessor = unwrap_preprocessor(_read(preprocessor_path, given.max_preprocessor_bytes), preprocessor_path)
    model = _read(model_path, given.max_model_bytes)
    check_model(model, preprocessor, model_path)
    return _checked(BundleData(preprocessor, model, preprocessor_path, model_path), given)


def read_bundle_bytes(
    preprocessor: bytes, model: bytes, name: str = "<bytes>", given: limits.Limits = limits.PHONE
) -> BundleData:
    preprocessor_path = Path(name) / PREPROCESSOR_FILE
    model_path = Path(name) / MODEL_FILE
    limits.check_size(preprocessor_path, len(preprocessor), given.max_preprocessor_bytes)
    limits.check_size(model_path, len(model), given.max_model_bytes)
    parsed = unwrap_preprocessor(preprocessor, preprocessor_path)
    check_model(model, parsed, model_path)
    return _checked(BundleData(parsed, model, preprocessor_path, model_path), given)
