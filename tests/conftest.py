"""Shared fixtures: a tiny blueprint forged once per session, and tokenizer factories."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from cerebellum import bundle as cb
from cerebellum._proto import bundle_pb2 as pb
from cerebellum.chartable import CharTable
from cerebellum.tokenizer import Tokenizer
from conformance.runtimes import cargo_target_dir
from tests.forge_builtins import REPO, forge_into, preforged

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


TAGGER_TEMPLATES = {
    "slots": {
        "PERS": ["王总", "李老师", "张经理", "小陈", "Mr. Smith", "Dr. Lee", "Anna", "Coach Kim"],
        "PROJ": ["星火计划", "北斗项目", "Project Titan", "the Falcon app", "Apollo", "天河系统"],
        "EVT": ["周一的例会", "年会", "the Q3 review", "the launch event", "双十一", "the standup"],
        "time": ["明天", "下午", "tomorrow", "at noon"],
    },
    "templates": [
        "帮我约{PERS}",
        "{time}提醒我找{PERS}",
        "{PROJ}进展如何？",
        "{PERS}负责{PROJ}吗",
        "别忘了{EVT}",
        "ask {PERS} about {PROJ}",
        "remind me about {EVT} {time}",
        "is {PERS} coming to {EVT}?",
        "今天天气怎么样",
        "play some music",
        "{time}叫我起床",
        "set a timer for ten minutes",
    ],
}

TINY_TAGGER_CONFIG = """
[blueprint]
kind = "tagging"
trainer = "bilstm_crf"
seed = 5

[generate]
rows = 360

[split]
dev = 0.15
test = 0.2

[train]
embedding_dim = 16
hidden_dim = 24
epochs = 12
patience = 12
batch_size = 16
learning_rate = 0.01
min_char_count = 1

[tasks.tiny_ner]
labels = ["PROJ", "PERS", "EVT"]
offline = "offline/tiny_ner.templates.json"
"""


def write_tiny_tagger_blueprint(root: Path, config: str = TINY_TAGGER_CONFIG) -> Path:
    directory = root / "blueprints" / "tiny_tagger"
    (directory / "offline").mkdir(parents=True)
    (directory / "blueprint.toml").write_text(config, encoding="utf-8")
    (directory / "offline" / "tiny_ner.templates.json").write_text(
        json.dumps(TAGGER_TEMPLATES, ensure_ascii=False), encoding="utf-8"
    )
    return directory


def tiny_tagger_config(train_settings: str) -> str:
    """``TINY_TAGGER_CONFIG`` with more ``[train]`` settings (TOML lines)."""
    return TINY_TAGGER_CONFIG.replace("min_char_count = 1", "min_char_count = 1\n" + train_settings)


def forge_tiny_tagger(root: Path, config: str = TINY_TAGGER_CONFIG) -> Path:
    """Writes the `tiny_tagger` blueprint with ``config`` into ``root`` and forges it; gives ``root``."""
    from forge.blueprint import load_blueprint
    from forge.pipeline import BuildOptions, build
    from forge.workspace import Workspace

    write_tiny_tagger_blueprint(root, config)
    workspace = Workspace(root)
    build(load_blueprint("tiny_tagger", workspace.blueprints), workspace, BuildOptions())
    return root


@pytest.fixture(scope="session")
def tiny_tagger_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace whose `tiny_tagger` blueprint has been forged end to end (torch, a few seconds)."""
    return forge_tiny_tagger(tmp_path_factory.mktemp("tagger"))


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


def forge_builtin(tmp_path_factory: pytest.TempPathFactory, blueprint: str) -> Path:
    """A built-in blueprint forged offline: by `make test` ahead of the session, or here."""
    return preforged(blueprint) or forge_into(tmp_path_factory.mktemp(blueprint), blueprint)


@pytest.fixture(scope="session")
def builtin_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in text_classification blueprint (is_question, confirmation)."""
    return forge_builtin(tmp_path_factory, "text_classification")


@pytest.fixture(scope="session")
def builtin_sentiment_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in sentiment_analysis blueprint."""
    return forge_builtin(tmp_path_factory, "sentiment_analysis")


@pytest.fixture(scope="session")
def builtin_ner_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in sequence_tagging_ner blueprint (about two minutes)."""
    return forge_builtin(tmp_path_factory, "sequence_tagging_ner")


@pytest.fixture(scope="session")
def rust_build() -> Path:
    """The release build of the Rust example binary and C library (cargo caches it)."""
    import subprocess

    # Two invocations: a target filter such as --example applies to every package of a cargo call.
    for what in (["-p", "cerebellum", "--example", "cerebellum_lines"], ["-p", "cerebellum-ffi", "--lib"]):
        subprocess.run(["cargo", "build", "--release", "-q", *what], cwd=REPO, check=True)
    return cargo_target_dir() / "release"


def cargo_version() -> str:
    """The workspace's package version (Cargo.toml)."""
    import tomllib

    return tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["package"]["version"]


def c_library_soname() -> str:
    """The SONAME cerebellum-ffi's build.rs gives libcerebellum.so on Linux: what a linked program asks for."""
    return f"libcerebellum.so.{cargo_version().split('.')[0]}"


def pinned_tokenizer(ngram_min: int = 1, ngram_max: int = 2, boundary_tokens: bool = True) -> Tokenizer:
    from forge.chartable import TABLE_PATH, pinned_table

    spec = pb.TokenizerSpec(ngram_min=ngram_min, ngram_max=ngram_max, boundary_tokens=boundary_tokens)
    return Tokenizer(CharTable(pinned_table(), TABLE_PATH), spec)


@pytest.fixture(scope="session")
def tokenizer() -> Tokenizer:
    return pinned_tokenizer()


def rewrite_preprocessor(directory: Path, edit: Callable[[pb.Preprocessor], None]) -> None:
    """Apply ``edit`` to a bundle's preprocessor and re-sign it, as a forge would."""
    envelope = pb.PreprocessorFile()
    envelope.ParseFromString((directory / cb.PREPROCESSOR_FILE).read_bytes())
    pre = pb.Preprocessor()
    pre.ParseFromString(envelope.preprocessor)
    edit(pre)
    (directory / cb.PREPROCESSOR_FILE).write_bytes(cb.wrap_preprocessor(pre))


def damaged_copy(bundle: Path, target: Path, edit: Callable[[pb.Preprocessor], None]) -> Path:
    """A copy of ``bundle`` at ``target`` whose preprocessor ``edit`` changed (and re-signed)."""
    shutil.copytree(bundle, target)
    rewrite_preprocessor(target, edit)
    return target
