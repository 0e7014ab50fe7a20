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


class Trainer(Protocol):
    name: str
    kind: str

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
            "(the tagging trainer needs the 'tagging' extra: pip install -e '.[forge,tagging]')"
        ) from None
    return module.Trainer()
