"""One version: runtimes/python/cerebellum/VERSION declares it for every Python distribution,
the Cargo workspace repeats it for the crates and the Rust module, and everything else reads it."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest

import cerebellum
import forge

ROOT = Path(__file__).resolve().parent.parent
VERSION_FILE = ROOT / "runtimes/python/cerebellum/VERSION"


def _declared() -> str:
    return VERSION_FILE.read_text().strip()


def test_the_cargo_workspace_repeats_the_declared_version() -> None:
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    assert cargo["workspace"]["package"]["version"] == _declared()


def test_every_distribution_and_crate_reads_the_version_instead_of_stating_it() -> None:
    excluded = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"].get("exclude", [])
    for manifest in ROOT.glob("**/Cargo.toml"):
        if "target" in manifest.parts or manifest.parent == ROOT:
            continue
        package = tomllib.loads(manifest.read_text()).get("package", {})
        if manifest.parent.relative_to(ROOT).as_posix() in excluded:
            # Firmware builds outside the workspace (its own targets and lockfile): it states the version.
            assert package.get("version") == _declared(), manifest
        else:
            assert package.get("version") == {"workspace": True}, manifest
    for pyproject in (ROOT / "pyproject.toml", ROOT / "runtimes/python/pyproject.toml"):
        config = tomllib.loads(pyproject.read_text())
        assert "version" not in config["project"] and "version" in config["project"]["dynamic"], pyproject
        source = pyproject.parent / config["tool"]["setuptools"]["dynamic"]["version"]["file"]
        assert source.resolve() == VERSION_FILE.resolve(), pyproject
    module = tomllib.loads((ROOT / "runtimes/rust/bindings/python/pyproject.toml").read_text())["project"]
    assert "version" not in module and "version" in module["dynamic"]  # maturin reads the crate's


def test_the_packages_report_the_declared_version() -> None:
    assert cerebellum.__version__ == forge.__version__ == _declared()
    assert metadata.version("model-foundry") == metadata.version("model-foundry-runtime") == _declared()


def test_the_rust_module_reports_the_same_version() -> None:
    try:
        installed = metadata.version("cerebellum-rs")
    except metadata.PackageNotFoundError:
        pytest.skip("the Rust module is not installed (make rust-module)")
    assert installed == _declared()
