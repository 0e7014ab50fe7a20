"""Compact preprocessors: a character table given by name, terms as a token trie or front-coded, an idf palette.

The forge writes them; both runtimes expand them at load and must answer exactly as
they do for the same bundle written in plain form.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cerebellum
from cerebellum import bundle as cb
from cerebellum import packed
from cerebellum._proto import bundle_pb2 as pb
from cerebellum.limits import Limits
from forge.chartable import TABLE_ID, pinned_table
from forge.packing import idf_palette, pack_terms, table_by_name, tfidf_spec, trie_terms

from .conftest import rewrite_preprocessor

ROOT = Path(__file__).resolve().parent.parent
CARRIED = "unicode-14.0.0-fold-v1.chartable"
TEXTS = ["how is the weather", "你今天吃饭了吗", "CAN YOU HELP me?", "", "ｆｕｌｌ　ｗｉｄｔｈ！", "naïve café 😀"]


@pytest.fixture
def bundle_copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_bundle, tmp_path / "tiny"))


def _plain(pre: pb.Preprocessor) -> None:
    """Rewrite a compact preprocessor in the plain form of format v1's base."""
    pre.char_table.CopyFrom(pinned_table())
    spec = pre.tfidf
    unpack = packed.unpack_trie if packed.TFIDF_TOKEN_TRIE in pre.required_features else packed.unpack_terms
    terms = unpack(spec.packed_vocabulary, len(spec.idf_index), Path("x"), Limits())
    idf = [spec.idf_palette[i] for i in spec.idf_index]
    for name in ("packed_vocabulary", "idf_palette", "idf_index"):
        spec.ClearField(name)
    spec.vocabulary.extend(terms)
    spec.idf.extend(idf)
    del pre.required_features[:]


def test_the_carried_tables_are_the_forges_table_byte_for_byte() -> None:
    forged = pinned_table().SerializeToString()
    python_copy = ROOT / "runtimes/python/cerebellum/tables" / CARRIED
    rust_copy = ROOT / "runtimes/rust/cerebellum-core/tables" / CARRIED
    assert python_copy.read_bytes() == forged
    assert rust_copy.read_bytes() == forged
    reference = table_by_name()
    assert reference.id == TABLE_ID and reference.sha256 == hashlib.sha256(forged).digest()
    assert not reference.fold_from_delta and not reference.class_of_run


def test_the_forge_writes_compact_bundles(tiny_bundle: Path) -> None:
    envelope = pb.PreprocessorFile()
    envelope.ParseFromString((tiny_bundle / cb.PREPROCESSOR_FILE).read_bytes())
    stored = pb.Preprocessor()
    stored.ParseFromString(envelope.preprocessor)
    assert list(stored.required_features) == [packed.CHARTABLE_BY_NAME, packed.TFIDF_TOKEN_TRIE]
    assert not stored.char_table.fold_to and not stored.tfidf.vocabulary and not stored.tfidf.idf
    loaded = cerebellum.load(tiny_bundle).preprocessor
    assert len(loaded.tfidf.vocabulary) == len(loaded.tfidf.idf) == len(stored.tfidf.idf_index) > 0
    assert loaded.char_table == pinned_table()


@pytest.mark.parametrize("backend", ["python", "rust"])
def test_compact_and_plain_forms_answer_alike(bundle_copy: Path, tmp_path: Path, backend: str) -> None:
    plain = Path(shutil.copytree(bundle_copy, tmp_path / "plain"))
    rewrite_preprocessor(plain, _plain)
    assert (plain / cb.PREPROCESSOR_FILE).stat().st_size > (bundle_copy / cb.PREPROCESSOR_FILE).stat().st_size
    compact_model = cerebellum.load(bundle_copy, backend=backend)
    plain_model = cerebellum.load(plain, backend=backend)
    assert compact_model.preprocessor.tfidf == plain_model.preprocessor.tfidf
    for text in TEXTS:
        assert compact_model.tokenize(text) == plain_model.tokenize(text)
        a, b = compact_model.vectorize(text), plain_model.vectorize(text)
        assert a.indices.tolist() == b.indices.tolist() and a.values.tobytes() == b.values.tobytes()
        assert compact_model.predict_proba(text).tobytes() == plain_model.predict_proba(text).tobytes()


@settings(max_examples=200, deadline=None)
@given(st.sets(st.text(min_size=1, max_size=12), max_size=40))
def test_front_coding_round_trips(words: set[str]) -> None:
    terms = sorted(words, key=lambda t: t.encode("utf-8"))
    data = pack_terms(terms)
    assert data is not None
    assert packed.unpack_terms(data, len(terms), Path("x"), Limits()) == terms


_TOKEN = st.text(st.characters(min_codepoint=0x21, exclude_categories=("Cs",)), min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(st.sets(st.lists(_TOKEN, min_size=1, max_size=3).map(" ".join), max_size=60))
def test_the_token_trie_round_trips(words: set[str]) -> None:
    terms = sorted(words, key=lambda t: t.encode("utf-8"))
    data = trie_terms(terms)
    assert data is not None
    assert packed.unpack_trie(data, len(terms), Path("x"), Limits()) == terms


def test_the_trie_stores_an_ngram_in_its_token_ids() -> None:
    terms = sorted(f"{a} {b}" for a in ("天气", "weather") for b in ("怎么样", "tomorrow", "?")) + ["天气", "weather"]
    terms.sort(key=lambda t: t.encode("utf-8"))
    data = trie_terms(terms)
    tokens = pack_terms(sorted({"?", "tomorrow", "weather", "天气", "怎么样"}, key=lambda t: t.encode("utf-8")))
    assert data is not None and tokens is not None
    # the depth, the token count and the tokens, then the root's header; a unigram costs its id and
    # its header, and a bigram (at the trie's full depth) its id alone: one byte each here
    assert data[2 : 2 + len(tokens)] == tokens
    assert len(data) == 2 + len(tokens) + 1 + 2 * 2 + 6


def test_terms_that_do_not_split_into_a_trie_in_their_order_are_front_coded() -> None:
    assert trie_terms(["a  b"]) is None  # an empty token
    assert trie_terms(["b", "a"]) is None
    # a token holding a byte below the space's sorts differently as a trie path than as text
    assert trie_terms(["a\x10", "a b"]) is None and trie_terms(["a b", "a\x10"]) is None
    spec, features = tfidf_spec(["a\x10", "a b"], np.array([1.0, 2.0], np.float32), 0)
    assert features == [packed.TFIDF_PACKED]
    assert packed.unpack_terms(spec.packed_vocabulary, 2, Path("x"), Limits()) == ["a\x10", "a b"]


def test_terms_out_of_byte_order_are_not_packed() -> None:
    assert pack_terms(["b", "a"]) is None
    assert pack_terms(["a", "a"]) is None
    # code point order is UTF-8 byte order, so the forge's sorted vocabularies always pack
    assert pack_terms(["z", "é", "你", "😀"]) is not None


def test_the_palette_keeps_every_idf_bit() -> None:
    idf = np.array([1.5, 2.25, 1.5, 7.125, 1.5, 2.25], np.float32)
    palette, index = idf_palette(idf)
    assert palette[0] == 1.5  # most frequent first: one-byte indices for most columns
    assert np.array([palette[i] for i in index], np.float32).tobytes() == idf.tobytes()


def _packed(terms: list[bytes]) -> bytes:
    out = bytearray()
    for t in terms:
        out += bytes([0, len(t)]) + t
    return bytes(out)


def _front(spec: pb.TfidfSpec, data: bytes) -> tuple[pb.TfidfSpec, str]:
    spec.packed_vocabulary = data
    return spec, packed.TFIDF_PACKED


def _trie(spec: pb.TfidfSpec, data: bytes) -> tuple[pb.TfidfSpec, str]:
    spec.packed_vocabulary = data
    return spec, packed.TFIDF_TOKEN_TRIE


def _beyond(spec: pb.TfidfSpec) -> tuple[pb.TfidfSpec, str]:
    spec.idf_index.append(99)
    return spec, packed.TFIDF_TOKEN_TRIE


# Each makes the spec of the two terms "a" and "b" broken, and names the feature it is coded under.
# A trie of "a" and "b": D=1, two tokens, a root with two children (ids 0 and 0+1+0).
_TRIE_AB = bytes([1, 2]) + _packed([b"a", b"b"]) + bytes([4, 0, 0])
BROKEN_TFIDF = {
    "not in strictly ascending": lambda s: _front(s, _packed([b"b", b"a"])),
    "shares more bytes": lambda s: _front(s, bytes([0, 1]) + b"a" + bytes([5, 0])),
    "truncated": lambda s: _front(s, bytes([0, 9]) + b"ab"),
    "more than the 2 terms": lambda s: _front(s, _packed([b"a", b"b", b"c"])),
    "not valid UTF-8": lambda s: _front(s, _packed([b"a", b"\xff"])),
    "overlong varint": lambda s: _front(s, bytes([0x80] * 6)),
    "beyond the": _beyond,
    "at least one token": lambda s: _trie(s, bytes([0]) + _TRIE_AB[1:]),
    "empty or holds a space": lambda s: _trie(s, bytes([1, 2]) + _packed([b"a", b"b c"]) + bytes([4, 0, 0])),
    "root of a token trie is not a term": lambda s: _trie(s, _TRIE_AB[:-3] + bytes([5, 0, 0])),
    "token beyond the 2 listed": lambda s: _trie(s, _TRIE_AB[:-1] + bytes([1])),
    "neither a term nor has children": lambda s: _trie(
        s, bytes([2, 2]) + _packed([b"a", b"b"]) + bytes([4, 0, 1, 0, 0])
    ),
    "data after its last trie node": lambda s: _trie(s, _TRIE_AB + bytes([0])),
    "holds 1 terms, idf_index counts 2": lambda s: _trie(s, _TRIE_AB[:-3] + bytes([2, 0])),
    "trie .*more than the 2 terms": lambda s: _trie(
        s, bytes([1, 3]) + _packed([b"a", b"b", b"c"]) + bytes([6, 0, 0, 0])
    ),
    "trie .*not in strictly ascending": lambda s: _trie(
        # "a a" then "a\x10": a token with a byte below the space's sorts apart from its trie path
        s,
        bytes([2, 2]) + _packed([b"a", b"a\x10"]) + bytes([4, 0, 2, 0, 0, 1]),
    ),
    "trie .*truncated": lambda s: _trie(s, _TRIE_AB[:-1]),
}


@pytest.mark.parametrize("backend", ["python", "rust"])
@pytest.mark.parametrize("problem", sorted(BROKEN_TFIDF))
def test_a_broken_packed_vocabulary_is_refused(bundle_copy: Path, backend: str, problem: str) -> None:
    def edit(pre: pb.Preprocessor) -> None:
        spec, _ = tfidf_spec(["a", "b"], np.array([1.0, 2.0], np.float32), 0)
        spec, feature = BROKEN_TFIDF[problem](spec)
        pre.tfidf.CopyFrom(spec)
        pre.onnx.num_features = 2
        del pre.required_features[:]
        pre.required_features.extend([packed.CHARTABLE_BY_NAME, feature])

    rewrite_preprocessor(bundle_copy, edit)
    with pytest.raises(cerebellum.BundleCorruptError, match=problem.split(" .*")[-1]):
        cerebellum.load(bundle_copy, backend=backend)


def _features(pre: pb.Preprocessor, coding: str) -> None:
    del pre.required_features[:]
    pre.required_features.extend([packed.CHARTABLE_BY_NAME, coding])


def _v(n: int) -> tuple[int, ...]:
    out = []
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return (*out, n)


EXPANDING_TERMS = 3000  # terms
# Each stores a term in 2 bytes that expands to ever more: front coding repeats the previous term
# and adds a byte; a token trie chains terms of one 100-byte token, each that token once more.
EXPANDING = {
    packed.TFIDF_PACKED: bytes([0, 1]) + b"a" + bytes(x for i in range(1, EXPANDING_TERMS) for x in (*_v(i), 1, 97)),
    packed.TFIDF_TOKEN_TRIE: bytes([*_v(EXPANDING_TERMS), 1, 0, 100])
    + b"a" * 100
    + bytes([2])
    + bytes([0, 3]) * (EXPANDING_TERMS - 1)  # a child (gap 0), then "a term with one child"
    + bytes([0]),
}


@pytest.mark.parametrize("backend", ["python", "rust"])
@pytest.mark.parametrize("coding", sorted(EXPANDING))
def test_a_packed_vocabulary_cannot_expand_past_the_limits(bundle_copy: Path, backend: str, coding: str) -> None:
    def edit(pre: pb.Preprocessor) -> None:
        pre.tfidf.packed_vocabulary = EXPANDING[coding]
        del pre.tfidf.idf_index[:]
        pre.tfidf.idf_index.extend([0] * EXPANDING_TERMS)
        _features(pre, coding)

    rewrite_preprocessor(bundle_copy, edit)
    tight = cerebellum.Limits(max_preprocessor_bytes=1 << 20)
    with pytest.raises(cerebellum.BundleLimitError, match="packed vocabulary"):
        cerebellum.load(bundle_copy, backend=backend, limits=tight)


@pytest.mark.parametrize("backend", ["python", "rust"])
def test_a_table_this_runtime_does_not_carry_is_refused_by_name(bundle_copy: Path, backend: str) -> None:
    rewrite_preprocessor(bundle_copy, lambda pre: setattr(pre.char_table, "id", "unicode-99.0.0/fold-v7"))
    with pytest.raises(cerebellum.BundleVersionError, match="unicode-99.0.0/fold-v7.*does not carry"):
        cerebellum.load(bundle_copy, backend=backend)


@pytest.mark.parametrize("backend", ["python", "rust"])
def test_a_named_table_with_another_hash_is_refused(bundle_copy: Path, backend: str) -> None:
    rewrite_preprocessor(bundle_copy, lambda pre: setattr(pre.char_table, "sha256", bytes(32)))
    with pytest.raises(cerebellum.BundleVersionError, match="hashes to"):
        cerebellum.load(bundle_copy, backend=backend)


BROKEN_FEATURES = {
    "a table given by name carries no entries": lambda pre: pre.char_table.fold_to.append(65),
    "sha256 is set but required_features does not list": lambda pre: pre.required_features.remove(
        packed.CHARTABLE_BY_NAME
    ),
    "packed fields are set but required_features does not list": lambda pre: pre.required_features.remove(
        packed.TFIDF_TOKEN_TRIE
    ),
    "lists both": lambda pre: pre.required_features.append(packed.TFIDF_PACKED),
}


@pytest.mark.parametrize("backend", ["python", "rust"])
@pytest.mark.parametrize("problem", sorted(BROKEN_FEATURES))
def test_compact_fields_must_agree_with_the_features_listed(bundle_copy: Path, backend: str, problem: str) -> None:
    rewrite_preprocessor(bundle_copy, BROKEN_FEATURES[problem])
    with pytest.raises(cerebellum.BundleCorruptError, match=problem):
        cerebellum.load(bundle_copy, backend=backend)
