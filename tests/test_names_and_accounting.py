"""Untrusted names never become paths; every row a user gives with --data is accounted for."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cerebellum
from conformance.cli import main as conformance_main
from forge.blueprint import BlueprintError, load_blueprint
from forge.cli import app
from forge.files import DataFileError, read_jsonl
from forge.names import UnsafeNameError, check_name
from forge.pipeline import BuildOptions, build
from forge.workspace import Workspace

from .conftest import TINY_CONFIG, rewrite_preprocessor, tiny_rows, write_tiny_blueprint

runner = CliRunner()
TRAVERSALS = ["../escape", "..", "a/b", "a\\b", "/abs", "x/../../y", ".hidden..", "", "é", "a" * 129, "nul\0"]


@pytest.mark.parametrize("name", TRAVERSALS)
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(UnsafeNameError):
        check_name(name, "task name")
    with pytest.raises(UnsafeNameError):
        Workspace(Path("/tmp/ws")).model(name)


@pytest.mark.parametrize("name", ["is_question", "snips-intent", "v1.2", "_x", "A9"])
def test_ordinary_names_pass(name: str) -> None:
    assert check_name(name, "task name") == name


def _files_outside(root: Path) -> list[Path]:
    return [p for p in root.parent.rglob("*") if p.is_file() and root not in p.parents]


def test_task_option_cannot_write_outside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write_tiny_blueprint(root)
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in tiny_rows()), encoding="utf-8")
    before = _files_outside(root)
    result = runner.invoke(
        app, ["build", "-b", "tiny", "--task", "../../escape", "--data", str(data), "--root", str(root)]
    )
    assert result.exit_code == 1 and "not a valid name" in result.output
    assert _files_outside(root) == before


def test_blueprint_task_table_cannot_name_a_path(tmp_path: Path) -> None:
    write_tiny_blueprint(
        tmp_path,
        TINY_CONFIG.replace("[tasks.tiny]", '[tasks."../tiny"]').replace(
            "[tasks.tiny.canaries]", '[tasks."../tiny".canaries]'
        ),
    )
    with pytest.raises(BlueprintError, match="not a valid name"):
        load_blueprint("tiny", Workspace(tmp_path).blueprints)
    with pytest.raises(BlueprintError, match="not a valid name"):
        load_blueprint("../tiny", Workspace(tmp_path).blueprints)


def test_bundle_task_name_is_checked_by_runtimes_and_conformance(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "models" / "evil"
    shutil.copytree(tiny_bundle, bundle)
    rewrite_preprocessor(bundle, lambda pre: setattr(pre, "task", "../NAME"))
    with pytest.raises(cerebellum.BundleCorruptError, match="not a valid name"):
        cerebellum.load(bundle)
    try:
        import cerebellum_rs  # noqa: F401
    except ImportError:
        pass
    else:
        with pytest.raises(cerebellum.BundleCorruptError, match="not a valid name"):
            cerebellum.load(bundle, backend="rust")
    out = tmp_path / "golden"
    with pytest.raises(cerebellum.BundleCorruptError):
        conformance_main(["export", "--models", str(bundle), "--out", str(out), "--examples=5"])
    assert not (tmp_path / "NAME.golden.pb").exists() and not list(tmp_path.rglob("*.golden.pb"))


# -- --data keeps every row ---------------------------------------------------


def _dataset(directory: Path, splits: dict[str, list[dict]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in splits.items():
        (directory / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return directory


def _refine(root: Path, data: Path) -> tuple[dict[str, list[dict]], str]:
    workspace = Workspace(root)
    blueprint = load_blueprint("tiny", workspace.blueprints)
    build(blueprint, workspace, BuildOptions(task="mine", data=data, steps=("refine",)))
    processed = root / "datasets" / "processed" / "mine"
    splits = {s: read_jsonl(processed / f"{s}.jsonl") for s in ("train", "dev", "test")}
    return splits, (processed / "quality_report.md").read_text(encoding="utf-8")


def test_given_test_split_is_kept_and_dev_comes_from_train_only(tmp_path: Path) -> None:
    write_tiny_blueprint(tmp_path)
    rows = tiny_rows()
    data = _dataset(tmp_path / "d", {"train": rows[:100], "test": rows[100:]})
    splits, report = _refine(tmp_path, data)
    assert len(splits["test"]) == 20  # all of test.jsonl
    assert len(splits["train"]) + len(splits["dev"]) == 100  # nothing of train.jsonl lost
    assert len(splits["dev"]) == 20  # the blueprint's dev share (0.2) of train.jsonl
    assert "| train.jsonl | 100 | 0 | 100 | " in report and "| test.jsonl | 20 | 0 | 20 | 0 | 0 | 20 |" in report
    assert "| all | 120 | 0 | 120 |" in report


def test_val_jsonl_is_the_dev_split_and_dropped_rows_add_up(tmp_path: Path) -> None:
    write_tiny_blueprint(tmp_path)
    rows = tiny_rows()
    bad = [{"text": "   ", "label": "Question"}, {"text": 7, "label": "Question"}]
    data = _dataset(tmp_path / "d", {"train": rows[:90] + bad, "val": rows[90:105], "test": rows[105:]})
    splits, report = _refine(tmp_path, data)
    assert {r["text"] for r in splits["dev"]} == {r["text"] for r in rows[90:105]}
    assert len(splits["train"]) == 90 and len(splits["test"]) == 15
    assert "| val.jsonl | 15 | 0 | 15 | 0 | 15 | 0 |" in report
    assert "| train.jsonl | 92 | 2 | 90 | 90 | 0 | 0 |" in report and "| all | 122 | 2 | 120 | 90 | 15 | 15 |" in report
    _dataset(data, {"dev": rows[:3]})
    with pytest.raises(DataFileError, match="both dev.jsonl and val.jsonl"):
        _refine(tmp_path, data)


# -- mistakes are caught before any step runs ------------------------------------


def test_unknown_set_key_fails_before_any_step(tmp_path: Path) -> None:
    write_tiny_blueprint(tmp_path)
    result = runner.invoke(app, ["build", "-b", "tiny", "--set", "Cc=5", "--root", str(tmp_path)])
    assert result.exit_code == 1 and "unknown [train] keys for tfidf_linear: Cc" in result.output
    assert "known: C," in result.output
    assert not (tmp_path / "datasets").exists()  # generate and refine never ran
    result = runner.invoke(app, ["build", "-b", "tiny", "--set", "C=lots", "--root", str(tmp_path)])
    assert result.exit_code == 1 and "expected a list of numbers" in result.output


def test_tagging_rows_for_a_classifier_say_so(tmp_path: Path) -> None:
    write_tiny_blueprint(tmp_path)
    data = _dataset(tmp_path / "d", {"train": [{"tokens": ["王", "总"], "tags": ["B-PERS", "I-PERS"]}] * 3})
    result = runner.invoke(app, ["build", "-b", "tiny", "--task", "x", "--data", str(data), "--root", str(tmp_path)])
    assert (
        result.exit_code == 1 and "these are tagging rows" in result.output and "sequence_tagging_ner" in result.output
    )
    assert not (tmp_path / "datasets").exists()
