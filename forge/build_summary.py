"""What `forge build --json` prints: per task, the artifacts a build left and their figures.

Read back from the files the steps write (processed/meta.json, train.json,
verify.json, realtext.json and the bundle itself), so the summary says what
is on disk after the build, whichever steps ran.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cerebellum import bundle as cb

from . import __version__
from .trainers import TaskContext


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """A split's scalar figures (accuracy, macro-F1 / precision, recall, F1, rows), not its tables."""
    return {key: value for key, value in metrics.items() if isinstance(value, int | float)}


def task_summary(ctx: TaskContext) -> dict[str, Any]:
    bundle_files = [ctx.model_dir / cb.MODEL_FILE, ctx.model_dir / cb.PREPROCESSOR_FILE]
    has_bundle = all(path.is_file() for path in bundle_files)
    meta = _read_json(ctx.processed / "meta.json") or {}
    train = _read_json(ctx.build / "train.json") or {}
    verify = _read_json(ctx.build / "verify.json")
    realtext = _read_json(ctx.build / "realtext.json") if ctx.task.realtext else None
    return {
        "task": ctx.task.name,
        "bundle": str(ctx.model_dir) if has_bundle else None,
        "bundle_bytes": sum(path.stat().st_size for path in bundle_files) if has_bundle else None,
        "rows": meta.get("rows"),
        "metrics": {split: _headline(m) for split, m in (train.get("metrics") or {}).items() if isinstance(m, dict)},
        "verify": verify,
        "realtext": realtext,
    }


def build_summary(blueprint: str, steps: tuple[str, ...], contexts: list[TaskContext]) -> dict[str, Any]:
    return {
        "ok": True,
        "forge_version": __version__,
        "blueprint": blueprint,
        "steps": list(steps),
        "tasks": [task_summary(ctx) for ctx in contexts],
    }


def failure(blueprint: str, message: str) -> dict[str, Any]:
    return {"ok": False, "forge_version": __version__, "blueprint": blueprint, "error": message}
