"""Regenerate the committed Python protobuf code from the schemas (proto/, conformance/).

Run from anywhere: ``python proto/generate.py``. The generated modules are
committed so that installing the runtime never needs protoc; the test suite
regenerates them into a temporary directory and fails if they are stale.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (include root, schema relative to it) -> generated module (relative to the repo root)
OUTPUTS = {
    ("proto", "cerebellum/v1/bundle.proto"): "runtimes/python/cerebellum/_proto/bundle_pb2.py",
    ("proto", "onnx/subset.proto"): "runtimes/python/cerebellum/_proto/onnx_subset_pb2.py",
    ("conformance", "testee.proto"): "conformance/_proto/testee_pb2.py",
}


def generate(out_root: Path) -> list[Path]:
    """Compile every schema and place the modules under ``out_root``."""
    from grpc_tools import protoc  # build-time only dependency

    written = []
    for (include, schema), target in OUTPUTS.items():
        with tempfile.TemporaryDirectory() as tmp:
            args = ["protoc", f"-I{ROOT / include}", f"--python_out={tmp}", str(ROOT / include / schema)]
            if protoc.main(args) != 0:
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
