"""onnxruntime sessions tuned for single-query latency."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from .errors import BundleCorruptError


def create_session(model: bytes, path: Path) -> ort.InferenceSession:
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
