"""The conformance harness: its comparisons, a real run, a broken runtime, golden vectors."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from conformance._proto import testee_pb2 as pb
from conformance.accepted import AcceptedListError, load_accepted
from conformance.cli import main as conformance_main
from conformance.compare import compare, same_emission_bits, ulps

from .conftest import REPO


def test_ulps_count_adjacent_floats_across_zero() -> None:
    assert ulps(1.0, 1.0) == 0
    assert ulps(1.0, float(struct.unpack("<f", struct.pack("<I", 0x3F800001))[0])) == 1
    assert ulps(0.0, -0.0) == 0
    smallest = struct.unpack("<f", struct.pack("<I", 1))[0]
    assert ulps(smallest, -smallest) == 2


def _classified(label: str, scores: list[float], bits: float = 0.5) -> pb.Response:
    return pb.Response(
        outcome=pb.Outcome(
            tokens=[pb.Span(text="hi", start=0, end=2)], indices=[3], values=[bits], scores=scores, label=label
        )
    )


def test_compare_is_exact_on_bits_and_tolerant_on_scores() -> None:
    ref = _classified("A", [0.75, 0.25])
    assert compare(ref, _classified("A", [0.75 + 1e-7, 0.25])).ok
    off_by_one_bit = struct.unpack("<f", struct.pack("<I", struct.unpack("<I", struct.pack("<f", 0.5))[0] + 1))[0]
    checks = {m.check for m in compare(ref, _classified("A", [0.75, 0.25], off_by_one_bit)).mismatches}
    assert checks == {"vectors"}
    checks = {m.check for m in compare(ref, _classified("B", [0.74, 0.26])).mismatches}
    assert checks == {"labels", "scores"}
    refused = pb.Response(failure=pb.Failure(kind="corrupt", message="bad"))
    assert [m.check for m in compare(ref, refused).mismatches] == ["refusals"]
    assert compare(refused, refused).ok


def _tagged(emissions: list[float]) -> pb.Response:
    return pb.Response(outcome=pb.Outcome(ids=[2, 3], tags=[0, 0], num_tags=2, emissions=emissions))


def test_native_emissions_must_be_the_anchors_bits_not_merely_close() -> None:
    anchor = _tagged([0.5, -1.25, 3.0, 0.0])
    one_ulp_up = struct.unpack("<f", struct.pack("<I", struct.unpack("<I", struct.pack("<f", 3.0))[0] + 1))[0]
    close = _tagged([0.5, -1.25, one_ulp_up, 0.0])
    assert compare(anchor, close).ok  # within the tolerance used against ONNX engines
    result = compare(anchor, close)
    same_emission_bits(anchor, close, "rust", result)
    assert [m.check for m in result.mismatches] == ["emission_bits"]
    assert "rust" in result.mismatches[0].detail and "at 2" in result.mismatches[0].detail
    result = compare(anchor, anchor)
    same_emission_bits(anchor, _tagged([0.5, -1.25, 3.0, 0.0]), "rust", result)
    assert result.ok and "emission_bits" in result.checked
    # -0.0 and 0.0 are different bits
    result = compare(anchor, anchor)
    same_emission_bits(anchor, _tagged([0.5, -1.25, 3.0, -0.0]), "rust", result)
    assert not result.ok


def test_failure_list_needs_a_reason_and_a_known_check(tmp_path: Path) -> None:
    path = tmp_path / "accepted.toml"
    path.write_text('[[accepted]]\ntask = "t"\ntext = "x"\ncheck = "tags"\nreason = ""\n', encoding="utf-8")
    with pytest.raises(AcceptedListError, match="reason"):
        load_accepted(path)
    path.write_text('[[accepted]]\ntask = "t"\ntext = "x"\ncheck = "vibes"\nreason = "r"\n', encoding="utf-8")
    with pytest.raises(AcceptedListError, match="vibes"):
        load_accepted(path)


def _run(tmp_path: Path, models: Path, *args: str) -> tuple[int, dict]:
    report = tmp_path / f"report-{len(list(tmp_path.glob('report-*')))}.json"
    code = conformance_main(["run", "--models", str(models), "--report", str(report), *args])
    return code, json.loads(report.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_built_in_bundles_conform_in_process_and_through_the_testee(
    tmp_path: Path,
    builtin_workspace: Path,
    builtin_sentiment_workspace: Path,
    builtin_ner_workspace: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The fixed-budget CI run: 2,000 generated inputs per built-in bundle, two Rust runtimes,
    and both ONNX engines against the native evaluators."""
    models = tmp_path / "models"
    data = tmp_path / "processed"  # the sentences the mutation strategy starts from
    for workspace in (builtin_workspace, builtin_sentiment_workspace, builtin_ner_workspace):
        shutil.copytree(workspace / "datasets" / "processed", data, dirs_exist_ok=True)
        for bundle in (workspace / "models").iterdir():
            shutil.copytree(bundle, models / bundle.name)
    code, report = _run(
        tmp_path,
        models,
        "--runtime=rust",
        "--runtime=rust-testee",
        "--runtime=rust-tract",
        "--runtime=python-onnx",
        "--examples=2000",
        f"--data={data}",
        f"--regressions={tmp_path / 'regressions'}",
    )
    print(capsys.readouterr().out)
    assert code == 0, report
    assert {b["task"] for b in report["bundles"]} == {"is_question", "confirmation", "sentiment", "ner_core_entity"}
    for bundle in report["bundles"]:
        assert bundle["examples_total"] == 2000
        assert bundle["failures"] == []
        engines = {"rust", "rust-testee", "rust-tract"} | (
            {"python-onnx"} if bundle["kind"] == "classification" else set()
        )
        assert set(bundle["runtimes"]) == engines
        for stats in bundle["runtimes"].values():
            assert not stats["fails"]
            assert sum(stats["passes"].values()) > 2000 * 4  # every applicable check ran on every input
            assert stats["max_score_abs"] <= report["score_tolerance"]
            assert stats["max_emission_abs"] <= report["emission_tolerance"]
        if bundle["kind"] == "tagging":
            # the testee process computes the in-process module's emission bits
            assert bundle["emission_bits_anchor"] == "rust"
            assert bundle["runtimes"]["rust-testee"]["passes"]["emission_bits"] == 2000
            assert "emission_bits" not in bundle["runtimes"]["rust-tract"]["passes"]


@pytest.mark.slow
def test_a_broken_runtime_is_caught_shrunk_saved_and_can_be_accepted(
    tmp_path: Path, tiny_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A testee that lowercases with the host's Unicode rules instead of the bundle's table."""
    regressions = tmp_path / "regressions"
    broken = ["--runtime=rust-testee", "--testee-arg=--fault", "--testee-arg=lowercase", f"--regressions={regressions}"]
    code, report = _run(tmp_path, tiny_bundle, *broken, "--examples=400")
    assert code == 1
    (bundle,) = report["bundles"]
    assert bundle["failures"], "the fault went unnoticed"
    minimal = min((f["text"] for f in bundle["failures"]), key=len)
    # İ lowercases to two code points (i + combining dot), which shifts every offset after it:
    # the shortest inputs that show it are İ followed by anything that ends or extends a token.
    assert len(minimal) == 2 and minimal[0] == "\u0130", bundle["failures"]
    assert "MISMATCH" in capsys.readouterr().out
    saved = [json.loads(line)["text"] for line in (regressions / "tiny.jsonl").read_text().splitlines()]
    assert minimal in saved

    # The correct testee passes the saved regressions (replayed before anything is generated).
    code, report = _run(tmp_path, tiny_bundle, "--runtime=rust-testee", f"--regressions={regressions}", "--examples=50")
    assert code == 0 and report["bundles"][0]["regressions_replayed"] == len(saved)

    # Accepting the difference lets the broken run pass on that input...
    accepted = tmp_path / "accepted.toml"
    entries = "".join(
        f'[[accepted]]\ntask = "tiny"\nruntime = "rust-testee"\ntext = {json.dumps(f["text"])}\n'
        f'check = "{m["check"]}"\nreason = "test: host lowercasing"\n\n'
        for f in bundle["failures"]
        for m in f["mismatches"]
    )
    accepted.write_text(entries, encoding="utf-8")
    code, report = _run(tmp_path, tiny_bundle, *broken, f"--accepted={accepted}", "--examples=0", "--no-save")
    assert report["bundles"][0]["accepted_hits"] and not report["bundles"][0]["failures"]
    # ...and a listed case that passes again fails the run, so the list cannot go stale.
    code, report = _run(
        tmp_path, tiny_bundle, "--runtime=rust-testee", f"--accepted={accepted}", "--examples=0", "--no-save"
    )
    assert code == 1 and report["bundles"][0]["stale_accepted"]


@pytest.mark.slow
def test_golden_vectors_are_checked_by_cargo_without_python(
    tmp_path: Path, tiny_bundle: Path, tiny_tagger_workspace: Path
) -> None:
    golden = tmp_path / "golden"
    bundles = tmp_path / "models"
    shutil.copytree(tiny_bundle, bundles / "tiny")
    shutil.copytree(tiny_tagger_workspace / "models" / "tiny_ner", bundles / "tiny_ner")
    assert conformance_main(["export", "--models", str(bundles), "--out", str(golden), "--examples=120"]) == 0
    files = sorted(golden.glob("*.golden.pb"))
    assert [f.name for f in files] == ["tiny.golden.pb", "tiny_ner.golden.pb"]
    for path in files:
        parsed = pb.GoldenFile.FromString(path.read_bytes())
        assert len(parsed.cases) > 60 and parsed.model and parsed.preprocessor

    def cargo_golden() -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "CEREBELLUM_GOLDEN_DIR": str(golden)}
        command = ["cargo", "test", "--locked", "-q", "-p", "cerebellum-testee", "--test", "golden", "extra_golden"]
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)

    done = cargo_golden()
    assert done.returncode == 0, done.stdout + done.stderr

    tampered = pb.GoldenFile.FromString(files[1].read_bytes())
    case = next(c for c in tampered.cases if c.expected.outcome.tags)
    case.expected.outcome.tags[0] = (case.expected.outcome.tags[0] + 1) % case.expected.outcome.num_tags
    files[1].write_bytes(tampered.SerializeToString())
    done = cargo_golden()
    assert done.returncode != 0 and "tags" in done.stdout + done.stderr


def _aarch64_testee() -> Path | None:
    done = subprocess.run(
        ["bash", str(REPO / "conformance" / "aarch64.sh"), "path"], capture_output=True, text=True, check=False
    )
    return Path(done.stdout.strip()) if done.returncode == 0 and shutil.which("qemu-aarch64") else None


@pytest.mark.slow
@pytest.mark.skipif(
    _aarch64_testee() is None,
    reason="the aarch64 testee is not built on this machine (make conformance-aarch64 builds it, ~10 minutes cold)",
)
def test_the_aarch64_testee_under_qemu_conforms(tmp_path: Path, tiny_bundle: Path, tiny_tagger_workspace: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(tiny_bundle, models / "tiny")
    shutil.copytree(tiny_tagger_workspace / "models" / "tiny_ner", models / "tiny_ner")
    code, report = _run(tmp_path, models, "--runtime=rust", "--runtime=aarch64", "--examples=500", "--no-save")
    assert code == 0, report
    assert all(b["examples_total"] == 500 and not b["failures"] for b in report["bundles"])
    (tagger,) = [b for b in report["bundles"] if b["kind"] == "tagging"]
    assert tagger["emission_bits_anchor"] == "rust"
    assert tagger["runtimes"]["aarch64"]["passes"]["emission_bits"] == 500


MCU_RUNTIMES = ("cortex-m4", "riscv32")


def _mcu_testees_built() -> bool:
    """Both firmware testees built (conformance/mcu.sh build-testee) and QEMU for both boards."""
    mcu = REPO / "conformance" / "mcu.sh"
    built = all(
        subprocess.run(["bash", str(mcu), "path", runtime], capture_output=True, check=False).returncode == 0
        for runtime in MCU_RUNTIMES
    )
    return built and all(shutil.which(q) for q in ("qemu-system-arm", "qemu-system-riscv32"))


needs_mcu_testees = pytest.mark.skipif(
    not _mcu_testees_built(),
    reason="the firmware testees are not built here (make mcu-testee: Debian packages, a few minutes cold)",
)


@pytest.mark.slow
@needs_mcu_testees
def test_the_firmware_testees_under_qemu_conform_bit_for_bit(
    tmp_path: Path, builtin_workspace: Path, builtin_sentiment_workspace: Path, tiny_tagger_workspace: Path
) -> None:
    """The CI run of the MCU tier: the classifier bundles and a tagger on Cortex-M4F and RISC-V firmware
    under QEMU, every field the same as the reference, scores to the bit, emissions the bits of this
    machine's native evaluator; texts longer than the firmware can tag are counted, not sent."""
    models, data = tmp_path / "models", tmp_path / "processed"
    for workspace in (builtin_workspace, builtin_sentiment_workspace, tiny_tagger_workspace):
        shutil.copytree(workspace / "datasets" / "processed", data, dirs_exist_ok=True)
        for bundle in (workspace / "models").iterdir():
            shutil.copytree(bundle, models / bundle.name)
    runtimes = [f"--runtime={runtime}" for runtime in ("rust", *MCU_RUNTIMES)]
    code, report = _run(tmp_path, models, *runtimes, "--examples=300", f"--data={data}", "--no-save")
    assert code == 0, report
    assert {b["task"] for b in report["bundles"]} == {"is_question", "confirmation", "sentiment", "tiny_ner"}
    for bundle in report["bundles"]:
        assert bundle["examples_total"] == 300 and bundle["failures"] == []
        assert set(bundle["runtimes"]) == {"rust", *MCU_RUNTIMES}
        for name in MCU_RUNTIMES:
            stats = bundle["runtimes"][name]
            assert not stats["fails"]
            if bundle["kind"] == "tagging":
                assert bundle["emission_bits_anchor"] == "rust"
                assert stats["passes"]["tags"] + stats["too_long"] == 300
                assert stats["passes"]["entities"] == stats["passes"]["tags"]
                assert stats["passes"]["emission_bits"] == stats["passes"]["tags"]
            else:
                assert stats["passes"]["scores"] == 300 and stats["too_long"] == 0
                assert stats["max_score_abs"] == 0


@pytest.mark.slow
@needs_mcu_testees
def test_a_fault_in_the_firmware_is_caught(tmp_path: Path, tiny_bundle: Path) -> None:
    """The firmware takes --fault too: the harness sees a firmware that lowercases with the host's rules."""
    broken = ["--runtime=riscv32", "--testee-arg=--fault", "--testee-arg=lowercase", "--no-save"]
    code, report = _run(tmp_path, tiny_bundle, *broken, "--examples=200")
    assert code == 1
    assert report["bundles"][0]["failures"], "the fault went unnoticed"


@pytest.mark.slow
def test_a_bundle_no_runtime_under_test_answers_is_skipped(tmp_path: Path, tiny_tagger_workspace: Path) -> None:
    """python-onnx only runs classifiers (taggers have no native path to compare it with): a tagger is skipped,
    not run empty."""
    tagger = tiny_tagger_workspace / "models" / "tiny_ner"
    code, report = _run(tmp_path, tagger, "--runtime=python-onnx", "--examples=50", "--no-save")
    assert code == 0
    (bundle,) = report["bundles"]
    assert bundle["skipped"] == "no runtime under test answers tagging bundles"
    assert bundle["examples_total"] == 0 and bundle["runtimes"] == {}


def test_a_testee_that_dies_is_a_protocol_mismatch_shrunk_to_the_empty_text(tmp_path: Path, tiny_bundle: Path) -> None:
    dead = ("--runtime=testee", "--testee-command=false", "--examples=20", "--no-save")
    code, report = _run(tmp_path, tiny_bundle, *dead)
    assert code == 1
    failures = report["bundles"][0]["failures"]
    assert failures and all(f["mismatches"][0]["check"] == "protocol" for f in failures)
    assert min(len(f["text"]) for f in failures) == 0
