"""`forge new` scaffolds blueprints that build as they are; a new blueprint needs no forge edit."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import cerebellum
from forge.cli import app

runner = CliRunner()


def test_new_refuses_bad_names_unknown_kinds_and_existing_folders(tmp_path: Path) -> None:
    root = ["--root", str(tmp_path)]
    result = runner.invoke(app, ["new", "Bad-Name", *root])
    assert result.exit_code == 1 and "lower-case letters" in result.output
    result = runner.invoke(app, ["new", "demo", "--kind", "regression", *root])
    assert result.exit_code == 1 and "unknown kind" in result.output
    assert runner.invoke(app, ["new", "demo", *root]).exit_code == 0
    result = runner.invoke(app, ["new", "demo", *root])
    assert result.exit_code == 1 and "already exists" in result.output
    assert (tmp_path / "blueprints" / "demo" / "offline" / "demo.jsonl").exists()
    assert "$name" not in (tmp_path / "blueprints" / "demo" / "blueprint.toml").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["classification", "tagging"])
def test_new_blueprint_builds_offline_end_to_end(tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEYS", raising=False)  # the scaffold leaves the provider to the environment
    root = ["--root", str(tmp_path)]
    result = runner.invoke(app, ["new", "demo", "--kind", kind, *root])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["build", "--blueprint", "demo", *root])
    assert result.exit_code == 0, result.output  # verify passed: canaries included
    model = cerebellum.load(tmp_path / "models" / "demo")
    expected = cerebellum.TextTagger if kind == "tagging" else cerebellum.TextClassifier
    assert isinstance(model, expected)


@pytest.mark.slow
def test_sentiment_analysis_blueprint_builds_offline(builtin_sentiment_workspace: Path) -> None:
    model = cerebellum.load(builtin_sentiment_workspace / "models" / "sentiment")
    assert list(model.labels) == ["Positive", "Negative", "Neutral"]
    assert model.preprocessor.metrics.accuracy > 0.8
    assert model.predict("the hotel was not bad at all") == "Positive"
    assert model.predict("oh great, my train is late again") == "Negative"
