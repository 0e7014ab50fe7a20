"""The compact forms the forge writes into a preprocessor (spec sections 2 and 5).

The runtimes expand them at load (``cerebellum.packed``): a character table named
rather than carried, terms as a trie of token ids (or front-coded when they do not
split into tokens that way), and each distinct idf value stored once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from cerebellum import packed
from cerebellum._proto import bundle_pb2 as pb
from cerebellum.bundle import HASHED_VOCABULARY

from .chartable import TABLE_ID, pinned_table


def table_by_name() -> pb.CharTable:
    """The pinned table as a reference the runtimes resolve to the table they carry."""
    carried = packed.builtin_table(TABLE_ID)
    if carried is None:
        raise RuntimeError(f"the runtime does not carry the forge's character table {TABLE_ID!r}")
    digest, table = carried
    if table != pinned_table():  # cerebellum/tables must be the forge's table, byte for byte in meaning
        raise RuntimeError(f"the runtime's table {TABLE_ID!r} differs from forge/tables: regenerate it")
    return pb.CharTable(id=TABLE_ID, sha256=digest)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def pack_terms(terms: Sequence[str]) -> bytes | None:
    """Front-coded ``terms``, or None when they are not strictly ascending by UTF-8 bytes."""
    out = bytearray()
    previous = b""
    for i, term in enumerate(terms):
        data = term.encode("utf-8")
        if i and data <= previous:
            return None
        shared = 0
        limit = min(len(data), len(previous))
        while shared < limit and data[shared] == previous[shared]:
            shared += 1
        out += _varint(shared) + _varint(len(data) - shared) + data[shared:]
        previous = data
    return bytes(out)


def trie_terms(terms: Sequence[str]) -> bytes | None:
    """``terms`` as a trie of token ids (spec section 5), or None when its pre-order is not their order."""
    encoded = [term.encode("utf-8") for term in terms]
    if any(a >= b for a, b in zip(encoded, encoded[1:], strict=False)):
        return None  # the runtimes require strictly ascending bytes, as for front coding
    split = [term.split(" ") for term in terms]
    if any("" in tokens for tokens in split):
        return None
    tokens = sorted({t for parts in split for t in parts}, key=lambda t: t.encode("utf-8"))
    token_id = {t: i for i, t in enumerate(tokens)}
    depth = max((len(parts) for parts in split), default=1)
    root: dict[int, dict] = {}
    for parts in split:
        node = root
        for token in parts:
            node = node.setdefault(token_id[token], {})
        node[-1] = {}  # the key -1 marks a node that is a term
    order: list[str] = []
    body = bytearray()

    def write(node: dict[int, dict], trail: list[str]) -> None:
        children = sorted(k for k in node if k >= 0)
        if len(trail) < depth:
            body.extend(_varint(2 * len(children) + (-1 in node)))
        if -1 in node:
            order.append(" ".join(trail))
        last = -1
        for child in children:
            body.extend(_varint(child - last - 1))
            last = child
            write(node[child], [*trail, tokens[child]])

    write(root, [])
    if order != list(terms):
        return None
    front = pack_terms(tokens)
    assert front is not None  # sorted and distinct
    return _varint(depth) + _varint(len(tokens)) + front + bytes(body)


def idf_palette(idf: np.ndarray) -> tuple[list[float], list[int]]:
    """Distinct float32 idf values, most frequent first (so most indices take one byte), and each column's index."""
    values = np.asarray(idf, dtype=np.float32)
    bits = values.view(np.uint32).tolist()
    order = sorted(Counter(bits).items(), key=lambda kv: (-kv[1], kv[0]))
    position = {b: i for i, (b, _) in enumerate(order)}
    palette = np.array([b for b, _ in order], dtype=np.uint32).view(np.float32).tolist()
    return palette, [position[b] for b in bits]


def tfidf_spec(terms: Sequence[str], idf: np.ndarray, hash_buckets: int) -> tuple[pb.TfidfSpec, list[str]]:
    """The TfidfSpec of a vocabulary, packed when its terms allow, and the features it requires."""
    palette, index = idf_palette(idf)
    if hash_buckets:
        packed_terms: bytes | None = b""
        features = [packed.TFIDF_PACKED]
    elif (packed_terms := trie_terms(terms)) is not None:
        features = [packed.TFIDF_TOKEN_TRIE]
    else:
        packed_terms = pack_terms(terms)
        features = [packed.TFIDF_PACKED] if packed_terms is not None else []
    if hash_buckets:
        features.insert(0, HASHED_VOCABULARY)
    if packed_terms is None:
        spec = pb.TfidfSpec(vocabulary=list(terms), idf=np.asarray(idf, np.float32).tolist())
    else:
        spec = pb.TfidfSpec(packed_vocabulary=packed_terms, idf_palette=palette, idf_index=index)
    spec.sublinear_tf = False
    spec.norm = pb.NORM_L2
    spec.hash_buckets = hash_buckets
    return spec, features


def packed_bytes(terms: Sequence[str], idf: np.ndarray) -> int:
    """What a vocabulary costs in the bundle (terms and idf), packed as the export packs it."""
    spec, _ = tfidf_spec(terms, idf, 0)
    return spec.ByteSize()
