"""forge: turn blueprints into micro-model bundles (generate, refine, train, export, verify)."""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as distribution_version
from pathlib import Path

DISTRIBUTION = "model-foundry"


def package_version() -> str:
    """The version of the model-foundry distribution; pyproject.toml is its one source.

    Installed (also editable), the metadata says it; run from a source tree
    that was never installed, pyproject.toml beside the package does.
    """
    try:
        return distribution_version(DISTRIBUTION)
    except PackageNotFoundError:
        return _pyproject_version(Path(__file__).resolve().parent.parent / "pyproject.toml") or "0+unknown"


def _pyproject_version(path: Path) -> str | None:
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return project.get("version") if project.get("name") == DISTRIBUTION else None


__version__ = package_version()
