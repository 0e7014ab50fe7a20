"""Side by side: every way to run a forged classifier, against scikit-learn and fastText.

For each dataset this forges a bundle from its train/dev/test files (in a scratch
workspace), then runs ALL of its test texts, one query at a time, through:

- rust native / rust tract: the `latency` example of the Rust crate (no Python in the loop);
- rust via python: ``cerebellum.load(dir, backend="rust")``;
- python native / python onnxruntime: ``cerebellum.load(dir)`` and ``evaluator="onnx"``;
- scikit-learn: the float32 model as trained (the forge's tokenizer and TF-IDF, the chosen C,
  every feature), refitted here and timed as ``pipeline.predict([text])``;
- fastText (when the ``fasttext`` module is importable): supervised, quantized, saved as .ftz.

and prints accuracy, size, p50/p99 single-query latency and the p50 ratio to native Rust.

    python tests/benchmarks/compare_classifiers.py [--datasets ../shared/datasets]
        [--only snips,smp2017,builtin] [--models models] [--work DIR]

``builtin`` runs the bundles already in --models (is_question, confirmation, sentiment) on the
repository's processed test splits. Results also go to WORK/results.json. Not a pytest test.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DATASETS = {"snips": "snips_intent", "smp2017": "smp2017_intent"}
BUILTIN = ("is_question", "confirmation", "sentiment")
CHOICES = (*DATASETS, "builtin")
BLUEPRINT = "compare"
SEED = 13
BUNDLE_FILES = ("model.onnx", "preprocessor.bin")
RUST_NATIVE = "rust native"
FASTTEXT_INSTALL = "pip install fasttext-wheel (into .venv; not a project dependency)"

# The [train] table of blueprints/text_classification, so imported datasets are forged the same way.
TRAIN_TABLE = """
[train]
ngram_range = [1, 2]
boundary_tokens = true
min_df = 1
max_features = 14000
C = [1.0, 3.0, 10.0, 30.0, 100.0]
class_weight = "balanced"
"""


@dataclass(frozen=True)
class Case:
    """One bundle and the labelled texts it is compared on."""

    name: str
    bundle: Path
    train: Path  # processed train.jsonl (scikit-learn and fastText fit on it)
    test: Path  # processed test.jsonl
    build: Path  # the forge's build/<task> folder (train.json)
    params: dict[str, Any]  # the task's [train] table
    seed: int


@dataclass
class Engine:
    name: str
    accuracy: float
    bytes: int | None
    p50_us: float
    p99_us: float
    mean_us: float
    passes: int
    calls: int
    labels: list[str] = field(repr=False)
    note: str = ""


@dataclass(frozen=True)
class Timing:
    p50_us: float
    p99_us: float
    mean_us: float
    calls: int


# -- helpers ---------------------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest rank, as the Rust example computes it."""
    if not sorted_values:
        return 0.0
    rank = math.ceil(q * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def summarize(samples_ns: list[int]) -> Timing:
    micros = sorted(s / 1000.0 for s in samples_ns)
    mean = sum(micros) / len(micros) if micros else 0.0
    return Timing(quantile(micros, 0.5), quantile(micros, 0.99), mean, len(micros))


def time_calls(call: Callable[[str], str], texts: Sequence[str], passes: int) -> tuple[list[str], Timing]:
    """One warm-up pass (whose answers are returned), then ``passes`` timed passes, one call per text."""
    answers = [call(text) for text in texts]
    samples: list[int] = []
    clock = time.perf_counter_ns
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(passes):
            for text in texts:
                start = clock()
                call(text)
                samples.append(clock() - start)
    finally:
        if was_enabled:
            gc.enable()
    return answers, summarize(samples)


def accuracy(predicted: Sequence[str], gold: Sequence[str]) -> float:
    return sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold) if gold else 1.0


def bundle_bytes(bundle: Path) -> int:
    return sum((bundle / name).stat().st_size for name in BUNDLE_FILES)


def measured(name: str, call: Callable[[str], str], texts: list[str], gold: list[str], passes: int) -> Engine:
    labels, t = time_calls(call, texts, passes)
    return Engine(name, accuracy(labels, gold), None, t.p50_us, t.p99_us, t.mean_us, passes, t.calls, labels)


# -- forging ---------------------------------------------------------------------------------------


def forge_executable() -> str:
    beside = Path(sys.executable).with_name("forge")
    found = str(beside) if beside.exists() else shutil.which("forge")
    if not found:
        raise SystemExit("the forge command is not installed: run `make setup`")
    return found


def write_blueprint(root: Path, task: str) -> None:
    directory = root / "blueprints" / BLUEPRINT
    directory.mkdir(parents=True, exist_ok=True)
    head = f'[blueprint]\nkind = "classification"\ntrainer = "tfidf_linear"\nseed = {SEED}\n'
    config = f"{head}{TRAIN_TABLE}\n[tasks.{task}]\n"
    (directory / "blueprint.toml").write_text(config, encoding="utf-8")


def forge_dataset(key: str, datasets: Path, work: Path) -> Case | str:
    task = DATASETS[key]
    data = datasets / task
    if not (data / "train.jsonl").exists():
        return f"skipped: {data}/train.jsonl not found (--datasets)"
    root = work / "forge" / key
    if root.exists():
        shutil.rmtree(root)
    write_blueprint(root, task)
    command = [forge_executable(), "build", "--blueprint", BLUEPRINT, "--task", task, "--data", str(data)]
    started = time.monotonic()
    print(f"  forging {task} from {data} ...", flush=True)
    done = subprocess.run([*command, "--root", str(root)], capture_output=True, text=True, env=plain_env())
    output = done.stdout + done.stderr
    if done.returncode != 0:
        print(output)
        return f"skipped: forge build failed (exit {done.returncode})"
    for line in output.splitlines():
        if "test accuracy" in line or "verify:" in line:
            print("   " + line.strip())
    print(f"  forged in {time.monotonic() - started:.0f} s", flush=True)
    processed = root / "datasets" / "processed" / task
    model, build = root / "models" / task, root / "build" / task
    return Case(key, model, processed / "train.jsonl", processed / "test.jsonl", build, load_train_table(), SEED)


def load_train_table() -> dict[str, Any]:
    import tomllib

    return tomllib.loads(TRAIN_TABLE)["train"]


def plain_env() -> dict[str, str]:
    """No colour or progress-bar escapes in the forge's captured output."""
    return {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "160"}


def builtin_case(task: str, models: Path) -> Case | str:
    from forge.blueprint import BlueprintError, discover, load_blueprint

    bundle = models / task
    processed = REPO / "datasets" / "processed" / task
    if not (bundle / BUNDLE_FILES[1]).exists():
        return f"skipped: no bundle at {bundle} (make models)"
    if not (processed / "test.jsonl").exists():
        return f"skipped: {processed}/test.jsonl is missing (make models)"
    for name in discover(REPO / "blueprints"):
        try:
            blueprint = load_blueprint(name, REPO / "blueprints")
        except BlueprintError:
            continue
        if task in blueprint.tasks:
            spec = blueprint.tasks[task]
            return Case(
                task,
                bundle,
                processed / "train.jsonl",
                processed / "test.jsonl",
                REPO / "build" / task,
                dict(spec.train),
                blueprint.seed,
            )
    return f"skipped: no blueprint in {REPO / 'blueprints'} has a task {task!r}"


def forge_choice(case: Case) -> dict[str, Any]:
    """What the training step chose: weight format, kept features, C (from build/<task>/train.json)."""
    path = case.build / "train.json"
    if not path.exists():
        return {}
    report = json.loads(path.read_text(encoding="utf-8"))
    compression = report.get("compression", {})
    test = report.get("metrics", {}).get("test", {})
    return {
        "chosen_C": report.get("chosen_C"),
        "weight_format": compression.get(
            "weight_format", report.get("weight_format", "float32 (pre-compression build)")
        ),
        "vocabulary": compression.get("vocabulary", "terms"),
        "kept_features": compression.get("kept_features", report.get("vocabulary_size")),
        "trained_features": compression.get("trained_features"),
        "float32_dev_accuracy": compression.get("float32_dev_accuracy"),
        "float32_test_accuracy": compression.get("float32_metrics", {}).get("test", {}).get("accuracy"),
        "bundle_test_accuracy": test.get("accuracy"),
        "candidates": compression.get("candidates", []),
    }


# -- engines ---------------------------------------------------------------------------------------


def cargo_target() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR") or Path.home() / ".cache" / "model_foundry" / "target")


def build_latency_binary() -> Path | str:
    env = {**os.environ, "CARGO_TARGET_DIR": str(cargo_target())}
    command = ["cargo", "build", "--release", "-q", "-p", "cerebellum", "--example", "latency"]
    if shutil.which("cargo") is None:
        return "skipped: cargo is not installed"
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr)
        return f"skipped: `{' '.join(command)}` failed"
    return cargo_target() / "release" / "examples" / "latency"


def rust_binary(binary: Path, case: Case, texts_file: Path, gold: list[str], tract: bool, passes: int) -> Engine:
    command = [str(binary), str(case.bundle), str(texts_file), "--passes", str(passes)]
    done = subprocess.run(command + (["--tract"] if tract else []), capture_output=True, text=True, check=True)
    out = json.loads(done.stdout)
    labels = out["labels"]
    name = "rust tract" if tract else RUST_NATIVE
    calls = out["texts"] * out["passes"]
    return Engine(
        name, accuracy(labels, gold), None, out["p50_us"], out["p99_us"], out["mean_us"], passes, calls, labels
    )


def cerebellum_engine(name: str, case: Case, texts: list[str], gold: list[str], passes: int, **load: str) -> Engine:
    import cerebellum

    model = cerebellum.load(case.bundle, **load)
    engine = measured(name, model.predict, texts, gold, passes)
    engine.note = model.evaluator
    return engine


def sklearn_pipeline(case: Case) -> tuple[Any, list[str]]:
    """The float32 model as the forge trains it, before compression: same tokenizer, TF-IDF and C, all features."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    import cerebellum
    from forge.trainers.tfidf_linear import Params, make_tokenizer

    params = Params.from_config(case.params)
    labels = list(cerebellum.load(case.bundle).labels)
    index = {label: i for i, label in enumerate(labels)}
    report = json.loads((case.build / "train.json").read_text(encoding="utf-8"))
    rows = read_jsonl(case.train)
    vectorizer = TfidfVectorizer(
        analyzer=make_tokenizer(params).terms,
        min_df=params.min_df,
        max_features=params.max_features,
        norm="l2",
        smooth_idf=True,
        sublinear_tf=False,
    )
    estimator = LogisticRegression(
        C=report["chosen_C"],
        class_weight=params.class_weight,
        max_iter=params.max_iter,
        solver=params.solver,
        random_state=case.seed,
    )
    pipeline = make_pipeline(vectorizer, estimator)
    pipeline.fit([r["text"] for r in rows], np.array([index[r["label"]] for r in rows], dtype=np.int64))
    return pipeline, labels


def sklearn_engine(case: Case, texts: list[str], gold: list[str], passes: int) -> Engine | str:
    if not (case.build / "train.json").exists() or not case.train.exists():
        return f"skipped: needs {case.build}/train.json and {case.train}"
    started = time.monotonic()
    pipeline, labels = sklearn_pipeline(case)
    fit_seconds = time.monotonic() - started
    engine = measured("scikit-learn", lambda text: labels[int(pipeline.predict([text])[0])], texts, gold, passes)
    engine.bytes = len(pickle.dumps(pipeline, protocol=pickle.HIGHEST_PROTOCOL))
    features = len(pipeline[0].vocabulary_)
    engine.note = f"float32, {features} features, pickled; fit {fit_seconds:.0f} s"
    return engine


FASTTEXT_CUTOFF = 10_000  # rows of the input matrix kept by quantize (PQ time grows with it)
FASTTEXT_SPLIT = re.compile(r"([\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]|[^\w\s])")


def fasttext_text(text: str) -> str:
    """fastText splits on whitespace: CJK characters and punctuation become tokens of their own."""
    return " ".join(FASTTEXT_SPLIT.sub(r" \1 ", text.lower()).split())


def fasttext_predict(native: Any, labels: list[str], text: str) -> str:
    """The top label; through the C++ binding because fasttext-wheel 0.9.2's predict() calls
    np.array(copy=False), which numpy 2 refuses."""
    found = native.predict(fasttext_text(text) + "\n", 1, 0.0, "strict")
    return labels[int(found[0][1][len("__label__") :])] if found else labels[0]


def fasttext_engine(case: Case, texts: list[str], gold: list[str], passes: int, work: Path) -> Engine | str:
    try:
        import fasttext
    except ImportError:
        return f"skipped: the fasttext module is not importable ({FASTTEXT_INSTALL})"
    labels = sorted({r["label"] for r in read_jsonl(case.train)})
    train_file = work / "fasttext.train.txt"
    with train_file.open("w", encoding="utf-8") as fh:
        for row in read_jsonl(case.train):
            fh.write(f"__label__{labels.index(row['label'])} {fasttext_text(row['text'])}\n")
    started = time.monotonic()
    model = fasttext.train_supervised(
        input=str(train_file),
        epoch=25,
        lr=0.5,
        wordNgrams=2,
        dim=50,
        minCount=1,
        bucket=200_000,
        minn=0,
        maxn=0,
        loss="softmax",
        thread=1,
        seed=case.seed,
        verbose=0,
    )
    float_accuracy = accuracy([fasttext_predict(model.f, labels, text) for text in texts], gold)
    model.quantize(input=str(train_file), retrain=True, qnorm=True, cutoff=FASTTEXT_CUTOFF, thread=1, verbose=0)
    fit_seconds = time.monotonic() - started
    path = work / "model.ftz"
    model.save_model(str(path))
    native = model.f
    engine = measured("fastText (.ftz)", lambda text: fasttext_predict(native, labels, text), texts, gold, passes)
    engine.bytes = path.stat().st_size
    engine.note = f"quantized (unquantized accuracy {float_accuracy:.4f}), dim 50, bigrams; fit {fit_seconds:.0f} s"
    return engine


# -- one case --------------------------------------------------------------------------------------


def run_case(case: Case, binary: Path | str, work: Path, passes: int) -> dict[str, Any]:
    rows = read_jsonl(case.test)
    texts, gold = [r["text"] for r in rows], [r["label"] for r in rows]
    scratch = work / "engines" / case.name
    scratch.mkdir(parents=True, exist_ok=True)
    texts_file = scratch / "texts.txt"
    texts_file.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    engines: list[Engine] = []
    skipped: dict[str, str] = {}

    def attempt(name: str, make: Callable[[], Engine | str]) -> None:
        print(f"  {name} ...", flush=True)
        try:
            result = make()
        except Exception as exc:  # one engine failing must not lose the others' figures
            result = f"failed: {type(exc).__name__}: {exc}"
        if isinstance(result, str):
            skipped[name] = result
            print(f"  {name}: {result}")
        else:
            engines.append(result)

    if isinstance(binary, Path):
        attempt(RUST_NATIVE, lambda: rust_binary(binary, case, texts_file, gold, False, passes * 4))
        attempt("rust tract", lambda: rust_binary(binary, case, texts_file, gold, True, passes))
    else:
        skipped[RUST_NATIVE] = skipped["rust tract"] = binary
    attempt("rust via python", lambda: rust_via_python(case, texts, gold, passes))
    attempt("python native", lambda: cerebellum_engine("python native", case, texts, gold, passes))
    attempt(
        "python onnxruntime",
        lambda: cerebellum_engine("python onnxruntime", case, texts, gold, passes, evaluator="onnx"),
    )
    attempt("scikit-learn", lambda: sklearn_engine(case, texts, gold, max(3, passes // 2)))
    attempt("fastText", lambda: fasttext_engine(case, texts, gold, passes, scratch))
    size = bundle_bytes(case.bundle)
    for engine in engines:
        if engine.bytes is None:
            engine.bytes = size
    return {
        "case": case.name,
        "bundle": str(case.bundle),
        "test_rows": len(texts),
        "forge": forge_choice(case),
        "engines": engines,
        "skipped": skipped,
    }


def rust_via_python(case: Case, texts: list[str], gold: list[str], passes: int) -> Engine | str:
    try:
        import cerebellum_rs  # noqa: F401
    except ImportError:
        return "skipped: the cerebellum_rs module is not built (make rust-module)"
    return cerebellum_engine("rust via python", case, texts, gold, passes, backend="rust")


# -- report ----------------------------------------------------------------------------------------


def print_table(result: dict[str, Any]) -> None:
    forge = result["forge"]
    chose = (
        f"forge chose {forge.get('weight_format')} weights, {forge.get('kept_features')} {forge.get('vocabulary')} of "
        f"{forge.get('trained_features') or '?'} features, C={forge.get('chosen_C')}"
        if forge
        else "no build/<task>/train.json"
    )
    print(f"\n== {result['case']}: {result['test_rows']} test texts; {chose}")
    engines: list[Engine] = result["engines"]
    rust = next((e for e in engines if e.name == RUST_NATIVE), None)
    columns = ("accuracy", 8), ("bytes", 11), ("p50 µs", 9), ("p99 µs", 9), ("p50/rust", 9), ("≠rust", 6)
    header = f"{'engine':<20} " + " ".join(f"{name:>{width}}" for name, width in columns) + "  note"
    print(header)
    print("-" * len(header))
    for e in engines:
        ratio = f"{e.p50_us / rust.p50_us:.1f}x" if rust and rust.p50_us > 0 else "-"
        differ = str(sum(a != b for a, b in zip(e.labels, rust.labels, strict=True))) if rust else "-"
        size = f"{e.bytes:,}" if e.bytes is not None else "-"
        print(
            f"{e.name:<20} {e.accuracy:>8.4f} {size:>11} {e.p50_us:>9.1f} {e.p99_us:>9.1f} {ratio:>9} {differ:>6}  "
            f"{e.note}"
        )
    for name, why in result["skipped"].items():
        print(f"{name:<20} {why}")


def to_json(result: dict[str, Any]) -> dict[str, Any]:
    rust = next((e for e in result["engines"] if e.name == RUST_NATIVE), None)
    engines = []
    for e in result["engines"]:
        entry = {k: v for k, v in asdict(e).items() if k != "labels"}
        entry["p50_ratio_to_rust_native"] = e.p50_us / rust.p50_us if rust and rust.p50_us > 0 else None
        entry["labels_differing_from_rust_native"] = (
            sum(a != b for a, b in zip(e.labels, rust.labels, strict=True)) if rust else None
        )
        engines.append(entry)
    return {**result, "engines": engines}


# -- main ------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--datasets",
        type=Path,
        default=REPO.parent / "shared" / "datasets",
        help="folder holding snips_intent/ and smp2017_intent/ (default: ../shared/datasets)",
    )
    parser.add_argument("--only", default=",".join(CHOICES), help=f"comma-separated subset of {','.join(CHOICES)}")
    parser.add_argument("--models", type=Path, default=REPO / "models", help="built-in bundles (default: models)")
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="scratch workspace and results.json (default: a new folder under ~/.cache/model_foundry/compare)",
    )
    parser.add_argument("--passes", type=int, default=5, help="timed passes over the test texts (default 5)")
    args = parser.parse_args(argv)
    chosen = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = sorted(set(chosen) - set(CHOICES))
    if unknown or not chosen:
        parser.error(f"--only: unknown {unknown}; choose from {','.join(CHOICES)}")
    args.only = chosen
    if args.passes < 3:
        parser.error("--passes must be at least 3")
    return args


def work_dir(given: Path | None) -> Path:
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        return given.resolve()
    base = Path.home() / ".cache" / "model_foundry" / "compare"
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=base))


def cases(args: argparse.Namespace, work: Path) -> list[Case]:
    found: list[Case] = []
    for key in args.only:
        names = BUILTIN if key == "builtin" else (key,)
        for name in names:
            if key == "builtin":
                case = builtin_case(name, args.models.resolve())
            else:
                case = forge_dataset(name, args.datasets.resolve(), work)
            if isinstance(case, str):
                print(f"{name}: {case}")
            else:
                found.append(case)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    work = work_dir(args.work)
    print(
        f"work folder: {work}  (timings are wall-clock on a shared machine: load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    started = time.monotonic()
    binary = build_latency_binary()
    results = []
    for case in cases(args, work):
        print(f"\n-- {case.name}: {case.bundle}", flush=True)
        result = run_case(case, binary, work, args.passes)
        print_table(result)
        results.append(to_json(result))
    (work / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nwrote {work / 'results.json'} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
