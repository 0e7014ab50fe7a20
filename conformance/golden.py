"""`conformance export`: golden vectors the Rust test suite checks without Python (testee.proto GoldenFile)."""

from __future__ import annotations

from pathlib import Path

from cerebellum import bundle as cb

from ._proto import testee_pb2 as pb
from .compare import EMISSION_TOLERANCE, SCORE_TOLERANCE, near_tie
from .runner import golden_cases

FORMAT_VERSION = 1
EXTENSION = ".golden.pb"


def export_golden(bundle: Path, out_dir: Path, count: int, seed: int, examples_dir: Path | None) -> Path:
    reference, cases = golden_cases(bundle, count, seed, examples_dir)
    golden = pb.GoldenFile(
        format_version=FORMAT_VERSION,
        task=reference.task,
        preprocessor=(bundle / cb.PREPROCESSOR_FILE).read_bytes(),
        model=(bundle / cb.MODEL_FILE).read_bytes(),
        score_tolerance=SCORE_TOLERANCE,
        emission_tolerance=EMISSION_TOLERANCE,
    )
    for text, expected in cases:
        if near_tie(expected):
            continue  # a label decided by less than the tolerance is no fixed point for another engine
        golden.cases.add(text=text, expected=expected)
    # The runtime refuses bundles whose task name is no safe file name; the resolved path is checked all the same.
    path = out_dir / f"{reference.task}{EXTENSION}"
    if not cb.valid_task_name(reference.task) or path.resolve().parent != out_dir.resolve():
        raise ValueError(f"bundle task name {reference.task!r} would write outside {out_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_bytes(golden.SerializeToString(deterministic=True))
    return path
