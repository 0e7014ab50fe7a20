"""Shared fixtures: a tiny blueprint forged once per session, and tokenizer factories."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from cerebellum._proto import bundle_pb2 as pb
from cerebellum.chartable import CharTable
from cerebellum.tokenizer import Tokenizer

REPO = Path(__file__).resolve().parent.parent

SUBJECTS = ["the weather", "my calendar", "the train", "dinner", "the lights", "music", "天气", "日程", "火车", "晚饭"]
QUESTION_FORMS = ["what about {}?", "how is {}", "when is {}?", "{}怎么样", "{}是什么时候", "tell me about {}"]
STATEMENT_FORMS = ["turn on {}", "cancel {}", "remember {}", "打开{}", "记一下{}", "ok, {} is fine"]


def tiny_rows(seed: int = 0) -> list[dict[str, str]]:
    """A small, learnable two-label dataset made by the tests themselves."""
    rows = [{"text": f.format(s), "label": "Question"} for f in QUESTION_FORMS for s in SUBJECTS]
    rows += [{"text": f.format(s), "label": "Statement"} for f in STATEMENT_FORMS for s in SUBJECTS]
    random.Random(seed).shuffle(rows)
    return rows


TINY_CONFIG = """
[blueprint]
kind = "classification"
trainer = "tfidf_linear"
seed = 7

[split]
dev = 0.2
test = 0.2

[train]
ngram_range = [1, 2]
C = [1.0, 10.0]

[tasks.tiny]
labels = ["Question", "Statement"]
offline = "offline/tiny.jsonl"

[tasks.tiny.canaries]
"how is the weather?" = "Question"
"打开音乐" = "Statement"
"""


def write_tiny_blueprint(root: Path, config: str = TINY_CONFIG) -> Path:
    directory = root / "blueprints" / "tiny"
    (directory / "offline").mkdir(parents=True)
    (directory / "blueprint.toml").write_text(config, encoding="utf-8")
    with (directory / "offline" / "tiny.jsonl").open("w", encoding="utf-8") as fh:
        for row in tiny_rows():
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return directory


@pytest.fixture(scope="session")
def tiny_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace whose `tiny` blueprint has been forged end to end."""
    from forge.blueprint import load_blueprint
    from forge.pipeline import BuildOptions, build
    from forge.workspace import Workspace

    root = tmp_path_factory.mktemp("workspace")
    write_tiny_blueprint(root)
    workspace = Workspace(root)
    build(load_blueprint("tiny", workspace.blueprints), workspace, BuildOptions())
    return root


@pytest.fixture(scope="session")
def tiny_bundle(tiny_workspace: Path) -> Path:
    return tiny_workspace / "models" / "tiny"


@pytest.fixture(scope="session")
def builtin_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in text_classification blueprint, forged offline into a scratch workspace."""
    import shutil

    from forge.blueprint import load_blueprint
    from forge.pipeline import BuildOptions, build
    from forge.workspace import Workspace

    root = tmp_path_factory.mktemp("builtin")
    shutil.copytree(REPO / "blueprints" / "text_classification", root / "blueprints" / "text_classification")
    workspace = Workspace(root)
    build(load_blueprint("text_classification", workspace.blueprints), workspace, BuildOptions())
    return root


def pinned_tokenizer(ngram_min: int = 1, ngram_max: int = 2, boundary_tokens: bool = True) -> Tokenizer:
    from forge.chartable import TABLE_PATH, pinned_table

    spec = pb.TokenizerSpec(ngram_min=ngram_min, ngram_max=ngram_max, boundary_tokens=boundary_tokens)
    return Tokenizer(CharTable(pinned_table(), TABLE_PATH), spec)


@pytest.fixture(scope="session")
def tokenizer() -> Tokenizer:
    return pinned_tokenizer()
