"""TF-IDF vectors against a slow, literal reading of the spec (section 5), and against scikit-learn."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer as SklearnTfidf

from cerebellum._proto import bundle_pb2 as pb
from cerebellum.errors import BundleCorruptError
from cerebellum.tfidf import TfidfVectorizer

from .conftest import pinned_tokenizer, tiny_rows


def f32(x: float) -> float:
    """Round a float64 to the nearest float32, ties to even."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def reference_vector(terms: list[str], vocabulary: list[str], idf: list[float], l2: bool) -> list[tuple[int, float]]:
    counts: dict[int, int] = {}
    for term in terms:
        if term in vocabulary:
            j = vocabulary.index(term)
            counts[j] = counts.get(j, 0) + 1
    columns = sorted(counts)
    weights = [f32(float(counts[j]) * idf[j]) for j in columns]  # exact product, one rounding
    if not l2:
        return list(zip(columns, weights, strict=True))
    s = 0.0
    for w in weights:
        s = s + w * w
    r = math.sqrt(s)
    return [(j, f32(w / r)) for j, w in zip(columns, weights, strict=True)]


def fit_sklearn(texts: list[str]) -> tuple[SklearnTfidf, pb.TfidfSpec]:
    tok = pinned_tokenizer()
    sk = SklearnTfidf(analyzer=tok.terms, norm="l2", smooth_idf=True).fit(texts)
    vocabulary = [""] * len(sk.vocabulary_)
    for term, j in sk.vocabulary_.items():
        vocabulary[j] = term
    spec = pb.TfidfSpec(vocabulary=vocabulary, idf=sk.idf_.astype(np.float32).tolist(), norm=pb.NORM_L2)
    return sk, spec


TEXTS = [r["text"] for r in tiny_rows()] + ["Hello hello HELLO 你好你好", "what's the weather?", "ok ok ok ok"]
SK, SPEC = fit_sklearn(TEXTS)
VECTORIZER = TfidfVectorizer(SPEC, Path("preprocessor.bin"))
VOCAB, IDF = list(SPEC.vocabulary), [float(x) for x in SPEC.idf]
TOKENIZER = pinned_tokenizer()
vocab_text = st.lists(
    st.sampled_from(sorted({t for text in TEXTS for t in TOKENIZER.tokenize(text)}) + [" ", "?", "zz"])
)


@settings(max_examples=300, deadline=None)
@given(vocab_text.map("".join) | st.text(max_size=40).filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)))
def test_vector_bits_equal_the_reference(text: str) -> None:
    terms = TOKENIZER.terms(text)
    got = VECTORIZER.transform_terms(terms)
    want = reference_vector(terms, VOCAB, IDF, l2=True)
    assert got.indices.tolist() == [j for j, _ in want]
    assert got.values.dtype == np.float32 and got.indices.dtype == np.int64
    assert got.values.tobytes() == np.array([v for _, v in want], dtype=np.float32).tobytes()


def test_vectors_agree_with_sklearn() -> None:
    expected = SK.transform(TEXTS).toarray()
    for row, text in enumerate(TEXTS):
        dense = VECTORIZER.transform_terms(TOKENIZER.terms(text)).to_dense(len(VOCAB))
        np.testing.assert_allclose(dense, expected[row], rtol=0, atol=2e-7)


def test_empty_text_gives_the_empty_vector() -> None:
    for text in ["", "   ", "\u200d\u3000"]:
        v = VECTORIZER.transform_terms(TOKENIZER.terms(text))
        assert len(v) == 0 and v.values.dtype == np.float32


def test_unknown_words_leave_only_the_boundary_features() -> None:
    v = VECTORIZER.transform_terms(TOKENIZER.terms("qwertyuiop zxcvb"))
    assert sorted(VOCAB[j] for j in v.indices) == ["</s>", "<s>"]


def test_repeated_terms_count_and_normalize() -> None:
    v = VECTORIZER.transform_terms(TOKENIZER.terms("ok ok ok ok"))
    assert math.isclose(float(np.sum(v.values.astype(np.float64) ** 2)), 1.0, rel_tol=1e-6)
    assert v.indices.tolist() == sorted(v.indices.tolist())


def test_unnormalized_vectors_are_tf_times_idf() -> None:
    spec = pb.TfidfSpec(vocabulary=["a", "b"], idf=[1.5, 2.25], norm=pb.NORM_NONE)
    v = TfidfVectorizer(spec, Path("p")).transform_terms(["b", "a", "b", "c"])
    assert v.indices.tolist() == [0, 1] and v.values.tolist() == [1.5, 4.5]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (pb.TfidfSpec(vocabulary=["a"], idf=[1.0, 2.0]), "1 vocabulary terms but 2 idf"),
        (pb.TfidfSpec(vocabulary=["a", "a"], idf=[1.0, 2.0]), "holds a term twice"),
        (pb.TfidfSpec(vocabulary=["a"], idf=[float("nan")]), "finite and positive"),
        (pb.TfidfSpec(vocabulary=["a"], idf=[0.0]), "finite and positive"),
        (pb.TfidfSpec(vocabulary=["a"], idf=[1.0], sublinear_tf=True), "sublinear_tf"),
    ],
)
def test_bad_specs_are_rejected(spec: pb.TfidfSpec, message: str) -> None:
    with pytest.raises(BundleCorruptError, match=message):
        TfidfVectorizer(spec, Path("preprocessor.bin"))
