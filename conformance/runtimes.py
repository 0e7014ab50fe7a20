"""Runtimes under test: in process through a Python module, or out of process through the testee protocol."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import cerebellum

from ._proto import testee_pb2 as pb
from .answers import answer, failure_kind
from .protocol import TesteeProcess

REPO = Path(__file__).resolve().parent.parent
RUNTIMES = ("python", "python-onnx", "rust", "rust-tract", "rust-testee", "aarch64", "cortex-m4", "riscv32", "testee")
# The firmware testees (conformance/testee-mcu) under QEMU, by runtime name: classifiers and
# taggers, both evaluated natively by cerebellum-core.
MCU_RUNTIMES = ("cortex-m4", "riscv32")
# The longest text the firmware testees are asked to tag, so that a conformance run under QEMU
# stays within minutes (the firmware's cost per character: README, "Microcontrollers"). Every
# longer input is counted as too_long in the report, never passed silently.
MCU_MAX_TAGGED_CHARS = 5_000


class Runtime(Protocol):
    name: str

    def ask(self, bundle: Path, text: str) -> pb.Response: ...

    def close(self) -> None: ...


class InProcess:
    """A backend of the cerebellum module: "python" (the reference itself) or "rust" (cerebellum_rs).

    ``evaluator="onnx"`` runs classifiers on the ONNX engine (onnxruntime, tract)
    instead of the native linear path, so one run compares the two.
    """

    def __init__(self, name: str, backend: str, evaluator: str = "auto") -> None:
        self.name = name
        self.backend = backend
        self.evaluator = evaluator
        # The Python tagger always runs on onnxruntime; the Rust one has a native path and tract.
        self.classifiers_only = evaluator != "auto" and backend == "python"
        self._models: dict[Path, Any] = {}

    def model(self, bundle: Path) -> Any:
        if bundle not in self._models:
            self._models[bundle] = cerebellum.load(bundle, backend=self.backend, evaluator=self.evaluator)
        return self._models[bundle]

    def ask(self, bundle: Path, text: str) -> pb.Response:
        try:
            model = self.model(bundle)
        except Exception as exc:
            return pb.Response(failure=pb.Failure(kind=failure_kind(exc), message=str(exc)))
        return answer(model, text)

    def close(self) -> None:
        self._models.clear()


class Testee:
    """Any program speaking testee.proto on stdin/stdout."""

    def __init__(
        self, name: str, command: Sequence[str], classifiers_only: bool = False, max_tagged_chars: int | None = None
    ) -> None:
        self.name = name
        self.command = list(command)
        self.classifiers_only = classifiers_only
        # Longer texts are not sent to this runtime for tagging bundles (its memory cannot hold them).
        self.max_tagged_chars = max_tagged_chars
        self._process = TesteeProcess(self.command)

    def ask(self, bundle: Path, text: str) -> pb.Response:
        return self._process.ask(str(bundle.resolve()), text)

    def close(self) -> None:
        self._process.close()


def cargo_target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")


class TesteeUnavailableError(ValueError):
    """A testee that is built from the source tree cannot be built here."""


def _needs_source_tree(runtime: str) -> None:
    # An installed package has no Rust workspace around it to build the testee from.
    if not (REPO / "Cargo.toml").is_file() or not (REPO / "conformance" / "testee-rust").is_dir():
        raise TesteeUnavailableError(
            f"--runtime {runtime} builds the testee from a model_foundry source checkout, and this installation "
            "has none; run it from a checkout, or pass a built binary: --runtime testee --testee-command PATH"
        )


def build_native_testee() -> Path:
    """Build (or find up to date) the release testee binary with the host toolchain."""
    _needs_source_tree("rust-testee")
    if shutil.which("cargo") is None:
        raise TesteeUnavailableError("--runtime rust-testee needs cargo (https://rustup.rs) on PATH")
    built = subprocess.run(["cargo", "build", "--release", "--locked", "--quiet", "-p", "cerebellum-testee"], cwd=REPO)
    if built.returncode != 0:
        raise TesteeUnavailableError(f"cargo could not build the testee (exit status {built.returncode}; see above)")
    return cargo_target_dir() / "release" / "cerebellum-testee"


def build_aarch64_testee() -> Path:
    """Cross-compile the testee for aarch64 (Debian's rustc-web; see conformance/aarch64.sh)."""
    _needs_source_tree("aarch64")
    done = subprocess.run(
        ["bash", str(REPO / "conformance" / "aarch64.sh"), "build"], check=True, stdout=subprocess.PIPE, text=True
    )
    return Path(done.stdout.strip().splitlines()[-1])


def build_mcu_testee(runtime: str) -> None:
    """Build the firmware testee for ``runtime`` with Debian's toolchain (installed on first use; see mcu.sh)."""
    _needs_source_tree(runtime)
    mcu = REPO / "conformance" / "mcu.sh"
    triple = subprocess.run(["bash", str(mcu), "triple", runtime], check=True, stdout=subprocess.PIPE, text=True)
    env = {**os.environ, "MCU_TARGETS": triple.stdout.strip()}
    built = subprocess.run(["bash", str(mcu), "build-testee"], env=env, stdout=subprocess.DEVNULL)
    if built.returncode != 0:
        raise TesteeUnavailableError(f"conformance/mcu.sh could not build the {runtime} testee (see above)")


def make_runtime(name: str, testee_command: str | None = None, testee_args: Sequence[str] = ()) -> Runtime:
    if name in ("python", "rust"):
        return InProcess(name, name)
    if name in ("python-onnx", "rust-tract"):
        return InProcess(name, name.split("-")[0], evaluator="onnx")
    if name == "rust-testee":
        return Testee(name, [str(build_native_testee()), *testee_args])
    if name == "aarch64":
        binary = build_aarch64_testee()
        return Testee(name, ["bash", str(REPO / "conformance" / "aarch64.sh"), "run", str(binary), *testee_args])
    if name in MCU_RUNTIMES:
        build_mcu_testee(name)
        command = ["bash", str(REPO / "conformance" / "mcu.sh"), "run", name, *testee_args]
        return Testee(name, command, max_tagged_chars=MCU_MAX_TAGGED_CHARS)
    if name == "testee":
        if not testee_command:
            raise ValueError("--runtime testee needs --testee-command")
        return Testee(name, [*shlex.split(testee_command), *testee_args])
    raise ValueError(f"unknown runtime {name!r}; choose from {', '.join(RUNTIMES)}")
