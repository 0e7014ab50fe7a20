"""Blueprints: a folder under blueprints/ with a blueprint.toml and its prompts.

A blueprint names its kind, its trainer and the trainer's hyperparameters,
and lists its tasks with their labels. The forge finds blueprints by looking
for ``blueprints/*/blueprint.toml``; nothing in the forge lists them.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .augment import AugmentConfig, AugmentError
from .grammar import is_grammar
from .names import UnsafeNameError, check_name
from .realtext import RealTextCheck
from .sources import ExtraSource

CONFIG_FILE = "blueprint.toml"
KINDS = ("classification", "tagging")


class BlueprintError(ValueError):
    """A blueprint is missing or its config is invalid."""


def _name(name: str, what: str) -> str:
    try:
        return check_name(name, what)
    except UnsafeNameError as exc:
        raise BlueprintError(str(exc)) from None


@dataclass(frozen=True)
class SplitConfig:
    dev: float = 0.1
    test: float = 0.15


@dataclass(frozen=True)
class RefineConfig:
    min_chars: int = 1
    max_chars: int = 500
    near_duplicate_threshold: float = 0.9  # character 3-gram Jaccard; 0 turns it off


@dataclass(frozen=True)
class TaskSpec:
    name: str
    labels: tuple[str, ...]  # empty: take the labels found in the data
    description: str = ""
    constitution: Path | None = None
    offline: tuple[Path, ...] = ()  # curated .jsonl rows and .grammar.json/.templates.json grammars
    # a grammar's share of the generated rows, relative to the task's other grammars (default 1)
    offline_weights: dict[Path, float] = field(default_factory=dict)
    # text -> expected label (classification) or ["TYPE:entity text", ...] (tagging)
    canaries: dict[str, str | list[str]] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)  # blueprint [train] merged with the task's own
    realtext: tuple[RealTextCheck, ...] = ()  # files of real text scored after verify
    sources: tuple[ExtraSource, ...] = ()  # labelled files trained on beside the generated rows

    def grammar_weight(self, path: Path) -> float:
        return self.offline_weights.get(path, 1.0)


@dataclass(frozen=True)
class Blueprint:
    name: str
    directory: Path
    kind: str
    trainer: str
    description: str
    seed: int
    generate: dict[str, Any]
    train: dict[str, Any]  # the [train] defaults every task starts from
    refine: RefineConfig
    split: SplitConfig
    tasks: dict[str, TaskSpec]
    augment: AugmentConfig = AugmentConfig()

    @property
    def config_path(self) -> Path:
        return self.directory / CONFIG_FILE

    def task(self, name: str) -> TaskSpec:
        try:
            return self.tasks[name]
        except KeyError:
            raise BlueprintError(
                f"blueprint {self.name!r} has no task {name!r}; its tasks: {', '.join(self.tasks)}"
            ) from None

    def with_task(self, spec: TaskSpec) -> Blueprint:
        """A copy that also holds ``spec`` (used to train an imported dataset)."""
        tasks = dict(self.tasks)
        tasks[spec.name] = spec
        return Blueprint(**{**self.__dict__, "tasks": tasks})


def discover(blueprints_dir: Path) -> dict[str, Path]:
    """Blueprint name -> folder, for every folder holding a blueprint.toml."""
    if not blueprints_dir.is_dir():
        return {}
    return {p.parent.name: p.parent for p in sorted(blueprints_dir.glob(f"*/{CONFIG_FILE}"))}


def _expect(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise BlueprintError(f"{where}: expected {names}, got {type(value).__name__}")
    return value


def _optional_path(directory: Path, value: Any, where: str) -> Path | None:
    if value is None:
        return None
    path = directory / _expect(value, str, where)
    if not path.is_file():
        raise BlueprintError(f"{where}: {path} does not exist")
    return path


def _required_path(directory: Path, value: Any, where: str) -> Path:
    path = _optional_path(directory, value, where)
    if path is None:
        raise BlueprintError(f'{where}: expected a path such as "offline/FILE"')
    return path


def _offline(directory: Path, value: Any, where: str) -> tuple[tuple[Path, ...], dict[Path, float]]:
    """The offline sources: paths, or ``{ path = "...", weight = W }`` tables for grammars
    that should get W times the rows of a grammar without a weight."""
    if value is None:
        return (), {}
    paths: list[Path] = []
    weights: dict[Path, float] = {}
    for i, item in enumerate(value if isinstance(value, list) else [value]):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            paths.append(_required_path(directory, item, at))
            continue
        unknown = sorted(set(item) - {"path", "weight"})
        if unknown:
            raise BlueprintError(f"{at}: unknown keys {unknown}; an offline table has path and weight")
        path = _required_path(directory, item.get("path"), f"{at} path")
        if not is_grammar(path):
            raise BlueprintError(
                f"{at} weight: {path.name} holds curated rows, which are all kept; only grammars take a weight"
            )
        paths.append(path)
        weights[path] = _weight(item.get("weight", 1.0), f"{at} weight")
    repeated = sorted({p.name for p in paths if paths.count(p) > 1})
    if repeated:  # one file listed twice would be read twice, with one weight for both
        raise BlueprintError(f"{where}: {', '.join(repeated)} listed more than once")
    return tuple(paths), weights


def _weight(value: Any, where: str) -> float:
    # bool is an int in Python: `weight = true` is a slip, not a weight of 1; TOML also allows inf and nan
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
        raise BlueprintError(f"{where}: expected a positive number, got {value!r}")
    return float(value)


def _tables(kind: Any, directory: Path, value: Any, where: str) -> tuple[Any, ...]:
    """An array of tables (``[[tasks.NAME.realtext]]``, ``[[tasks.NAME.sources]]``), each read by ``kind``."""
    out = []
    for i, item in enumerate(_expect(value, list, where)):
        try:
            out.append(kind.from_config(_expect(item, dict, f"{where}[{i}]"), directory, f"{where}[{i}]"))
        except ValueError as exc:
            raise BlueprintError(str(exc)) from None
    return tuple(out)


def load_blueprint(name: str, blueprints_dir: Path) -> Blueprint:
    _name(name, "blueprint name")
    found = discover(blueprints_dir)
    if name not in found:
        known = ", ".join(found) or "none"
        raise BlueprintError(f"no blueprint {name!r} in {blueprints_dir} (found: {known})")
    directory = found[name]
    config_path = directory / CONFIG_FILE
    try:
        config = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise BlueprintError(f"{config_path}: {exc}") from None
    return parse_blueprint(name, directory, config)


def parse_blueprint(name: str, directory: Path, config: dict[str, Any]) -> Blueprint:
    where = directory / CONFIG_FILE
    head = _expect(config.get("blueprint", {}), dict, f"{where} [blueprint]")
    kind = head.get("kind")
    if kind not in KINDS:
        raise BlueprintError(f"{where} [blueprint] kind: expected one of {KINDS}, got {kind!r}")
    trainer = _expect(head.get("trainer"), str, f"{where} [blueprint] trainer")
    seed = _expect(head.get("seed", 13), int, f"{where} [blueprint] seed")
    split_cfg = _expect(config.get("split", {}), dict, f"{where} [split]")
    split = SplitConfig(**split_cfg)
    if not (0 < split.dev < 1 and 0 < split.test < 1 and split.dev + split.test < 1):
        raise BlueprintError(f"{where} [split]: dev and test must be fractions that leave rows to train on")
    refine = RefineConfig(**_expect(config.get("refine", {}), dict, f"{where} [refine]"))
    train_defaults = _expect(config.get("train", {}), dict, f"{where} [train]")
    raw_tasks = _expect(config.get("tasks", {}), dict, f"{where} [tasks]")
    if not raw_tasks:
        raise BlueprintError(f"{where}: no [tasks.NAME] table")
    tasks = {}
    for task_name, raw in raw_tasks.items():
        at = f"{where} [tasks.{task_name}]"
        _name(task_name, f"{where}: task name")
        raw = _expect(raw, dict, at)
        labels = tuple(_expect(raw.get("labels", []), list, f"{at} labels"))
        if labels and (len(labels) < 2 or len(set(labels)) != len(labels)):
            raise BlueprintError(f"{at} labels: need at least two distinct labels")
        canaries = _expect(raw.get("canaries", {}), dict, f"{at} canaries")
        for text, expected in canaries.items():
            wanted = [e.partition(":")[0] for e in expected] if isinstance(expected, list) else [expected]
            unknown = [w for w in wanted if labels and w not in labels]
            if unknown or (isinstance(expected, list) and not all(":" in e for e in expected)):
                raise BlueprintError(
                    f"{at} canaries: {text!r} expects {expected!r}; use labels from {list(labels)}"
                    + (' as "TYPE:text"' if kind == "tagging" else "")
                )
        offline, offline_weights = _offline(directory, raw.get("offline"), f"{at} offline")
        tasks[task_name] = TaskSpec(
            name=task_name,
            labels=labels,
            description=raw.get("description", ""),
            constitution=_optional_path(directory, raw.get("constitution"), f"{at} constitution"),
            offline=offline,
            offline_weights=offline_weights,
            canaries=dict(canaries),
            train={**train_defaults, **_expect(raw.get("train", {}), dict, f"{at} train")},
            realtext=_tables(RealTextCheck, directory, raw.get("realtext", []), f"{at} realtext"),
            sources=_tables(ExtraSource, directory, raw.get("sources", []), f"{at} sources"),
        )
    try:
        augment = AugmentConfig.from_config(_expect(config.get("augment", {}), dict, f"{where} [augment]"), "[augment]")
    except AugmentError as exc:
        raise BlueprintError(f"{where} {exc}") from None
    return Blueprint(
        name=name,
        directory=directory,
        kind=kind,
        trainer=trainer,
        description=head.get("description", ""),
        seed=seed,
        generate=_expect(config.get("generate", {}), dict, f"{where} [generate]"),
        train=dict(train_defaults),
        refine=refine,
        split=split,
        tasks=tasks,
        augment=augment,
    )
