"""`conformance run`, `conformance export` and `conformance fuzz` (typer, like the forge)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from forge.cli_app import new_app, version_option

from .accepted import AcceptedListError, load_accepted
from .golden import export_golden
from .regressions import RegressionStore
from .report import RunReport, bundles_in
from .runner import RunConfig, run_bundle
from .runtimes import REPO, RUNTIMES, make_runtime

DEFAULT_ACCEPTED = REPO / "conformance" / "accepted.toml"
DEFAULT_REGRESSIONS = REPO / "conformance" / "regressions"
DEFAULT_GOLDEN = REPO / "conformance" / "golden"

# The runtimes `run` compares, as typer choices; runtimes.RUNTIMES stays the one list of them.
RuntimeName = StrEnum("RuntimeName", [(name, name) for name in RUNTIMES])


class FuzzRuntime(StrEnum):
    PYTHON = "python"
    RUST = "rust"
    C_ABI = "c-abi"


app = new_app()
VersionOption = version_option("conformance")


@app.callback()
def _root(
    version: VersionOption = False,
) -> None:
    """Prove that a runtime answers exactly like the Python reference, on generated inputs."""


@contextmanager
def _user_errors() -> Iterator[None]:
    """Missing bundles, a bad failure list, bad values: one line on stderr and exit code 2, no traceback."""
    try:
        yield
    except (FileNotFoundError, AcceptedListError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None


def _examples_dir(models: Path, given: Path | None) -> Path | None:
    """Sentences to mutate: --data, else datasets/processed beside the models folder."""
    if given is not None:
        return given
    guess = models.resolve().parent / "datasets" / "processed"
    return guess if guess.is_dir() else None


# Options `run` and `export` share.
ModelsOption = Annotated[Path, typer.Option("--models", help="Bundle folder, or a folder of bundles.")]
BundleOption = Annotated[
    list[str] | None, typer.Option("--bundle", help="Only this bundle name (repeatable).", show_default=False)
]
SeedOption = Annotated[int, typer.Option("--seed", help="Hypothesis seed (runs are reproducible).")]
DataOption = Annotated[
    Path | None,
    typer.Option("--data", help="datasets/processed folder whose sentences are mutated (default: beside --models)."),
]


@app.command("run")
def run(
    runtime: Annotated[
        list[RuntimeName],
        typer.Option(
            "--runtime",
            help="Runtime under test (repeatable): rust (in process), rust-testee (native binary), "
            "aarch64 (cross-built binary under qemu), cortex-m4 and riscv32 (firmware under qemu-system, "
            "classifiers and taggers), testee (--testee-command), python (the reference itself); "
            "python-onnx runs classifiers on onnxruntime, rust-tract classifiers and taggers on tract, "
            "instead of the native evaluators.",
        ),
    ],
    models: ModelsOption = Path("models"),
    bundle: BundleOption = None,
    seed: SeedOption = 0,
    data: DataOption = None,
    examples: Annotated[int, typer.Option("--examples", help="Generated inputs per bundle.")] = 2000,
    testee_command: Annotated[
        str | None, typer.Option("--testee-command", help="Command of a testee speaking conformance/testee.proto.")
    ] = None,
    testee_arg: Annotated[
        list[str] | None,
        typer.Option("--testee-arg", help="Extra argument for the testee binary (repeatable).", show_default=False),
    ] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write the JSON report here.")] = None,
    accepted: Annotated[
        Path, typer.Option("--accepted", help="The failure list (TOML).", show_default="conformance/accepted.toml")
    ] = DEFAULT_ACCEPTED,
    regressions: Annotated[
        Path, typer.Option("--regressions", help="Saved minimal inputs.", show_default="conformance/regressions")
    ] = DEFAULT_REGRESSIONS,
    no_save: Annotated[bool, typer.Option("--no-save", help="Do not save new counterexamples.")] = False,
) -> None:
    """Compare runtimes with the reference."""
    names = [r.value for r in runtime]
    with _user_errors():
        bundles = bundles_in(models, bundle or [])
        accepted_list = load_accepted(accepted)
        store = RegressionStore(regressions, save=not no_save)
        config = RunConfig(examples=examples, seed=seed)
        runtimes = [make_runtime(name, testee_command, testee_arg or []) for name in names]
        started = time.monotonic()
        reports = []
        try:
            for path in bundles:
                print(f"{path}: {config.examples} examples against {', '.join(names)}", flush=True)
                reports.append(
                    run_bundle(
                        path,
                        runtimes,
                        config,
                        accepted_list,
                        store,
                        _examples_dir(models, data),
                        progress=lambda line: print(line, flush=True),
                    )
                )
        finally:
            for rt in runtimes:
                rt.close()
        summary = RunReport(tuple(names), config, tuple(reports), time.monotonic() - started)
        if report:
            summary.write_json(report)
    print()
    print(summary.summary())
    raise typer.Exit(0 if summary.ok else 1)


@app.command("export")
def export(
    models: ModelsOption = Path("models"),
    bundle: BundleOption = None,
    seed: SeedOption = 0,
    data: DataOption = None,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the golden files.", show_default="conformance/golden")
    ] = DEFAULT_GOLDEN,
    examples: Annotated[int, typer.Option("--examples", help="Inputs per bundle.")] = 300,
) -> None:
    """Write golden vectors for the Rust test suite."""
    with _user_errors():
        for path in bundles_in(models, bundle or []):
            written = export_golden(path, out, examples, seed, _examples_dir(models, data))
            print(f"{path} -> {written} ({written.stat().st_size:,} bytes)")


@app.command("fuzz")
def fuzz(
    golden: Annotated[
        list[Path] | None,
        typer.Argument(help="Golden files to mutate (default: conformance/golden/*.golden.pb).", show_default=False),
    ] = None,
    runtime: Annotated[FuzzRuntime, typer.Option("--runtime", help="Runtime that loads the bundles.")] = (
        FuzzRuntime.PYTHON
    ),
    count: Annotated[int, typer.Option("--count", help="Mutated bundles to load.")] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the mutations.")] = 0,
    library: Annotated[
        Path | None,
        typer.Option("--library", help="libcerebellum.so for --runtime c-abi (default: the release build)."),
    ] = None,
) -> None:
    """Load mutated bundles: only typed errors, never a crash."""
    from . import fuzz as fz

    with _user_errors():
        files = golden or sorted(DEFAULT_GOLDEN.glob("*.golden.pb"))
        seeds = fz.load_seeds(files)
        if runtime is FuzzRuntime.C_ABI:
            from .runtimes import cargo_target_dir

            outcome = fz.CLibrary(library or cargo_target_dir() / "release" / "libcerebellum.so").outcome
        else:
            backend = runtime.value
            outcome = lambda pre, model: fz.python_outcome(pre, model, backend)  # noqa: E731
        outcomes, seconds = fz.run(seeds, count, seed, outcome, lambda line: print(line, flush=True))
    print(
        f"{count} mutated bundles from {len(seeds)} seeds through {runtime.value} in {seconds:.1f} s "
        f"({count / max(seconds, 1e-9):.0f} per second); peak RSS {fz.peak_rss_kib()} KiB"
    )
    for kind, n in sorted(outcomes.items()):
        print(f"  {kind}: {n}")
    failed = sum(n for kind, n in outcomes.items() if kind.startswith(("FAILED", "PANIC")))
    print(f"{count - failed} passed, {failed} failed")
    raise typer.Exit(1 if failed else 0)


def main(argv: list[str] | None = None) -> int:
    """The `conformance` command; returns its exit code (tests call it with ``argv``)."""
    try:
        app(args=argv, prog_name="conformance")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
