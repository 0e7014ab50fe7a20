"""Sequence taggers end to end: forge build, bundle, runtime, import, damage."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

import cerebellum
from cerebellum import bundle as cb
from cerebellum._proto import bundle_pb2 as pb
from forge.blueprint import load_blueprint
from forge.cli import app
from forge.pipeline import BuildOptions, build
from forge.trainers import VerificationError
from forge.workspace import Workspace

from .conftest import TINY_TAGGER_CONFIG, rewrite_preprocessor, write_tiny_tagger_blueprint


def test_build_writes_a_verified_tagger(tiny_tagger_workspace: Path) -> None:
    model_dir = tiny_tagger_workspace / "models" / "tiny_ner"
    graph = onnx.load(model_dir / "model.onnx")
    assert any(node.op_type == "LSTM" for node in graph.graph.node)
    tagger = cerebellum.load(model_dir)
    assert isinstance(tagger, cerebellum.TextTagger)
    assert tagger.entity_types == ("PROJ", "PERS", "EVT")
    assert tagger.tags == ("O", "B-PROJ", "I-PROJ", "B-PERS", "I-PERS", "B-EVT", "I-EVT")
    pre = tagger.preprocessor
    assert pre.metrics.span_f1 > 0.8 and len(pre.metrics.per_class) == 3
    card = (model_dir / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "Entity spans" in card and "tag sequences" in card
    verify = json.loads((tiny_tagger_workspace / "build" / "tiny_ner" / "verify.json").read_text())
    assert verify["tag_mismatches"] == 0 and verify["rows"] > 0


def test_entities_have_offsets_into_the_original_text(tiny_tagger_workspace: Path) -> None:
    tagger = cerebellum.load(tiny_tagger_workspace / "models" / "tiny_ner")
    text = "ＡＳＫ  Mr. Smith about Project Titan"  # full-width letters fold to ASCII: offsets stay original
    entities = tagger.tag(text)
    assert [(e.type, e.text) for e in entities] == [("PERS", "Mr. Smith"), ("PROJ", "Project Titan")]
    for e in entities:
        assert text[e.start : e.end] == e.text
    tokens = tagger.tag_tokens("帮我约王总")
    assert [(t.text, t.tag) for t in tokens][-2:] == [("王", "B-PERS"), ("总", "I-PERS")]
    assert tagger.tag("") == [] and tagger.tag("   ") == [] and tagger.tag_tokens("") == []
    assert len(tagger.tag("x" * 20_000)) >= 0  # long input runs
    assert tagger.emissions("王总").shape == (2, 7)
    with pytest.raises(cerebellum.InvalidInputError):
        tagger.tag("\ud800")


def test_import_bio_rows_under_a_new_task(tmp_path: Path) -> None:
    write_tiny_tagger_blueprint(tmp_path)
    rows = [
        {"tokens": list("王总明天来"), "tags": ["B-PER", "I-PER", "O", "O", "O"]},
        {"tokens": ["ask", "Anna", "about", "Apollo"], "tags": ["O", "B-PER", "O", "B-PRJ"]},
        {"tokens": list("李老师好"), "tags": ["I-PER", "I-PER", "I-PER", "O"]},  # repaired: I- without B-
        {"tokens": ["bad"], "tags": ["B-PER", "O"]},  # dropped: lengths differ
    ] * 6
    data = tmp_path / "bio"
    data.mkdir()
    for name in ("train", "dev", "test"):
        (data / f"{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    workspace = Workspace(tmp_path)
    blueprint = load_blueprint("tiny_tagger", workspace.blueprints)
    build(blueprint, workspace, BuildOptions(task="bio", data=data, steps=("refine", "train", "export")))
    processed = tmp_path / "datasets" / "processed" / "bio"
    meta = json.loads((processed / "meta.json").read_text())
    assert meta["labels"] == ["PER", "PRJ"]
    report = (processed / "quality_report.md").read_text()
    assert "I- tag without B- repaired" in report and "tokens but N tags" in report
    first = json.loads((processed / "dev.jsonl").read_text().splitlines()[1])
    assert first == {"text": "ask Anna about Apollo", "spans": [[4, 8, "PER"], [15, 21, "PRJ"]]}
    assert cerebellum.load(tmp_path / "models" / "bio").entity_types == ("PER", "PRJ")


def test_missing_canary_entity_fails_the_build(tmp_path: Path) -> None:
    config = (
        TINY_TAGGER_CONFIG.replace("epochs = 12", "epochs = 2")
        + '\n[tasks.tiny_ner.canaries]\n"帮我约王总" = ["EVT:王总"]\n'
    )
    write_tiny_tagger_blueprint(tmp_path, config)
    workspace = Workspace(tmp_path)
    with pytest.raises(VerificationError, match="lacks \\['EVT:王总'\\]"):
        build(load_blueprint("tiny_tagger", workspace.blueprints), workspace, BuildOptions())


def test_chat_shows_entities(tiny_tagger_workspace: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["chat", "--model", str(tiny_tagger_workspace / "models" / "tiny_ner")],
        input="帮我约王总\n今天天气怎么样\n",
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["PERS:王总@3-5\t帮我约王总", "-\t今天天气怎么样"]


@pytest.fixture()
def tagger_copy(tiny_tagger_workspace: Path, tmp_path: Path) -> Path:
    target = tmp_path / "tagger"
    shutil.copytree(tiny_tagger_workspace / "models" / "tiny_ner", target)
    return target


@pytest.mark.parametrize(
    ("edit", "error", "message"),
    [
        (lambda p: p.tagger.transitions.pop(), cerebellum.BundleCorruptError, "CRF scores do not fit 7 tags"),
        (lambda p: p.tagger.start.__setitem__(0, float("inf")), cerebellum.BundleCorruptError, "finite"),
        (lambda p: p.labels.__setitem__(1, "X-PROJ"), cerebellum.BundleCorruptError, "is not O, B-TYPE or I-TYPE"),
        (lambda p: p.tagger.vocabulary.__setitem__(0, "a"), cerebellum.BundleCorruptError, "must start with <pad>"),
        (lambda p: p.tagger.vocabulary.append("extra"), cerebellum.BundleMismatchError, "rejects the preprocessor's"),
        (lambda p: setattr(p.onnx, "ids_input", "tokens"), cerebellum.BundleMismatchError, "model inputs"),
        (lambda p: p.ClearField("tagger"), cerebellum.BundleCorruptError, "needs a tagger section"),
    ],
)
def test_damaged_tagger_bundles(tagger_copy: Path, edit, error: type, message: str) -> None:
    rewrite_preprocessor(tagger_copy, edit)
    with pytest.raises(error, match=message):
        cerebellum.load(tagger_copy)


def test_tagger_model_with_other_tag_count(tagger_copy: Path) -> None:
    def drop_last_two_tags(pre: pb.Preprocessor) -> None:
        del pre.labels[-2:]
        n = len(pre.labels)
        t = np.asarray(pre.tagger.transitions, np.float32).reshape(n + 2, n + 2)[:n, :n]
        pre.tagger.ClearField("transitions")
        pre.tagger.transitions.extend(t.ravel().tolist())
        del pre.tagger.start[-2:]
        del pre.tagger.end[-2:]
        pre.model_sha256 = hashlib.sha256((tagger_copy / cb.MODEL_FILE).read_bytes()).digest()

    rewrite_preprocessor(tagger_copy, drop_last_two_tags)
    with pytest.raises(cerebellum.BundleMismatchError, match="names 5 tags"):
        cerebellum.load(tagger_copy)


@pytest.mark.slow
def test_builtin_tagger_finds_the_quick_start_entities(builtin_ner_workspace: Path) -> None:
    """The README's quick start: the built-in NER blueprint, offline, a bundle under 1 MB, finds its canaries."""
    model_dir = builtin_ner_workspace / "models" / "ner_core_entity"
    assert (model_dir / "model.onnx").stat().st_size + (model_dir / "preprocessor.bin").stat().st_size < 1_000_000
    tagger = cerebellum.load(model_dir)
    assert tagger.preprocessor.metrics.span_f1 > 0.85

    def found(text: str) -> set[str]:
        return {f"{e.type}:{e.text}" for e in tagger.tag(text)}

    assert "PERS:李经理" in found("明天让李经理来一趟")
    assert "PROJ:阿尔法计划" in found("阿尔法计划今天上线吗")
    assert "EVT:周五的发布会" in found("周五的发布会改到几点了")
    assert {"PERS:Dr. Chen", "EVT:the Q3 review"} <= found("put the Q3 review with Dr. Chen on my calendar")
    assert "PROJ:Project Titan phase one" in found("did Project Titan phase one slip?")
