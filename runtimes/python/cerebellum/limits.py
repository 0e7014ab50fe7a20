"""Resource limits on what a bundle may claim (spec section 1, resource limits), the same as the Rust runtime's.

File sizes are checked before reading, the preprocessor's counts right after
parsing, and the element counts the ONNX initializers declare before
onnxruntime sees the model (read off the protobuf wire format, so nothing is
built first).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ._proto import bundle_pb2 as pb
from .errors import BundleCorruptError, BundleLimitError


@dataclass(frozen=True)
class Limits:
    """The largest bundle a runtime agrees to load. The defaults fit a phone; see MICROCONTROLLER."""

    max_preprocessor_bytes: int = 64 << 20
    max_model_bytes: int = 64 << 20
    max_vocabulary: int = 1_000_000  # TF-IDF terms, or tagger units
    max_labels: int = 10_000  # labels, or tags
    max_char_table_entries: int = 300_000
    max_initializer_elements: int = 16_000_000  # all ONNX initializers and constants together

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        """The limits in field order, as the Rust engine takes them."""
        return (
            self.max_preprocessor_bytes,
            self.max_model_bytes,
            self.max_vocabulary,
            self.max_labels,
            self.max_char_table_entries,
            self.max_initializer_elements,
        )


PHONE = Limits()
MICROCONTROLLER = Limits(
    max_preprocessor_bytes=1 << 20,
    max_model_bytes=1 << 20,
    max_vocabulary=50_000,
    max_labels=256,
    max_char_table_entries=40_000,
    max_initializer_elements=250_000,
)


def _over(path: Path, what: str, found: object, limit: object) -> BundleLimitError:
    return BundleLimitError(
        path, f"{what}: {found}, over the limit of {limit} (raise it with Limits if you trust this bundle)"
    )


def check_size(path: Path, size: int, limit: int) -> None:
    if size > limit:
        raise _over(path, "file size", f"{size} bytes", f"{limit} bytes")


def check_preprocessor(pre: pb.Preprocessor, path: Path, limits: Limits) -> None:
    if len(pre.labels) > limits.max_labels:
        raise _over(path, "labels", len(pre.labels), limits.max_labels)
    vocabulary = max(len(pre.tfidf.vocabulary), len(pre.tfidf.idf), len(pre.tfidf.idf_index)) + len(
        pre.tagger.vocabulary
    )
    if vocabulary > limits.max_vocabulary:
        raise _over(path, "vocabulary", vocabulary, limits.max_vocabulary)
    tags = max(len(pre.tagger.start), len(pre.tagger.end))
    if tags > limits.max_labels or len(pre.tagger.transitions) > limits.max_labels * limits.max_labels:
        raise _over(path, "tags", tags, limits.max_labels)
    table = pre.char_table
    entries = len(table.fold_from_delta) + len(table.fold_to) + len(table.class_start_delta)
    if entries > limits.max_char_table_entries:
        raise _over(path, "character table entries", entries, limits.max_char_table_entries)


class WireError(ValueError):
    """Protobuf wire data that does not decode."""


def read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = 0
    for i in range(10):
        if at + i >= len(data):
            break
        byte = data[at + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, at + i + 1
    raise WireError("truncated or overlong varint")


def _fields(data: bytes) -> list[tuple[int, int | bytes | None]]:
    """(field number, value) pairs of one protobuf message; fixed-width values are None."""
    out: list[tuple[int, int | bytes | None]] = []
    at = 0
    while at < len(data):
        key, at = read_varint(data, at)
        wire = key & 7
        if wire == 0:
            value, at = read_varint(data, at)
            out.append((key >> 3, value))
        elif wire in (1, 5):
            at += 8 if wire == 1 else 4
            if at > len(data):
                raise WireError("truncated fixed-width field")
            out.append((key >> 3, None))
        elif wire == 2:
            length, at = read_varint(data, at)
            if at + length > len(data):
                raise WireError("truncated field")
            out.append((key >> 3, data[at : at + length]))
            at += length
        else:
            raise WireError("unsupported protobuf wire type")
    return out


def _tensor_elements(tensor: bytes) -> int:
    product = 1
    for field, value in _fields(tensor):
        if field != 1:  # TensorProto.dims
            continue
        dims: list[int] = []
        if isinstance(value, int):
            dims = [value]
        elif isinstance(value, bytes):
            at = 0
            while at < len(value):
                dim, at = read_varint(value, at)
                dims.append(dim)
        else:
            raise WireError("tensor dims are not varints")
        for dim in dims:
            if dim >= 1 << 63:
                raise WireError("a tensor has a negative dimension")
            product *= dim
    return product


def _node_elements(node: bytes) -> int:
    total = 0
    for field, attribute in _fields(node):
        if field == 5 and isinstance(attribute, bytes):  # NodeProto.attribute
            for inner, value in _fields(attribute):
                if inner in (5, 10) and isinstance(value, bytes):  # AttributeProto.t, .tensors
                    total += _tensor_elements(value)
    return total


def check_model(model: bytes, path: Path, limits: Limits) -> None:
    """The elements that model.onnx's initializers and Constant nodes declare, against the limit."""
    total = 0
    try:
        for field, graph in _fields(model):
            if field != 7 or not isinstance(graph, bytes):  # ModelProto.graph
                continue
            for inner, item in _fields(graph):
                if not isinstance(item, bytes):
                    continue
                if inner == 5:  # GraphProto.initializer
                    total += _tensor_elements(item)
                elif inner == 1:  # GraphProto.node
                    total += _node_elements(item)
                if total > limits.max_initializer_elements:
                    raise _over(path, "ONNX weight elements", f"{total}+ elements", limits.max_initializer_elements)
    except WireError as exc:
        raise BundleCorruptError(path, f"not an ONNX model: {exc}") from None
