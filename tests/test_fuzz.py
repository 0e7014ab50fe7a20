"""Mutated bundles (seeded with the golden files) through every runtime: typed errors only, and the same ones."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance import fuzz

from .conftest import REPO
from .test_error_contract import BACKENDS

GOLDEN = sorted((REPO / "conformance" / "golden").glob("*.golden.pb"))
SEEDS = fuzz.load_seeds(GOLDEN)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.integers(0, len(SEEDS) - 1), mutation=st.integers(0, 2**32 - 1))
def test_mutated_bundles_get_typed_and_equal_answers(which: int, mutation: int) -> None:
    pre, model = fuzz.case(SEEDS[which], random.Random(mutation))
    outcomes = {backend: fuzz.python_outcome(pre, model, backend) for backend in BACKENDS}
    assert not any(o.startswith("FAILED") for o in outcomes.values()), outcomes
    assert len(set(outcomes.values())) == 1, outcomes


def test_c_abi_survives_mutated_bundles(rust_build: Path) -> None:
    library = fuzz.CLibrary(rust_build / "libcerebellum.so")
    outcomes, _ = fuzz.run(SEEDS, 300, 7, library.outcome, lambda line: None)
    assert not any(k.startswith(("FAILED", "PANIC")) for k in outcomes), outcomes
    assert any(k.startswith("loaded") for k in outcomes) and any(k.startswith("refused") for k in outcomes)


@pytest.mark.parametrize("runtime", ["python"])
def test_fuzz_command_reports_counts(runtime: str, capsys: pytest.CaptureFixture[str]) -> None:
    from conformance.cli import main

    assert main(["fuzz", "--runtime", runtime, "--count", "50", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "50 mutated bundles from 4 seeds" in out and "50 passed, 0 failed" in out and "peak RSS" in out


def test_rust_fuzz_driver_runs_a_fixed_count() -> None:
    """The CI lane of the Rust driver (`make fuzz` runs a million)."""
    import subprocess

    from conformance.runtimes import build_native_testee

    binary = build_native_testee().with_name("fuzz-bundles")
    done = subprocess.run(
        [str(binary), "--count", "5000", "--seed", "11", *map(str, GOLDEN)], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5000 passed, 0 failed" in done.stdout and "PANIC" not in done.stdout
