"""One version: pyproject.toml declares it, the Cargo workspace repeats it, everything else reads it."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest

import cerebellum
import forge

ROOT = Path(__file__).resolve().parent.parent


def _declared() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_the_cargo_workspace_declares_the_python_version() -> None:
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    assert cargo["workspace"]["package"]["version"] == _declared()


def test_every_crate_and_the_rust_module_take_the_workspace_version() -> None:
    for manifest in ROOT.glob("**/Cargo.toml"):
        if "target" in manifest.parts or manifest.parent == ROOT:
            continue
        package = tomllib.loads(manifest.read_text()).get("package", {})
        assert package.get("version") == {"workspace": True}, manifest
    module = tomllib.loads((ROOT / "runtimes/rust/bindings/python/pyproject.toml").read_text())["project"]
    assert "version" not in module and "version" in module["dynamic"]


def test_the_packages_report_the_installed_version() -> None:
    assert cerebellum.__version__ == forge.__version__ == metadata.version("model-foundry") == _declared()


def test_the_rust_module_reports_the_same_version() -> None:
    try:
        installed = metadata.version("cerebellum-rs")
    except metadata.PackageNotFoundError:
        pytest.skip("the Rust module is not installed (make rust-module)")
    assert installed == _declared()
