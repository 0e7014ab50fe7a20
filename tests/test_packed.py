"""Compact preprocessors: a character table given by name, front-coded terms, an idf palette.

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
from forge.packing import idf_palette, pack_terms, table_by_name, tfidf_spec

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
    terms = packed.unpack_terms(spec.packed_vocabulary, len(spec.idf_index), Path("x"), Limits())
    idf = [spec.idf_palette[i] for i in spec.idf_index]
    for name in ("packed_vocabulary", "idf_palette", "idf_index"):
        spec.ClearField(name)
    spec.vocabulary.extend(terms)
    spec.idf.extend(idf)
    del pre.required_features[:]


def test_the_carried_tables_are_the_forges_table_byte_for_byte() -> None:
    forged = pinned_table().SerializeToString()
    python_copy = ROOT / "runtimes/python/cerebellum/tables" / CARRIED
    rust_copy = ROOT / "runtimes/rust/cerebellum/tables" / CARRIED
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
    assert list(stored.required_features) == [packed.CHARTABLE_BY_NAME, packed.TFIDF_PACKED]
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


BROKEN_TFIDF = {
    "not in strictly ascending": lambda s: setattr(s, "packed_vocabulary", _packed([b"b", b"a"])),
    "shares more bytes": lambda s: setattr(s, "packed_vocabulary", bytes([0, 1]) + b"a" + bytes([5, 0])),
    "truncated": lambda s: setattr(s, "packed_vocabulary", bytes([0, 9]) + b"ab"),
    "more than the 2 terms": lambda s: setattr(s, "packed_vocabulary", _packed([b"a", b"b", b"c"])),
    "not valid UTF-8": lambda s: setattr(s, "packed_vocabulary", _packed([b"a", b"\xff"])),
    "overlong varint": lambda s: setattr(s, "packed_vocabulary", bytes([0x80] * 6)),
    "beyond the": lambda s: s.idf_index.append(99),
}


@pytest.mark.parametrize("backend", ["python", "rust"])
@pytest.mark.parametrize("problem", sorted(BROKEN_TFIDF))
def test_a_broken_packed_vocabulary_is_refused(bundle_copy: Path, backend: str, problem: str) -> None:
    def edit(pre: pb.Preprocessor) -> None:
        spec, _ = tfidf_spec(["a", "b"], np.array([1.0, 2.0], np.float32), 0)
        BROKEN_TFIDF[problem](spec)
        pre.tfidf.CopyFrom(spec)
        pre.onnx.num_features = 2

    rewrite_preprocessor(bundle_copy, edit)
    with pytest.raises(cerebellum.BundleCorruptError, match=problem):
        cerebellum.load(bundle_copy, backend=backend)


@pytest.mark.parametrize("backend", ["python", "rust"])
def test_a_packed_vocabulary_cannot_expand_past_the_limits(bundle_copy: Path, backend: str) -> None:
    # each term repeats the previous one and adds a byte: 2 bytes stored, ever more expanded
    count = 3000

    def edit(pre: pb.Preprocessor) -> None:
        pre.tfidf.packed_vocabulary = bytes([0, 1]) + b"a" + bytes(x for i in range(1, count) for x in (*_v(i), 1, 97))
        del pre.tfidf.idf_index[:]
        pre.tfidf.idf_index.extend([0] * count)

    rewrite_preprocessor(bundle_copy, edit)
    tight = cerebellum.Limits(max_preprocessor_bytes=1 << 20)
    with pytest.raises(cerebellum.BundleLimitError, match="packed vocabulary"):
        cerebellum.load(bundle_copy, backend=backend, limits=tight)


def _v(n: int) -> tuple[int, ...]:
    out = []
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return (*out, n)


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
        packed.TFIDF_PACKED
    ),
}


@pytest.mark.parametrize("backend", ["python", "rust"])
@pytest.mark.parametrize("problem", sorted(BROKEN_FEATURES))
def test_compact_fields_must_agree_with_the_features_listed(bundle_copy: Path, backend: str, problem: str) -> None:
    rewrite_preprocessor(bundle_copy, BROKEN_FEATURES[problem])
    with pytest.raises(cerebellum.BundleCorruptError, match=problem):
        cerebellum.load(bundle_copy, backend=backend)
