"""Writing bundles: provenance, the three files, and the latency a model card reports."""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from cerebellum import bundle as cb
from cerebellum._proto import bundle_pb2 as pb

from . import __version__
from .files import replace_directory, sha256_file
from .trainers import TaskContext


def provenance(ctx: TaskContext, trainer: str, report: dict[str, Any]) -> pb.Provenance:
    return pb.Provenance(
        blueprint=ctx.blueprint.name,
        forge_version=__version__,
        data_sha256=report["data_sha256"],
        config_sha256=sha256_file(ctx.blueprint.config_path),
        seed=ctx.blueprint.seed,
        created_at=bundle_provenance_time(),
        trainer=trainer,
        estimator=report["estimator"],
    )


def metrics_header(report: dict[str, Any]) -> tuple[pb.Metrics, dict[str, Any] | None]:
    """Bundle metrics with the split sizes filled in, and the test metrics of ``report`` (if any)."""
    metrics = pb.Metrics(
        split="test",
        train_rows=report["rows"]["train"],
        dev_rows=report["rows"]["dev"],
        test_rows=report["rows"]["test"],
    )
    return metrics, report["metrics"].get("test")


def bundle_provenance_time() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")  # reproducible builds pin the clock
    moment = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def write_bundle(directory: Path, pre: pb.Preprocessor, onnx_bytes: bytes, card: str) -> Path:
    """Write the three bundle files into a staging folder, then swap it into place."""
    staging = directory.with_name(f".{directory.name}.staging")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    (staging / cb.MODEL_FILE).write_bytes(onnx_bytes)
    (staging / cb.PREPROCESSOR_FILE).write_bytes(cb.wrap_preprocessor(pre))
    (staging / cb.CARD_FILE).write_text(card, encoding="utf-8")
    replace_directory(staging, directory)
    return directory


def measure_latency(model: Any, texts: list[str], passes: int = 3, call: Any = None) -> dict[str, float]:
    """Single-query latency of ``call`` (default ``model.predict``) over every text, ``passes`` times, in µs."""
    call = call or model.predict
    for text in texts[:200]:
        call(text)
    samples = np.empty(len(texts) * passes, dtype=np.int64)
    for i in range(len(samples)):
        text = texts[i % len(texts)]
        start = time.perf_counter_ns()
        call(text)
        samples[i] = time.perf_counter_ns() - start
    micro = samples / 1000.0
    return {
        "p50_us": float(np.percentile(micro, 50)),
        "p90_us": float(np.percentile(micro, 90)),
        "p99_us": float(np.percentile(micro, 99)),
        "mean_chars": float(np.mean([len(t) for t in texts])),
        "runs": len(samples),
    }
