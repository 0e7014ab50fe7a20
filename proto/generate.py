"""Regenerate the committed Python protobuf code from the schemas (proto/, conformance/).

Run from anywhere: ``python proto/generate.py``. The generated modules are
committed so that installing the runtime never needs protoc; the test suite
regenerates them into a temporary directory and fails if they are stale.

protoc is pinned to 25.x (grpcio-tools 1.62): its Python code has no runtime
version check, so the runtime works with protobuf 4.25 through 7.x, where
newer protoc output refuses any protobuf runtime older than itself. The pinned
tool lives in its own virtual environment under ~/.cache/model_foundry, made
with uv on first use, because grpcio-tools 1.62 itself needs protobuf < 5.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GRPCIO_TOOLS = "grpcio-tools==1.62.3"  # protoc 25.1
TOOL_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "model_foundry" / "protoc-25"

# (include root, schema relative to it) -> generated module (relative to the repo root)
OUTPUTS = {
    ("proto", "cerebellum/v1/bundle.proto"): "runtimes/python/cerebellum/_proto/bundle_pb2.py",
    ("proto", "onnx/subset.proto"): "runtimes/python/cerebellum/_proto/onnx_subset_pb2.py",
    ("conformance", "testee.proto"): "conformance/_proto/testee_pb2.py",
}


def protoc_python() -> Path:
    """The Python of the pinned tool environment, made on first use."""
    python = TOOL_VENV / "bin" / "python"
    stamp = TOOL_VENV / ".installed"
    if not stamp.exists() or stamp.read_text() != GRPCIO_TOOLS:
        uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
        subprocess.run([uv, "venv", "--quiet", "--clear", "--python", sys.executable, str(TOOL_VENV)], check=True)
        subprocess.run([uv, "pip", "install", "--quiet", "--python", str(python), GRPCIO_TOOLS], check=True)
        stamp.write_text(GRPCIO_TOOLS)
    return python


def generate(out_root: Path) -> list[Path]:
    """Compile every schema and place the modules under ``out_root``."""
    python = protoc_python()
    written = []
    for (include, schema), target in OUTPUTS.items():
        with tempfile.TemporaryDirectory() as tmp:
            args = [
                "-m",
                "grpc_tools.protoc",
                f"-I{ROOT / include}",
                f"--python_out={tmp}",
                str(ROOT / include / schema),
            ]
            if subprocess.run([str(python), *args]).returncode != 0:
                raise RuntimeError(f"protoc failed on {schema}")
            produced = Path(tmp) / schema.replace(".proto", "_pb2.py")
            dest = out_root / target
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(produced, dest)
            written.append(dest)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT, help="root to write under (default: the repo)")
    args = parser.parse_args()
    for path in generate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
