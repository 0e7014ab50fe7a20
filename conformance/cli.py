"""`conformance run` and `conformance export`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .accepted import AcceptedListError, load_accepted
from .golden import export_golden
from .regressions import RegressionStore
from .report import RunReport, bundles_in
from .runner import RunConfig, run_bundle
from .runtimes import REPO, RUNTIMES, make_runtime

DEFAULT_ACCEPTED = REPO / "conformance" / "accepted.toml"
DEFAULT_REGRESSIONS = REPO / "conformance" / "regressions"


def _examples_dir(models: Path, given: Path | None) -> Path | None:
    """Sentences to mutate: --data, else datasets/processed beside the models folder."""
    if given is not None:
        return given
    guess = models.resolve().parent / "datasets" / "processed"
    return guess if guess.is_dir() else None


def run(args: argparse.Namespace) -> int:
    bundles = bundles_in(args.models, args.bundle)
    accepted = load_accepted(args.accepted)
    regressions = RegressionStore(args.regressions, save=not args.no_save)
    config = RunConfig(examples=args.examples, seed=args.seed)
    runtimes = [make_runtime(name, args.testee_command, args.testee_arg) for name in args.runtime]
    started = time.monotonic()
    reports = []
    try:
        for bundle in bundles:
            print(f"{bundle}: {config.examples} examples against {', '.join(args.runtime)}", flush=True)
            reports.append(
                run_bundle(
                    bundle,
                    runtimes,
                    config,
                    accepted,
                    regressions,
                    _examples_dir(args.models, args.data),
                    progress=lambda line: print(line, flush=True),
                )
            )
    finally:
        for rt in runtimes:
            rt.close()
    report = RunReport(tuple(args.runtime), config, tuple(reports), time.monotonic() - started)
    if args.report:
        report.write_json(args.report)
    print()
    print(report.summary())
    return 0 if report.ok else 1


def export(args: argparse.Namespace) -> int:
    for bundle in bundles_in(args.models, args.bundle):
        path = export_golden(bundle, args.out, args.examples, args.seed, _examples_dir(args.models, args.data))
        print(f"{bundle} -> {path} ({path.stat().st_size:,} bytes)")
    return 0


def fuzz(args: argparse.Namespace) -> int:
    from . import fuzz as fz

    files = args.golden or sorted((REPO / "conformance" / "golden").glob("*.golden.pb"))
    seeds = fz.load_seeds(files)
    if args.runtime == "c-abi":
        from .runtimes import cargo_target_dir

        library = args.library or cargo_target_dir() / "release" / "libcerebellum.so"
        outcome = fz.CLibrary(library).outcome
    else:
        backend = "rust" if args.runtime == "rust" else "python"
        outcome = lambda pre, model: fz.python_outcome(pre, model, backend)  # noqa: E731
    outcomes, seconds = fz.run(seeds, args.count, args.seed, outcome, lambda line: print(line, flush=True))
    print(
        f"{args.count} mutated bundles from {len(seeds)} seeds through {args.runtime} in {seconds:.1f} s "
        f"({args.count / max(seconds, 1e-9):.0f} per second); peak RSS {fz.peak_rss_kib()} KiB"
    )
    for kind, n in sorted(outcomes.items()):
        print(f"  {kind}: {n}")
    failed = sum(n for kind, n in outcomes.items() if kind.startswith(("FAILED", "PANIC")))
    print(f"{args.count - failed} passed, {failed} failed")
    return 1 if failed else 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="conformance",
        description="Prove that a runtime answers exactly like the Python reference, on generated inputs.",
    )
    sub = top.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--models", type=Path, default=Path("models"), help="bundle folder, or a folder of bundles")
        p.add_argument("--bundle", action="append", default=[], help="only this bundle name (repeatable)")
        p.add_argument("--seed", type=int, default=0, help="hypothesis seed (runs are reproducible)")
        p.add_argument(
            "--data", type=Path, help="datasets/processed folder whose sentences are mutated (default: beside --models)"
        )

    p_run = sub.add_parser("run", help="compare runtimes with the reference")
    common(p_run)
    p_run.add_argument(
        "--runtime",
        action="append",
        choices=RUNTIMES,
        required=True,
        help="runtime under test (repeatable): rust (in process), rust-testee (native binary), "
        "aarch64 (cross-built binary under qemu), testee (--testee-command), python (the reference itself); "
        "python-onnx and rust-tract run classifiers on onnxruntime and tract instead of the native linear path",
    )
    p_run.add_argument("--examples", type=int, default=2000, help="generated inputs per bundle (default 2000)")
    p_run.add_argument("--testee-command", help="command of a testee speaking conformance/testee.proto")
    p_run.add_argument("--testee-arg", action="append", default=[], help="extra argument for the testee binary")
    p_run.add_argument("--report", type=Path, help="write the JSON report here")
    p_run.add_argument("--accepted", type=Path, default=DEFAULT_ACCEPTED, help="the failure list (TOML)")
    p_run.add_argument("--regressions", type=Path, default=DEFAULT_REGRESSIONS, help="saved minimal inputs")
    p_run.add_argument("--no-save", action="store_true", help="do not save new counterexamples")
    p_run.set_defaults(func=run)

    p_export = sub.add_parser("export", help="write golden vectors for the Rust test suite")
    common(p_export)
    p_export.add_argument("--out", type=Path, default=REPO / "conformance" / "golden")
    p_export.add_argument("--examples", type=int, default=300, help="inputs per bundle (default 300)")
    p_export.set_defaults(func=export)

    p_fuzz = sub.add_parser("fuzz", help="load mutated bundles: only typed errors, never a crash")
    p_fuzz.add_argument("golden", nargs="*", type=Path, help="golden files to mutate (default: conformance/golden)")
    p_fuzz.add_argument("--runtime", choices=("python", "rust", "c-abi"), default="python")
    p_fuzz.add_argument("--count", type=int, default=10_000)
    p_fuzz.add_argument("--seed", type=int, default=0)
    p_fuzz.add_argument("--library", type=Path, help="libcerebellum.so for --runtime c-abi")
    p_fuzz.set_defaults(func=fuzz)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, AcceptedListError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
