"""Typed, documented packages: a docstring on every public name, a stub for the Rust module."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import cerebellum

from .conftest import REPO

STUB = REPO / "runtimes/rust/bindings/python/cerebellum_rs.pyi"


def _public_members(obj: type) -> dict[str, object]:
    members = {}
    for name in dir(obj):
        if name.startswith("_"):
            continue
        value = inspect.getattr_static(obj, name)
        if isinstance(value, property):
            members[name] = value.fget
        elif isinstance(value, classmethod | staticmethod):
            members[name] = value.__func__
        elif inspect.isfunction(value):
            members[name] = value
    return members


def test_every_public_name_of_cerebellum_has_a_docstring() -> None:
    undocumented = []
    for name in cerebellum.__all__:
        obj = getattr(cerebellum, name)
        if name == "Model":  # a type alias
            continue
        if not (inspect.getdoc(obj) or "").strip():
            undocumented.append(name)
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for member, value in _public_members(obj).items():
                if not (inspect.getdoc(value) or "").strip():
                    undocumented.append(f"{name}.{member}")
    assert not undocumented, undocumented


def test_cerebellum_is_marked_typed() -> None:
    assert (Path(cerebellum.__file__).parent / "py.typed").exists()


def _stubbed() -> dict[str, set[str]]:
    tree = ast.parse(STUB.read_text())
    names: dict[str, set[str]] = {"": set()}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names[node.name] = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
            names[""].add(node.name)
        elif isinstance(node, ast.FunctionDef):
            names[""].add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[""].add(node.target.id)
    return names


def test_the_rust_module_stub_states_every_public_name() -> None:
    native = pytest.importorskip("cerebellum_rs", reason="the Rust module is not installed (make rust-module)")
    stubbed = _stubbed()
    # maturin packages the extension as cerebellum_rs/cerebellum_rs*.so: the submodule is no API
    public = {n for n in dir(native) if not n.startswith("_") and not inspect.ismodule(getattr(native, n))}
    assert isinstance(native.__version__, str)
    public |= {"__version__"}
    assert public == stubbed[""] - {"LimitsTuple", "Span"}
    for cls in ("Classifier", "Tagger"):
        members = {n for n in dir(getattr(native, cls)) if not n.startswith("_")}
        assert members == stubbed[cls], cls
