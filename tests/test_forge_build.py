"""The forge pipeline end to end, on blueprints and datasets the tests make."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cerebellum
from forge.blueprint import BlueprintError, load_blueprint
from forge.cli import app
from forge.files import read_jsonl
from forge.pipeline import BuildOptions, build
from forge.trainers import TrainerError, VerificationError
from forge.workspace import Workspace

from .conftest import TINY_CONFIG, tiny_rows, write_tiny_blueprint

runner = CliRunner()


def _build(root: Path, **options) -> None:
    workspace = Workspace(root)
    build(load_blueprint("tiny", workspace.blueprints), workspace, BuildOptions(**options))


def test_full_build_writes_every_artifact(tiny_workspace: Path) -> None:
    model_dir = tiny_workspace / "models" / "tiny"
    assert sorted(p.name for p in model_dir.iterdir()) == ["MODEL_CARD.md", "model.onnx", "preprocessor.bin"]
    card = (model_dir / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "accuracy" in card and "p50" in card and "reproduced the trained scikit-learn model" in card
    assert (tiny_workspace / "datasets" / "processed" / "tiny" / "quality_report.md").exists()
    verify = json.loads((tiny_workspace / "build" / "tiny" / "verify.json").read_text())
    assert verify["label_mismatches"] == 0 and verify["max_probability_difference"] <= 1e-5
    pre = cerebellum.load(model_dir).preprocessor
    assert pre.provenance.blueprint == "tiny" and pre.provenance.seed == 7
    assert pre.metrics.test_rows > 0 and pre.metrics.accuracy > 0.9


def test_raw_data_is_reused_and_refreshed_when_examples_change(tmp_path: Path) -> None:
    blueprint_dir = write_tiny_blueprint(tmp_path)
    _build(tmp_path, steps=("generate",))
    raw = tmp_path / "datasets" / "raw" / "tiny.jsonl"
    raw.write_text(raw.read_text(encoding="utf-8") + '{"text": "marker row", "label": "Question"}\n', encoding="utf-8")
    _build(tmp_path, steps=("generate",))
    assert "marker row" in raw.read_text(encoding="utf-8")  # reused as it is
    with (blueprint_dir / "offline" / "tiny.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"text": "a brand new example", "label": "Statement"}\n')
    _build(tmp_path, steps=("generate",))
    text = raw.read_text(encoding="utf-8")
    assert "marker row" not in text and "a brand new example" in text


def test_steps_run_alone_need_their_inputs(tmp_path: Path) -> None:
    write_tiny_blueprint(tmp_path)
    with pytest.raises(TrainerError, match="run the earlier steps first"):
        _build(tmp_path, steps=("export",))
    _build(tmp_path, steps=("generate", "refine", "train"))
    assert not (tmp_path / "models" / "tiny").exists()
    _build(tmp_path, steps=("export", "verify"))
    assert cerebellum.load(tmp_path / "models" / "tiny").predict("when is the train?") == "Question"


def test_wrong_canary_fails_the_build(tmp_path: Path) -> None:
    write_tiny_blueprint(tmp_path, TINY_CONFIG.replace('"打开音乐" = "Statement"', '"打开音乐" = "Question"'))
    with pytest.raises(VerificationError, match="canaries answered wrong: '打开音乐' -> Statement"):
        _build(tmp_path)


def _write_dataset(directory: Path, splits: dict[str, list[dict]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in splits.items():
        (directory / f"{name}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )


def test_import_named_splits_under_a_new_task(tmp_path: Path) -> None:
    write_tiny_blueprint(tmp_path)
    rows = [{"text": r["text"], "label": r["label"].lower()} for r in tiny_rows()]
    data = tmp_path / "mydata"
    _write_dataset(data, {"train": rows[:80], "dev": rows[80:100], "test": rows[100:] + [{"text": "x", "label": "??"}]})
    _build(tmp_path, task="imported", data=data)
    meta = json.loads((tmp_path / "datasets" / "processed" / "imported" / "meta.json").read_text())
    assert meta["labels"] == ["question", "statement"]  # inferred from the data
    assert meta["rows"] == {"train": 80, "dev": 20, "test": len(rows) - 100}  # the given splits, unknown label dropped
    report = (tmp_path / "datasets" / "processed" / "imported" / "quality_report.md").read_text()
    assert "unknown label '??'" in report
    assert cerebellum.load(tmp_path / "models" / "imported").labels == ("question", "statement")


def test_import_one_file_is_split_and_labels_are_canonicalized(tmp_path: Path) -> None:
    write_tiny_blueprint(tmp_path)
    rows = [{"text": r["text"], "label": f" {r['label'].upper()} "} for r in tiny_rows()]
    rows += [{"text": "dup row", "label": "Question"}, {"text": "DUP  row", "label": "Statement"}, {"text": 3}]
    _write_dataset(tmp_path / "one", {"all": rows})
    _build(tmp_path, task="tiny", data=tmp_path / "one" / "all.jsonl")
    processed = tmp_path / "datasets" / "processed" / "tiny"
    labels = {r["label"] for s in ("train", "dev", "test") for r in read_jsonl(processed / f"{s}.jsonl")}
    assert labels == {"Question", "Statement"}  # the blueprint's spelling
    report = (processed / "quality_report.md").read_text()
    assert "same text with conflicting labels" in report and "missing or non-string" in report


def test_data_with_several_tasks_needs_a_task(tmp_path: Path) -> None:
    config = TINY_CONFIG + '\n[tasks.other]\nlabels = ["A", "B"]\n'
    write_tiny_blueprint(tmp_path, config)
    with pytest.raises(BlueprintError, match="--data needs --task"):
        _build(tmp_path, data=tmp_path)


def test_bad_blueprints_are_explained(tmp_path: Path) -> None:
    write_tiny_blueprint(tmp_path, TINY_CONFIG.replace('kind = "classification"', 'kind = "regression"'))
    with pytest.raises(BlueprintError, match="kind: expected one of"):
        load_blueprint("tiny", tmp_path / "blueprints")
    with pytest.raises(BlueprintError, match="no blueprint 'nope'"):
        load_blueprint("nope", tmp_path / "blueprints")
    shutil.rmtree(tmp_path / "blueprints")
    write_tiny_blueprint(tmp_path, TINY_CONFIG.replace("[train]", "[train]\nngram = 3"))
    with pytest.raises(TrainerError, match="unknown \\[train\\] keys for tfidf_linear: ngram"):
        _build(tmp_path)


def test_cli_build_chat_and_blueprints(tmp_path: Path) -> None:
    write_tiny_blueprint(tmp_path)
    result = runner.invoke(app, ["build", "--blueprint", "tiny", "--root", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "verify: " in result.output and "how is the weather?" in result.output
    result = runner.invoke(
        app, ["chat", "--model", str(tmp_path / "models" / "tiny")], input="when is dinner?\n\n打开灯\n"
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["Question", "-", "Statement"]  # one line out per line in
    assert lines[0].endswith("\twhen is dinner?") and "Question=" in lines[0]
    result = runner.invoke(app, ["blueprints", "--root", str(tmp_path)])
    assert "tiny" in result.output and "tfidf_linear" in result.output


def test_cli_errors_exit_nonzero_with_a_message(tmp_path: Path) -> None:
    result = runner.invoke(app, ["build", "--blueprint", "nope", "--root", str(tmp_path)])
    assert result.exit_code == 1 and "no blueprint 'nope'" in result.output
    result = runner.invoke(app, ["chat", "--model", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "bundle directory not found" in result.output


@pytest.mark.slow
def test_builtin_blueprint_forges_sensible_models(builtin_workspace: Path) -> None:
    """The README's quick start: the built-in blueprint, offline, answers its canaries."""
    tmp_path = builtin_workspace
    for task in ("is_question", "confirmation"):
        model_dir = tmp_path / "models" / task
        size = (model_dir / "model.onnx").stat().st_size + (model_dir / "preprocessor.bin").stat().st_size
        assert size < 300_000
        assert cerebellum.load(model_dir).preprocessor.metrics.accuracy > 0.85
    is_question = cerebellum.load(tmp_path / "models" / "is_question")
    confirmation = cerebellum.load(tmp_path / "models" / "confirmation")
    assert is_question.predict("你今天吃饭了吗") == "Question"
    assert is_question.predict("帮我把灯关了") == "Statement"
    assert is_question.predict("what's the weather like tomorrow") == "Question"
    assert confirmation.predict("好的，删吧") == "Affirm"
    assert confirmation.predict("等一下") == "Deny"
    assert confirmation.predict("sure, go ahead") == "Affirm"
