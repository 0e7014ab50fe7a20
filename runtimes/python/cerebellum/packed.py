"""Compact forms of a preprocessor's largest fields, expanded at load (spec sections 2 and 5).

A bundle listing ``chartable-by-name`` names a character table the runtime carries instead of
carrying its 34 KB; one listing ``tfidf-packed`` front-codes its terms and stores each distinct
idf value once, and one listing ``tfidf-token-trie`` stores its terms as a trie of token ids
(an n-gram costs a byte or two instead of its text) with the same idf palette. ``expand``
turns each into the plain fields, so everything after loading sees one form and computes the
same bits.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from pathlib import Path

from ._proto import bundle_pb2 as pb
from .errors import BundleCorruptError, BundleLimitError, BundleVersionError
from .limits import Limits, WireError, read_varint

CHARTABLE_BY_NAME = "chartable-by-name"
TFIDF_PACKED = "tfidf-packed"
TFIDF_TOKEN_TRIE = "tfidf-token-trie"

# Character tables every runtime carries: id -> file under cerebellum/tables.
BUILTIN_TABLES = {"unicode-14.0.0/fold-v1": "unicode-14.0.0-fold-v1.chartable"}


@cache
def builtin_table(table_id: str) -> tuple[bytes, pb.CharTable] | None:
    """The SHA-256 and parsed form of a carried table, or None for an id this runtime does not carry."""
    name = BUILTIN_TABLES.get(table_id)
    if name is None:
        return None
    data = resources.files(__package__).joinpath("tables", name).read_bytes()
    table = pb.CharTable()
    table.ParseFromString(data)
    return hashlib.sha256(data).digest(), table


def expand(pre: pb.Preprocessor, path: Path, limits: Limits) -> None:
    """Replace the compact fields of ``pre`` by the plain ones they stand for, in place."""
    features = set(pre.required_features)
    if TFIDF_PACKED in features and TFIDF_TOKEN_TRIE in features:  # checked first, as in the Rust runtime
        raise BundleCorruptError(path, f"tfidf: required_features lists both {TFIDF_PACKED!r} and {TFIDF_TOKEN_TRIE!r}")
    _expand_char_table(pre.char_table, CHARTABLE_BY_NAME in features, path)
    coding = TFIDF_PACKED if TFIDF_PACKED in features else TFIDF_TOKEN_TRIE if TFIDF_TOKEN_TRIE in features else None
    if pre.HasField("tfidf"):
        _expand_tfidf(pre.tfidf, coding, path, limits)


def _expand_char_table(table: pb.CharTable, by_name: bool, path: Path) -> None:
    if not by_name:
        if table.sha256:
            raise BundleCorruptError(
                path, f"char table: sha256 is set but required_features does not list {CHARTABLE_BY_NAME!r}"
            )
        return
    if table.fold_from_delta or table.fold_to_len or table.fold_to or table.class_start_delta or table.class_of_run:
        raise BundleCorruptError(path, "char table: a table given by name carries no entries")
    carried = builtin_table(table.id)
    if carried is None:
        raise BundleVersionError(
            path,
            f"bundle names character table {table.id[:80]!r}, which this runtime does not carry "
            f"(it carries {', '.join(BUILTIN_TABLES)}); upgrade the runtime",
        )
    digest, full = carried
    if table.sha256 != digest:
        raise BundleVersionError(
            path,
            f"bundle names character table {table.id!r} with SHA-256 {table.sha256.hex() or '(none)'}, "
            f"but this runtime's table of that name hashes to {digest.hex()}",
        )
    table.CopyFrom(full)


def _expand_tfidf(spec: pb.TfidfSpec, coding: str | None, path: Path, limits: Limits) -> None:
    if coding is None:
        if spec.packed_vocabulary or spec.idf_palette or spec.idf_index:
            raise BundleCorruptError(
                path,
                f"tfidf: packed fields are set but required_features does not list {TFIDF_PACKED!r} "
                f"or {TFIDF_TOKEN_TRIE!r}",
            )
        return
    if spec.vocabulary or spec.idf:
        raise BundleCorruptError(path, "tfidf: a packed vocabulary leaves vocabulary and idf empty")
    palette = list(spec.idf_palette)
    index = list(spec.idf_index)
    if any(i >= len(palette) for i in index):
        raise BundleCorruptError(path, f"tfidf: an idf_index entry is beyond the {len(palette)} palette values")
    unpack = unpack_terms if coding == TFIDF_PACKED else unpack_trie
    terms = [] if spec.hash_buckets else unpack(spec.packed_vocabulary, len(index), path, limits)
    if spec.hash_buckets and spec.packed_vocabulary:
        raise BundleCorruptError(path, "tfidf: a hashed vocabulary lists no terms")
    spec.ClearField("packed_vocabulary")
    spec.ClearField("idf_palette")
    spec.ClearField("idf_index")
    spec.vocabulary.extend(terms)
    spec.idf.extend(palette[i] for i in index)


def unpack_terms(data: bytes, count: int, path: Path, limits: Limits) -> list[str]:
    """``count`` front-coded terms; each must sort strictly after the previous one by UTF-8 bytes."""
    terms, at = _front_coded(data, 0, count, path, limits)
    if at != len(data):
        raise BundleCorruptError(path, f"tfidf: packed vocabulary holds more than the {count} terms idf_index counts")
    return [t.decode("utf-8") for t in terms]


def unpack_trie(data: bytes, count: int, path: Path, limits: Limits) -> list[str]:
    """``count`` terms stored as a trie of token ids, in column (pre-)order; see spec section 5."""
    depth, at = _varint(data, 0, path)
    if depth < 1:
        raise BundleCorruptError(path, "tfidf: a token trie must allow terms of at least one token")
    token_count, at = _varint(data, at, path)
    tokens, at = _front_coded(data, at, token_count, path, limits)
    if any(not t or b" " in t for t in tokens):
        raise BundleCorruptError(path, "tfidf: a trie token is empty or holds a space")
    expanded = sum(map(len, tokens))
    header, at = _varint(data, at, path)
    if header & 1:
        raise BundleCorruptError(path, "tfidf: the root of a token trie is not a term")
    terms: list[bytes] = []
    trail: list[bytes] = []  # the tokens from the root to the node being read
    pending = [[header >> 1, -1]]  # per open node: children still to read, the last child's token id
    while pending:
        node = pending[-1]
        if not node[0]:
            pending.pop()
            if trail:
                trail.pop()
            continue
        node[0] -= 1
        gap, at = _varint(data, at, path)
        node[1] += 1 + gap
        if node[1] >= token_count:
            raise BundleCorruptError(path, f"tfidf: a trie node names a token beyond the {token_count} listed")
        trail.append(tokens[node[1]])
        if len(trail) == depth:
            is_term, children = True, 0
        else:
            header, at = _varint(data, at, path)
            is_term, children = bool(header & 1), header >> 1
            if not header:
                raise BundleCorruptError(path, "tfidf: a trie node is neither a term nor has children")
        if is_term:
            term = b" ".join(trail)
            if len(terms) == count:
                raise BundleCorruptError(
                    path, f"tfidf: packed vocabulary holds more than the {count} terms idf_index counts"
                )
            if terms and term <= terms[-1]:
                raise BundleCorruptError(path, "tfidf: packed terms are not in strictly ascending byte order")
            expanded += len(term)
            _bound(expanded, path, limits)
            terms.append(term)
        if children:
            pending.append([children, -1])
        else:
            trail.pop()
    if at != len(data):
        raise BundleCorruptError(path, "tfidf: packed vocabulary has data after its last trie node")
    if len(terms) != count:
        raise BundleCorruptError(path, f"tfidf: packed vocabulary holds {len(terms)} terms, idf_index counts {count}")
    return [t.decode("utf-8") for t in terms]  # tokens are UTF-8, so every join is


def _front_coded(data: bytes, at: int, count: int, path: Path, limits: Limits) -> tuple[list[bytes], int]:
    """``count`` front-coded UTF-8 strings from ``at``, strictly ascending, and where they end."""
    terms: list[bytes] = []
    previous = b""
    expanded = 0
    for _ in range(count):
        shared, at = _varint(data, at, path)
        length, at = _varint(data, at, path)
        if shared > len(previous):
            raise BundleCorruptError(path, "tfidf: a packed term shares more bytes than the previous term has")
        if at + length > len(data):
            raise BundleCorruptError(path, "tfidf: packed vocabulary is truncated")
        term = previous[:shared] + data[at : at + length]
        at += length
        expanded += len(term)
        _bound(expanded, path, limits)
        if terms and term <= previous:
            raise BundleCorruptError(path, "tfidf: packed terms are not in strictly ascending byte order")
        try:
            term.decode("utf-8")
        except UnicodeDecodeError:
            raise BundleCorruptError(path, "tfidf: a packed term is not valid UTF-8") from None
        terms.append(term)
        previous = term
    return terms, at


def _bound(expanded: int, path: Path, limits: Limits) -> None:
    # a packed list can state terms far longer than itself: bound what it expands to
    if expanded > limits.max_preprocessor_bytes:
        raise BundleLimitError(
            path,
            f"packed vocabulary: expands beyond {limits.max_preprocessor_bytes} bytes, over the "
            "limit of max_preprocessor_bytes (raise it with Limits if you trust this bundle)",
        )


def _varint(data: bytes, at: int, path: Path) -> tuple[int, int]:
    """A uint32 varint: at most 5 bytes and below 2^32."""
    try:
        value, end = read_varint(data, at)
        if end - at <= 5 and value < 1 << 32:
            return value, end
    except WireError:
        pass
    raise BundleCorruptError(path, "tfidf: packed vocabulary has a truncated or overlong varint")
