"""Taggers that average an ensemble of BiLSTMs (`members`) stored with float16 LSTM weights."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

import cerebellum
from cerebellum import bundle as cb
from forge.trainers import TrainerError
from forge.trainers.bilstm_crf import Params
from forge.trainers.crf_model import BiLstmCrf, ensemble_of
from forge.trainers.float16_lstm import Float16MismatchError, round_lstms, store_float16

from .conftest import forge_tiny_tagger, rewrite_preprocessor, tiny_tagger_config

TEXTS = ["Ask Mr. Smith about Project Titan", "", "ΣΑΣ İstanbul 李雷 and Ms. Li", "a" * 300, "x y z"]


@pytest.fixture(scope="module")
def ensemble_tagger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = tiny_tagger_config(
        'bigram_dim = 4\nbigram_min_count = 2\nembedding_weights = "int8"\nmembers = 3\nlstm_weights = "float16"'
    ).replace("rows = 360", "rows = 720")
    return forge_tiny_tagger(tmp_path_factory.mktemp("ensemble_tagger"), config)


def test_members_train_on_their_own_rows_and_are_averaged(ensemble_tagger: Path) -> None:
    report = json.loads((ensemble_tagger / "build" / "tiny_ner" / "train.json").read_text(encoding="utf-8"))
    trained = {h["model"] for h in report["history"]}
    assert trained == {"training", "member 2 of 3", "member 3 of 3"}
    assert "3 BiLSTMs averaged" in report["estimator"] and "float16" in report["estimator"]
    card = (ensemble_tagger / "models" / "tiny_ner" / cb.CARD_FILE).read_text(encoding="utf-8")
    assert "trained 3 BiLSTMs on their own shares of the rows, averaged" in card


def test_the_bundle_holds_one_lstm_per_member_with_float16_weights(ensemble_tagger: Path) -> None:
    graph = onnx.load(str(ensemble_tagger / "models" / "tiny_ner" / cb.MODEL_FILE)).graph
    lstms = [n for n in graph.node if n.op_type == "LSTM"]
    assert len(lstms) == 3
    assert len({n.input[0] for n in lstms}) == 1  # all read the same input
    initializers = {t.name: t for t in graph.initializer}
    casts = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Cast"}
    for lstm in lstms:
        for name in lstm.input[1:3]:  # W and R
            assert initializers[casts[name]].data_type == onnx.TensorProto.FLOAT16
    joined = [n for n in graph.node if n.op_type == "Concat"][-1]
    assert len(joined.input) == 3  # the members' outputs, side by side for the linear layer
    gemm = next(n for n in graph.node if n.op_type == "Gemm")
    assert numpy_helper.to_array(initializers[gemm.input[1]]).shape[0] == 3 * 2 * 24


def test_both_runtimes_tag_an_ensemble_alike(ensemble_tagger: Path) -> None:
    bundle = ensemble_tagger / "models" / "tiny_ner"
    python = cerebellum.load(bundle)
    assert ("PERS", "Mr. Smith") in [(e.type, e.text) for e in python.tag("Ask Mr. Smith about Project Titan")]
    rust = cerebellum.load(bundle, backend="rust")
    assert rust.evaluator == "native BiLSTM"  # the ensemble and the float16 weights are part of the native form
    for text in TEXTS:
        assert rust.tag_ids(text) == python.tag_ids(text), text
        np.testing.assert_allclose(rust.emissions(text), python.emissions(text), atol=1e-4)


def test_an_ensemble_joined_in_another_order_is_left_to_tract(ensemble_tagger: Path, tmp_path: Path) -> None:
    """The native evaluator knows one layout; any other graph still runs, on tract, with the same results."""
    bundle = tmp_path / "reordered"
    shutil.copytree(ensemble_tagger / "models" / "tiny_ner", bundle)
    model = onnx.load(str(bundle / cb.MODEL_FILE))
    joined = [n for n in model.graph.node if n.op_type == "Concat"][-1]
    joined.input[:] = list(reversed(joined.input))
    data = model.SerializeToString()
    (bundle / cb.MODEL_FILE).write_bytes(data)
    rewrite_preprocessor(bundle, lambda pre: setattr(pre, "model_sha256", hashlib.sha256(data).digest()))
    python = cerebellum.load(bundle)
    rust = cerebellum.load(bundle, backend="rust")
    assert rust.evaluator == "tract"
    for text in TEXTS:
        assert rust.tag_ids(text) == python.tag_ids(text), text
        np.testing.assert_allclose(rust.emissions(text), python.emissions(text), atol=1e-4)


def test_an_ensemble_computes_the_mean_of_its_members() -> None:
    torch.manual_seed(3)
    members = [BiLstmCrf(30, 6, 5, 7, 0.0, 20, 3, 2) for _ in range(3)]
    for member in members[1:]:  # the members share the first one's tables
        for name in ("embedding", "bigram_embedding", "lexicon_embedding"):
            setattr(member.emitter, name, getattr(members[0].emitter, name))
    combined = ensemble_of(members)
    ids = torch.tensor([[3, 4, 5, 9, 2]])
    mean = torch.stack([m.emitter(ids, ids, ids, ids) for m in members]).mean(dim=0)
    torch.testing.assert_close(combined.emitter(ids, ids, ids, ids), mean, atol=1e-6, rtol=0)
    for name in ("transitions", "start", "end"):
        want = torch.stack([getattr(m.crf, name) for m in members]).mean(dim=0)
        torch.testing.assert_close(getattr(combined.crf, name), want)


def test_float16_storage_refuses_weights_that_were_not_rounded() -> None:
    torch.manual_seed(4)
    model = BiLstmCrf(10, 4, 3, 7, 0.0)
    ids = torch.zeros((1, 3), dtype=torch.long)

    def exported() -> onnx.ModelProto:
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter's notes on tracing an LSTM
            torch.onnx.export(model.emitter, (ids,), buffer, input_names=["ids"], opset_version=17, dynamo=False)
        return onnx.load_from_string(buffer.getvalue())

    with pytest.raises(Float16MismatchError, match="not float16 values"):
        store_float16(exported())
    round_lstms(model.emitter)
    graph = exported()
    store_float16(graph)
    assert [n.op_type for n in graph.graph.node[:2]] == ["Cast", "Cast"]
    onnx.checker.check_model(graph, full_check=True)


def test_unknown_lstm_formats_and_empty_ensembles_are_refused_by_name() -> None:
    with pytest.raises(TrainerError, match="lstm_weights"):
        Params.from_config({"lstm_weights": "int8"})
    with pytest.raises(TrainerError, match="members"):
        Params.from_config({"members": 0})
