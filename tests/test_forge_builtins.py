"""The preforged built-in workspaces are taken only when finished and current."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.forge_builtins import FINISHED, PREFORGED_ENV, REPO, preforged

BLUEPRINT = "text_classification"


def _workspace(folder: Path) -> Path:
    root = folder / BLUEPRINT
    shutil.copytree(REPO / "blueprints" / BLUEPRINT, root / "blueprints" / BLUEPRINT)
    return root


def test_a_finished_current_workspace_is_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _workspace(tmp_path)
    monkeypatch.setenv(PREFORGED_ENV, str(tmp_path))
    assert preforged(BLUEPRINT) is None  # not finished
    (root / FINISHED).touch()
    assert preforged(BLUEPRINT) == root
    monkeypatch.delenv(PREFORGED_ENV)
    assert preforged(BLUEPRINT) is None


def test_a_workspace_forged_from_another_blueprint_is_not_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _workspace(tmp_path)
    (root / FINISHED).touch()
    monkeypatch.setenv(PREFORGED_ENV, str(tmp_path))
    config = root / "blueprints" / BLUEPRINT / "blueprint.toml"
    config.write_text(config.read_text() + "\n# edited after the forge\n")
    assert preforged(BLUEPRINT) is None
    config.unlink()
    assert preforged(BLUEPRINT) is None
