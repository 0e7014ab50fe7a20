"""Names that become paths: tasks, blueprints and the task a bundle declares.

Blueprints and bundles are files people download and share, so a name read
from one must never steer a write outside its folder. A name is
``[A-Za-z0-9_][A-Za-z0-9_.-]*``, at most 128 characters, without ``..``; and
every path built from one is checked to stay under its root.
"""

from __future__ import annotations

from pathlib import Path

from cerebellum.bundle import TASK_NAME_RULE as NAME_RULE
from cerebellum.bundle import valid_task_name


class UnsafeNameError(ValueError):
    """A name would not make a safe file or folder name."""


def check_name(name: object, what: str) -> str:
    """``name`` itself when it is a safe file name; UnsafeNameError saying why otherwise."""
    if not isinstance(name, str) or not valid_task_name(name):
        raise UnsafeNameError(f"{what} {name!r} is not a valid name: use {NAME_RULE}")
    return name


def inside(root: Path, path: Path, what: str) -> Path:
    """``path`` when, resolved, it lies under ``root`` (resolved); UnsafeNameError otherwise."""
    resolved_root = root.resolve()
    resolved = path.resolve()
    if resolved != resolved_root and resolved_root not in resolved.parents:
        raise UnsafeNameError(f"{what} {path} would lie outside {resolved_root}")
    return path
