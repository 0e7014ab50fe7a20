"""Character bigrams in a tagger (feature "tagger-char-bigrams"): ids, forge build, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import cerebellum
from cerebellum.bigrams import TAGGER_CHAR_BIGRAMS, bigram_ids, bigram_index, bigram_key
from forge.blueprint import load_blueprint
from forge.pipeline import BuildOptions, build
from forge.workspace import Workspace

from .conftest import TINY_TAGGER_CONFIG, damaged_copy, write_tiny_tagger_blueprint


def test_bigram_ids_read_the_pairs_around_each_unit() -> None:
    keys = sorted([bigram_key(0, 5), bigram_key(5, 6), bigram_key(6, 0)])
    index = bigram_index(keys)
    before, after = bigram_ids([5, 6], index)
    # (start, 5) (5, 6) (6, end) have ids 2 + their index in the sorted keys
    assert before.tolist() == [index[bigram_key(0, 5)], index[bigram_key(5, 6)]]
    assert after.tolist() == [index[bigram_key(5, 6)], index[bigram_key(6, 0)]]
    assert before.dtype == np.int64
    unknown_before, unknown_after = bigram_ids([6, 5, 1], index)
    assert unknown_before.tolist() == [1, 1, 1] and unknown_after.tolist() == [1, 1, 1]
    assert [a.tolist() for a in bigram_ids([], index)] == [[], []]


@pytest.fixture(scope="module")
def bigram_tagger_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bigram_tagger")
    config = TINY_TAGGER_CONFIG.replace(
        "min_char_count = 1", "min_char_count = 1\nbigram_dim = 4\nbigram_min_count = 2"
    )
    write_tiny_tagger_blueprint(root, config)
    workspace = Workspace(root)
    build(load_blueprint("tiny_tagger", workspace.blueprints), workspace, BuildOptions())
    return root


def test_forge_builds_a_verified_bigram_tagger(bigram_tagger_workspace: Path) -> None:
    model_dir = bigram_tagger_workspace / "models" / "tiny_ner"
    tagger = cerebellum.load(model_dir)
    pre = tagger.preprocessor
    assert TAGGER_CHAR_BIGRAMS in pre.required_features
    keys = list(pre.tagger.bigram_keys)
    assert keys and keys == sorted(set(keys))
    assert pre.onnx.bigrams_before_input and pre.onnx.bigrams_after_input
    entities = tagger.tag("Ask Mr. Smith about Project Titan")
    assert ("PERS", "Mr. Smith") in [(e.type, e.text) for e in entities]


def test_bigram_keys_out_of_order_or_unannounced_are_refused(bigram_tagger_workspace: Path, tmp_path: Path) -> None:
    source = bigram_tagger_workspace / "models" / "tiny_ner"

    def damaged(name: str, edit) -> Path:
        return damaged_copy(source, tmp_path / name, edit)

    def swap(pre) -> None:
        keys = list(pre.tagger.bigram_keys)
        keys[0], keys[1] = keys[1], keys[0]
        del pre.tagger.bigram_keys[:]
        pre.tagger.bigram_keys.extend(keys)

    def unannounce(pre) -> None:
        pre.required_features.remove(TAGGER_CHAR_BIGRAMS)

    with pytest.raises(cerebellum.BundleCorruptError, match="strictly ascending"):
        cerebellum.load(damaged("swapped", swap))
    with pytest.raises(cerebellum.BundleCorruptError, match="required_features"):
        cerebellum.load(damaged("unannounced", unannounce))
