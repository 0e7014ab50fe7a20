"""A tagger's word lexicon (feature "tagger-lexicon"): ids, forge build, both runtimes, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import cerebellum
from cerebellum.lexicon import TAGGER_LEXICON, Lexicon, bloom_positions, build_bloom, fnv1a64
from forge.lexicons import lexicon_words
from forge.trainers import TrainerError
from forge.trainers.bilstm_crf import Params

from .conftest import damaged_copy, forge_tiny_tagger, tiny_tagger_config

try:
    import cerebellum_rs  # noqa: F401

    BACKENDS = ["python", "rust"]
except ImportError:  # the Rust module is built by `make rust-module` (part of `make test`)
    BACKENDS = ["python"]


def test_fnv1a64_and_the_filter_positions() -> None:
    assert fnv1a64(b"") == 0xCBF29CE484222325
    assert fnv1a64(b"a") == 0xAF63DC4C8601EC8C  # the published FNV-1a 64 test vector
    h = fnv1a64("经理".encode())
    low, high = h & 0xFFFFFFFF, (h >> 32) | 1
    assert bloom_positions("经理", 1000, 3) == [low % 1000, (low + high) % 1000, (low + 2 * high) % 1000]


def test_lexicon_ids_mark_where_words_begin_continue_and_end() -> None:
    # the same words and texts as the Rust core's test (cerebellum-core/src/lexicon.rs)
    lexicon = Lexicon(build_bloom(["经理", "阿尔法计划", "人民", "中国人民"], 1 << 12, 4), 4)
    # 中国人民 (4 units: bits 5, 6, 6, 7), 人民 (bits 0, 1), 经理 (bits 0, 1); 阿尔法计划 is too long
    assert lexicon.ids(list("中国人民银行的经理")).tolist() == [33, 65, 66, 131, 1, 1, 1, 2, 3]
    # a unit that is not one ideograph breaks words
    assert lexicon.ids(list("人民a经理")).tolist() == [2, 3, 1, 2, 3]
    assert lexicon.ids(["人民", "经理"]).tolist() == [1, 1]
    assert lexicon.ids([]).tolist() == []
    assert "阿尔法计划" in lexicon and "银行" not in lexicon


def test_filters_and_hash_counts_out_of_range_are_refused() -> None:
    for bits, hashes in [(0, 4), (12, 4), (64, 0), (64, 33)]:
        with pytest.raises(ValueError):
            build_bloom(["经理"], bits, hashes)
    with pytest.raises(ValueError):
        Lexicon(b"", 4)


def test_jieba_words_are_runs_of_two_to_four_ideographs() -> None:
    words = lexicon_words("jieba", 20)
    assert words == sorted(set(words)) and len(words) > 50_000
    assert {"经理", "人民", "北京大学"} <= set(words)
    assert all(2 <= len(w) <= 4 and all("\u4e00" <= c <= "\u9fff" for c in w) for w in words)
    assert len(lexicon_words("jieba", 1000)) < len(words)


def test_a_lexicon_needs_bigrams_and_a_known_source() -> None:
    with pytest.raises(TrainerError, match="needs bigram_dim"):
        Params.from_config({"lexicon": "jieba"})
    with pytest.raises(TrainerError, match="lexicon = 'wordnet'"):
        Params.from_config({"lexicon": "wordnet", "bigram_dim": 4})
    with pytest.raises(TrainerError, match="lexicon_bits"):
        Params.from_config({"lexicon": "jieba", "bigram_dim": 4, "lexicon_bits": 100})


@pytest.fixture(scope="module")
def lexicon_tagger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = tiny_tagger_config(
        "bigram_dim = 4\nbigram_min_count = 2\n"
        'lexicon = "jieba"\nlexicon_min_count = 500\nlexicon_dim = 4\nlexicon_dropout = 0.2\n'
        "lexicon_bits = 65536\nlexicon_hashes = 5"
    )
    return forge_tiny_tagger(tmp_path_factory.mktemp("lexicon_tagger"), config) / "models" / "tiny_ner"


def test_forge_builds_a_verified_lexicon_tagger(lexicon_tagger: Path) -> None:
    tagger = cerebellum.load(lexicon_tagger)
    pre = tagger.preprocessor
    assert TAGGER_LEXICON in pre.required_features
    assert len(pre.tagger.lexicon.bloom) == 65536 // 8 and pre.tagger.lexicon.hashes == 5
    assert pre.onnx.lexicon_input
    assert tagger.lexicon is not None and "经理" in tagger.lexicon
    entities = tagger.tag("帮我约张经理")
    assert ("PERS", "张经理") in [(e.type, e.text) for e in entities]
    card = (lexicon_tagger / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "word lexicon:" in card and "MIT License" in card and "8,192-byte Bloom filter (5 hashes)" in card


@pytest.mark.skipif(len(BACKENDS) < 2, reason="the Rust module is not built")
def test_both_runtimes_read_the_lexicon_alike(lexicon_tagger: Path) -> None:
    python, rust = (cerebellum.load(lexicon_tagger, backend=b) for b in BACKENDS)
    texts = ["帮我约张经理", "中国人民银行的经理明天开会", "北京大学的李老师负责星火计划吗", "经理经理", "ask 王总"]
    for text in texts:
        np.testing.assert_allclose(python.emissions(text), rust.emissions(text), atol=1e-5, rtol=0)
        assert python.tag_ids(text) == rust.tag_ids(text)
    # the words matter: without them the same units score otherwise
    assert (python.lexicon.ids(python.tokenize(texts[1])) > 1).any()


@pytest.mark.parametrize("backend", BACKENDS)
def test_malformed_lexicons_are_refused(lexicon_tagger: Path, tmp_path: Path, backend: str) -> None:
    def damaged(name: str, edit) -> Path:
        return damaged_copy(lexicon_tagger, tmp_path / name, edit)

    def unannounced(pre) -> None:
        pre.required_features.remove(TAGGER_LEXICON)

    def missing(pre) -> None:
        pre.tagger.ClearField("lexicon")

    def no_hashes(pre) -> None:
        pre.tagger.lexicon.hashes = 0

    def many_hashes(pre) -> None:
        pre.tagger.lexicon.hashes = 33

    def empty(pre) -> None:
        pre.tagger.lexicon.bloom = b""

    for edit, message in [
        (unannounced, "required_features"),
        (missing, "no lexicon"),
        (no_hashes, "1 to 32 hashes"),
        (many_hashes, "1 to 32 hashes"),
        (empty, "non-empty filter"),
    ]:
        with pytest.raises(cerebellum.BundleCorruptError, match=message):
            cerebellum.load(damaged(edit.__name__, edit), backend=backend)
