"""Trainers: each owns train, export and verify for one family of models.

A blueprint names its trainer in ``[blueprint] trainer``; this registry maps
that name to the class, so adding a blueprint never needs a forge edit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..blueprint import Blueprint, TaskSpec
from ..workspace import Workspace


class TrainerError(RuntimeError):
    """Training, export or verification cannot proceed."""


class VerificationError(TrainerError):
    """The exported bundle does not reproduce the trained model."""


@dataclass(frozen=True)
class TaskContext:
    blueprint: Blueprint
    task: TaskSpec
    workspace: Workspace

    @property
    def processed(self) -> Path:
        return self.workspace.processed(self.task.name)

    @property
    def build(self) -> Path:
        return self.workspace.build(self.task.name)

    @property
    def model_dir(self) -> Path:
        return self.workspace.model(self.task.name)

    def read_json(self, path: Path) -> Any:
        if not path.exists():
            raise TrainerError(f"{path} is missing: run the earlier steps first (see `forge build --help`)")
        return json.loads(path.read_text(encoding="utf-8"))


def params_from_config(cls: Any, config: dict[str, Any], trainer: str, ignore: tuple[str, ...] = ()) -> None:
    """Refuse unknown keys and values of the wrong type before any step runs (``--set`` and ``[train]``)."""
    import dataclasses
    import typing

    fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in ignore}
    unknown = sorted(set(config) - set(fields))
    if unknown:
        raise TrainerError(
            f"unknown [train] keys for {trainer}: {', '.join(unknown)}; known: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    for key, value in config.items():
        expected = hints[key]
        origin = typing.get_origin(expected)
        allowed = typing.get_args(expected) if origin in (typing.Union, __import__("types").UnionType) else (expected,)
        kinds = tuple(typing.get_origin(a) or a for a in allowed if a is not type(None))
        ok = value is None and type(None) in allowed
        for kind in kinds:
            if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
                ok = True
            elif kind is int and isinstance(value, int) and not isinstance(value, bool):
                ok = True
            elif kind is tuple:  # a list of numbers; a lone number where the trainer accepts one
                items = value if isinstance(value, list | tuple) else [value]
                ok = all(isinstance(v, int | float) and not isinstance(v, bool) for v in items)
            elif kind in (bool, str) and isinstance(value, kind):
                ok = True
        if not ok:
            names = " or ".join("a list of numbers" if k is tuple else k.__name__ for k in kinds)
            raise TrainerError(f"[train] {key} = {value!r} for {trainer}: expected {names}")


class Trainer(Protocol):
    name: str
    kind: str

    def check(self, config: dict[str, Any]) -> None:
        """Validate a task's [train] table (with --set overrides) before any step runs."""
        ...

    def train(self, ctx: TaskContext) -> dict[str, Any]: ...

    def export(self, ctx: TaskContext) -> Path: ...

    def verify(self, ctx: TaskContext) -> dict[str, Any]: ...


# name -> module holding a class `Trainer`; imported on demand, so that
# classification needs no torch.
TRAINERS = {
    "tfidf_linear": "forge.trainers.tfidf_linear",
    "bilstm_crf": "forge.trainers.bilstm_crf",
}


def get_trainer(name: str) -> Trainer:
    import importlib

    if name not in TRAINERS:
        raise TrainerError(f"unknown trainer {name!r}; available: {', '.join(sorted(TRAINERS))}")
    try:
        module = importlib.import_module(TRAINERS[name])
    except ModuleNotFoundError as exc:
        raise TrainerError(
            f"trainer {name!r} needs {exc.name!r}, which is not installed "
            "(the tagging trainer needs the 'tagging' extra: pip install 'model-foundry[tagging]')"
        ) from None
    return module.Trainer()
