"""The distributions as a user installs them: built wheels in a clean virtual environment.

The runtime wheel alone must pull neither the forge's dependencies nor onnxruntime, install
no command, run a classifier on protobuf 5.x, and say how to get onnxruntime when a bundle
needs it. The Rust module's wheel, installed next to it, must serve backend="rust".
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

HEAVY = {"torch", "scikit-learn", "typer", "rich", "hypothesis", "onnxruntime", "onnx", "model-foundry"}


def _uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if not Path(found).exists() and not shutil.which(found):
        pytest.skip("uv is not installed")
    return found


def _run(*args: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def runtime_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    # a copy, so the build leaves nothing in the checkout (and its LICENSE link is resolved)
    source = shutil.copytree(REPO / "runtimes/python", out / "source", ignore=shutil.ignore_patterns("__pycache__"))
    _run(_uv(), "build", "--quiet", "--wheel", "--out-dir", out, source)
    (wheel,) = out.glob("model_foundry_runtime-*.whl")
    return wheel


@pytest.fixture(scope="module")
def clean_venv(tmp_path_factory: pytest.TempPathFactory, runtime_wheel: Path) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "env"
    _run(_uv(), "venv", "--quiet", "--python", sys.executable, venv)
    _run(_uv(), "pip", "install", "--quiet", "--python", venv / "bin/python", runtime_wheel, "protobuf>=5,<6")
    return venv


def _installed(venv: Path) -> set[str]:
    listed = _run(_uv(), "pip", "list", "--format", "json", "--python", venv / "bin/python").stdout
    return {row["name"].lower() for row in json.loads(listed)}


def test_the_runtime_alone_pulls_nothing_heavy_and_installs_no_command(clean_venv: Path) -> None:
    installed = _installed(clean_venv)
    assert {"model-foundry-runtime", "numpy", "protobuf"} <= installed
    assert not installed & HEAVY, sorted(installed & HEAVY)
    commands = {p.name for p in (clean_venv / "bin").iterdir()}
    assert not {"forge", "conformance"} & commands


def test_the_runtime_alone_runs_a_classifier_on_protobuf_5(clean_venv: Path, tiny_bundle: Path) -> None:
    code = (
        "import cerebellum, google.protobuf, sys\n"
        f"m = cerebellum.load({str(tiny_bundle)!r})\n"
        "print(google.protobuf.__version__.split('.')[0], m.evaluator, m.predict('when is dinner?'), "
        "cerebellum.__version__)\n"
        "assert 'onnxruntime' not in sys.modules\n"
    )
    major, evaluator, label, version = _run(clean_venv / "bin/python", "-c", code).stdout.split()
    assert major == "5" and evaluator.startswith("native-")
    assert label in {"Question", "Statement"}
    assert version == (REPO / "runtimes/python/cerebellum/VERSION").read_text().strip()


def test_a_bundle_that_needs_onnxruntime_says_which_extra_to_install(clean_venv: Path, tiny_bundle: Path) -> None:
    code = (
        "import cerebellum\n"
        f"try:\n    cerebellum.load({str(tiny_bundle)!r}, evaluator='onnx')\n"
        "except cerebellum.CerebellumError as exc:\n    print(exc)\n"
    )
    said = _run(clean_venv / "bin/python", "-c", code).stdout
    assert "model-foundry-runtime[onnx]" in said


def test_the_package_is_typed(clean_venv: Path) -> None:
    code = "import cerebellum, pathlib; print((pathlib.Path(cerebellum.__file__).parent / 'py.typed').exists())"
    assert _run(clean_venv / "bin/python", "-c", code).stdout.strip() == "True"


@pytest.fixture(scope="module")
def rust_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Rust module's wheel, built from this checkout (cargo's cache makes it incremental)."""
    out = tmp_path_factory.mktemp("rust-wheel")
    maturin = Path(sys.executable).parent / "maturin"
    if not maturin.exists():
        pytest.skip("maturin is not installed")
    manifest = REPO / "runtimes/rust/bindings/python/Cargo.toml"
    _run(maturin, "build", "--release", "--quiet", "-m", manifest, "-o", out)
    (wheel,) = out.glob("cerebellum_rs-*.whl")
    return wheel


def test_the_rust_wheel_serves_backend_rust_beside_the_runtime(
    tmp_path: Path, runtime_wheel: Path, rust_wheel: Path, tiny_bundle: Path
) -> None:
    venv = tmp_path / "env"
    _run(_uv(), "venv", "--quiet", "--python", sys.executable, venv)
    _run(_uv(), "pip", "install", "--quiet", "--python", venv / "bin/python", runtime_wheel, rust_wheel)
    assert not _installed(venv) & HEAVY
    code = (
        "import cerebellum, sys\n"
        f"path = {str(tiny_bundle)!r}\n"
        "rust, python = cerebellum.load(path, backend='rust'), cerebellum.load(path)\n"
        "texts = ['when is dinner?', 'cancel it', '']\n"
        "assert [rust.predict(t) for t in texts] == [python.predict(t) for t in texts]\n"
        "scores = [(rust.predict_proba(t).tobytes(), python.predict_proba(t).tobytes()) for t in texts]\n"
        "assert all(a == b for a, b in scores)\n"
        "assert 'onnxruntime' not in sys.modules\n"
        "print(type(rust).__name__)\n"
    )
    assert _run(venv / "bin/python", "-c", code).stdout.strip() == "RustTextClassifier"
