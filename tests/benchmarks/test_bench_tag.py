"""Tagging latency for a 30-character sentence, with the built-in model's architecture.

The network is the built-in blueprint's size (embedding 32, BiLSTM 64x2) but
trained only briefly: latency depends on the architecture, not on the weights.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import cerebellum
from forge.blueprint import load_blueprint
from forge.pipeline import BuildOptions, build
from forge.workspace import Workspace

from ..conftest import TINY_TAGGER_CONFIG, write_tiny_tagger_blueprint

SENTENCE = "张经理说阿尔法计划要延期到周三的评审会之后，请通知Mr. Li"[:30]


@pytest.fixture(scope="module")
def tagger_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bench_tagger")
    config = (
        TINY_TAGGER_CONFIG.replace("embedding_dim = 16", "embedding_dim = 32")
        .replace("hidden_dim = 24", "hidden_dim = 64")
        .replace("epochs = 12", "epochs = 1")
    )
    write_tiny_tagger_blueprint(root, config)
    workspace = Workspace(root)
    build(load_blueprint("tiny_tagger", workspace.blueprints), workspace, BuildOptions())
    return root / "models" / "tiny_ner"


@pytest.fixture(scope="module")
def tagger(tagger_dir: Path) -> cerebellum.TextTagger:
    return cerebellum.load(tagger_dir)


@pytest.mark.benchmark(group="tag-30-characters")
def test_cerebellum_tag(benchmark, tagger: cerebellum.TextTagger) -> None:
    assert len(SENTENCE) == 30
    entities = benchmark(tagger.tag, SENTENCE)
    assert isinstance(entities, list)


@pytest.mark.benchmark(group="tag-30-characters")
def test_cerebellum_emissions(benchmark, tagger: cerebellum.TextTagger) -> None:
    assert benchmark(tagger.emissions, SENTENCE).shape == (30, 7)


@pytest.mark.benchmark(group="load")
def test_cerebellum_load_tagger(benchmark, tagger_dir: Path) -> None:
    assert benchmark(cerebellum.load, tagger_dir).entity_types == ("PROJ", "PERS", "EVT")
