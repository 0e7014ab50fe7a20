"""The runtime stays light, and the committed generated code is fresh."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import REPO


def test_runtime_imports_neither_torch_nor_sklearn_nor_forge(tiny_bundle: Path) -> None:
    code = (
        "import sys, cerebellum\n"
        f"m = cerebellum.load({str(tiny_bundle)!r})\n"
        "m.predict('when is dinner?')\n"
        "heavy = sorted(n for n in sys.modules if n.split('.')[0] in {'torch', 'sklearn', 'forge', 'scipy', 'onnx'})\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_generated_protobuf_code_is_fresh(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "proto"))
    try:
        import generate
    finally:
        sys.path.pop(0)
    for written in generate.generate(tmp_path):
        committed = REPO / written.relative_to(tmp_path)
        assert written.read_bytes() == committed.read_bytes(), f"{committed} is stale: run python proto/generate.py"
