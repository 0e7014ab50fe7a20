"""Taggers whose embedding tables are stored as int8 (`embedding_weights = "int8"`): export, runtimes, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import cerebellum
from cerebellum import bundle as cb
from forge.trainers import TrainerError
from forge.trainers.bilstm_crf import Params
from forge.trainers.int8_embeddings import ExportMismatchError, decode_rows, encode_rows, store_int8

from .conftest import forge_tiny_tagger, tiny_tagger_config

TEXTS = ["Ask Mr. Smith about Project Titan", "", "ΣΑΣ İstanbul 李雷 and Ms. Li", "a" * 300, "x y z"]


@pytest.fixture(scope="module")
def int8_tagger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = tiny_tagger_config('bigram_dim = 4\nbigram_min_count = 2\nembedding_weights = "int8"')
    return forge_tiny_tagger(tmp_path_factory.mktemp("int8_tagger"), config) / "models" / "tiny_ner"


def test_rows_round_to_int8_with_a_scale_each() -> None:
    table = np.array([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0], [3e-3, 1e-3, -2e-3]], dtype=np.float32)
    q, scale = encode_rows(table)
    assert q.dtype == np.int8 and q.shape == table.shape and scale.shape == (3,)
    assert np.abs(q).max(axis=1).tolist() == [127, 0, 127]  # each row uses its full range
    assert scale[1] == 1.0  # an all-zero row
    decoded = decode_rows(q, scale)
    assert np.all(np.abs(decoded - table) <= scale[:, None] / 2 + 1e-9)


def test_the_bundle_stores_the_tables_as_int8_and_decodes_them_first(int8_tagger: Path) -> None:
    graph = onnx.load(str(int8_tagger / cb.MODEL_FILE)).graph
    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for name in ("embedding.weight", "bigram_embedding.weight"):
        assert name not in initializers
        q, scale = initializers[f"{name}_q"], initializers[f"{name}_scale"]
        assert q.dtype == np.int8 and scale.dtype == np.float32 and scale.shape == (q.shape[0], 1)
    assert [n.op_type for n in graph.node[:4]] == ["Cast", "Mul", "Cast", "Mul"]
    assert "int8" in (int8_tagger / cb.CARD_FILE).read_text(encoding="utf-8")


def test_both_runtimes_tag_an_int8_tagger_alike(int8_tagger: Path) -> None:
    python = cerebellum.load(int8_tagger)
    entities = python.tag("Ask Mr. Smith about Project Titan")
    assert ("PERS", "Mr. Smith") in [(e.type, e.text) for e in entities]
    rust = cerebellum.load(int8_tagger, backend="rust")
    assert rust.evaluator == "native BiLSTM"  # not tract: the decoding is part of the native form
    for text in TEXTS:
        assert rust.tag_ids(text) == python.tag_ids(text), text
        assert rust.tag(text) == python.tag(text), text


def test_an_export_that_would_change_the_scored_weights_is_refused() -> None:
    table = np.arange(12, dtype=np.float32).reshape(4, 3) / 7
    q, scale = encode_rows(table)
    model = onnx.helper.make_model(
        onnx.helper.make_graph(
            [onnx.helper.make_node("Gather", ["embedding.weight", "ids"], ["rows"])],
            "g",
            [onnx.helper.make_tensor_value_info("ids", onnx.TensorProto.INT64, [1, "n"])],
            [onnx.helper.make_tensor_value_info("rows", onnx.TensorProto.FLOAT, [1, "n", 3])],
            [numpy_helper.from_array(table, "embedding.weight")],  # floats that were never rounded
        )
    )
    with pytest.raises(ExportMismatchError, match="do not give back"):
        store_int8(model, {"embedding.weight": (q, scale)})
    with pytest.raises(ExportMismatchError, match="no initializer"):
        store_int8(model, {"bigram_embedding.weight": (q, scale)})
    rounded = model.graph.initializer[0]
    rounded.CopyFrom(numpy_helper.from_array(decode_rows(q, scale), "embedding.weight"))
    store_int8(model, {"embedding.weight": (q, scale)})
    onnx.checker.check_model(model, full_check=True)


def test_an_unknown_embedding_format_is_refused_by_name() -> None:
    with pytest.raises(TrainerError, match="embedding_weights"):
        Params.from_config({"embedding_weights": "int4"})
