"""onnxruntime sessions tuned for single-query latency.

onnxruntime is imported on first use: a classifier the native path serves never needs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .errors import BundleCorruptError, CerebellumError

if TYPE_CHECKING:
    import onnxruntime as ort


def create_session(model: bytes, path: Path) -> ort.InferenceSession:
    try:
        import onnxruntime as ort
    except ImportError:
        raise CerebellumError(
            f"{path}: this bundle runs on onnxruntime, which is not installed: "
            "pip install 'model-foundry-runtime[onnx]' (or load it with backend=\"rust\")"
        ) from None

    options = ort.SessionOptions()
    # One query at a time is the workload: thread pools cost more than they give.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise BundleCorruptError(path, f"onnxruntime cannot load the model: {exc}") from None
