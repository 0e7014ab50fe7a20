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
        [--only snips,smp2017,builtin,synthetic150] [--models models] [--work DIR]

``builtin`` runs the bundles already in --models (is_question, confirmation, sentiment) on the
repository's processed test splits. ``synthetic150`` (a scaling test, not in the default set)
generates a 150-intent English-like dataset with a fixed seed, forges it with a 20,000-feature
vocabulary and checks the sized bundle against 1 MB at no more than 0.5 accuracy points below the
float32 model; when the forge's own sizing misses 1 MB it also forges an int8 variant with a
pruned vocabulary. Results also go to WORK/results.json. Not a pytest test.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import pickle
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import accumulate
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DATASETS = {"snips": "snips_intent", "smp2017": "smp2017_intent"}
BUILTIN = ("is_question", "confirmation", "sentiment")
SYNTHETIC = "synthetic150"
DEFAULT_CHOICES = (*DATASETS, "builtin")
CHOICES = (*DEFAULT_CHOICES, SYNTHETIC)  # synthetic150 is a scaling test: only with --only
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


def train_table(**keys: str | int | float) -> str:
    """TRAIN_TABLE with ``keys`` set (replaced where the table has them, else appended)."""
    lines = TRAIN_TABLE.strip("\n").splitlines()
    for key, value in keys.items():
        entry = f"{key} = {json.dumps(value)}"  # JSON strings and numbers are TOML too
        at = next((i for i, line in enumerate(lines) if line.partition("=")[0].strip() == key), None)
        if at is None:
            lines.append(entry)
        else:
            lines[at] = entry
    return "\n" + "\n".join(lines) + "\n"


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
    skip_slow: str = ""  # why scikit-learn and fastText (both trained here) are skipped, if they are


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


def write_blueprint(root: Path, task: str, table: str = TRAIN_TABLE) -> None:
    directory = root / "blueprints" / BLUEPRINT
    directory.mkdir(parents=True, exist_ok=True)
    head = f'[blueprint]\nkind = "classification"\ntrainer = "tfidf_linear"\nseed = {SEED}\n'
    config = f"{head}{table}\n[tasks.{task}]\n"
    (directory / "blueprint.toml").write_text(config, encoding="utf-8")


def forge_dataset(key: str, datasets: Path, work: Path) -> Case | str:
    task = DATASETS[key]
    data = datasets / task
    if not (data / "train.jsonl").exists():
        return f"skipped: {data}/train.jsonl not found (--datasets)"
    return forge_data(key, task, data, work)


def forge_data(name: str, task: str, data: Path, work: Path, table: str = TRAIN_TABLE) -> Case | str:
    """Forge ``data`` (train/dev/test JSONL) as ``task`` in the scratch workspace WORK/forge/<name>."""
    root = work / "forge" / name
    if root.exists():
        shutil.rmtree(root)
    write_blueprint(root, task, table)
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
    return Case(name, model, processed / "train.jsonl", processed / "test.jsonl", build, load_train_table(table), SEED)


def load_train_table(table: str = TRAIN_TABLE) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(table)["train"]


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


# -- synthetic150 ----------------------------------------------------------------------------------

SYNTHETIC_TASK = "synthetic150_intent"
SYNTHETIC_SEED = 150
SYNTHETIC_TOPICS, SYNTHETIC_ACTIONS = 30, 5  # 150 intents: 5 actions in each of 30 topics
SYNTHETIC_ROWS = {"train": 100, "dev": 20, "test": 30}  # per intent
SYNTHETIC_FEATURES = 20_000  # max_features: the 20,000-feature model
SYNTHETIC_TABLE = train_table(max_features=SYNTHETIC_FEATURES)
SYNTHETIC_NOISE_WORDS = 6000  # shared filler vocabulary, Zipf-distributed
SYNTHETIC_CORE, SYNTHETIC_TAIL = 6, 12  # an intent's frequent content words, and its rarer long tail
SYNTHETIC_TAIL_SHARE = 0.15  # chance a content word comes from the tail
SYNTHETIC_BORROW = 0.04  # chance a content word comes from a sibling intent (same topic)
SYNTHETIC_AMBIGUOUS = 0.02  # rows holding only a sibling's content word: not separable by design
SIZE_TARGET = 1_000_000  # bytes (model.onnx + preprocessor.bin)
MAX_DROP_POINTS = 0.5  # test accuracy points below the float32 model
ONSETS = (
    *("b", "bl", "br", "ch", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "kl", "l", "m", "n"),
    *("p", "pl", "pr", "r", "s", "sh", "sk", "sl", "sn", "st", "t", "th", "tr", "v", "w", "z"),
)
VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "ee", "oo", "ou", "y")
CODAS = ("", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ck", "ng", "x")
DETERMINERS = ("the", "a", "my", "our")
FUNCTION_WORDS = ("for", "of", "in", "on", "with", "at", "from", "and", "about", "by", "near", "after", "before")
OPENERS = (
    *("", "", "please", "can you", "could you", "i want to", "i need to", "i would like to"),
    *("hey", "help me", "would you", "let's", "quick question", "ok"),
)
CLOSERS = (
    *("", "", "", "please", "now", "today", "tomorrow", "for me", "right away", "thanks", "asap"),
    *("again", "this week", "tonight"),
)
VERBS = (
    *("show", "find", "check", "book", "cancel", "add", "remove", "set", "play", "send"),
    *("open", "change", "get", "list", "update", "order", "share", "report", "track", "start"),
)


@dataclass(frozen=True)
class Intent:
    label: str
    topic: int
    verb: str  # an English verb, shared with intents of other topics
    content: tuple[str, ...]  # the intent's own made-up words: SYNTHETIC_CORE frequent ones, then the tail
    phrases: tuple[str, ...]  # two-word phrases built from the frequent ones
    topic_words: tuple[str, ...]  # shared by the topic's intents


@dataclass(frozen=True)
class Lexicon:
    intents: list[Intent]
    noise: list[str]
    noise_cumulative: list[float]  # Zipf weights, cumulative, for random.choices


def pseudo_words(rng: random.Random, count: int) -> list[str]:
    """Distinct pronounceable made-up words: one to three onset-vowel-coda syllables."""
    english = (*DETERMINERS, *FUNCTION_WORDS, *VERBS, *OPENERS, *CLOSERS)
    taken = {word for phrase in english for word in phrase.split()}
    words: list[str] = []
    while len(words) < count:
        syllables = rng.choice((1, 2, 2, 3))
        word = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(syllables))
        if 3 <= len(word) <= 11 and word not in taken:
            taken.add(word)
            words.append(word)
    return words


def synthetic_lexicon(rng: random.Random) -> Lexicon:
    """30 topics (a name and 8 topic words each) x 5 actions (a verb and 6 + 12 content words each)."""
    topic_words, content_words = 8, SYNTHETIC_CORE + SYNTHETIC_TAIL
    total = SYNTHETIC_TOPICS * (1 + topic_words) + SYNTHETIC_TOPICS * SYNTHETIC_ACTIONS * content_words
    words = iter(pseudo_words(rng, total + SYNTHETIC_NOISE_WORDS))
    intents: list[Intent] = []
    for topic in range(SYNTHETIC_TOPICS):
        name = next(words)
        shared = tuple(next(words) for _ in range(topic_words))
        for verb in rng.sample(VERBS, SYNTHETIC_ACTIONS):
            content = tuple(next(words) for _ in range(content_words))
            phrases = tuple(f"{content[i]} {rng.choice(content[:SYNTHETIC_CORE])}" for i in range(3))
            intents.append(Intent(f"{name}_{verb}", topic, verb, content, phrases, shared))
    noise = list(words)
    cumulative = list(accumulate(1.0 / (rank + 1) ** 0.9 for rank in range(len(noise))))
    return Lexicon(intents, noise, cumulative)


def synthetic_text(rng: random.Random, intent: Intent, siblings: Sequence[Intent], lexicon: Lexicon) -> str:
    """opener, verb (sometimes a sibling's or any), determiner, content, topic word, filler, closer."""
    words = rng.choice(OPENERS).split()
    roll = rng.random()
    words.append(intent.verb if roll < 0.7 else rng.choice(siblings).verb if roll < 0.85 else rng.choice(VERBS))
    words.append(rng.choice(DETERMINERS))
    if rng.random() < SYNTHETIC_AMBIGUOUS:
        words.append(content_word(rng, rng.choice(siblings)))
    else:
        for _ in range(rng.choice((1, 1, 2))):
            owner = rng.choice(siblings) if rng.random() < SYNTHETIC_BORROW else intent
            words += (rng.choice(owner.phrases) if rng.random() < 0.3 else content_word(rng, owner)).split()
    if rng.random() < 0.7:
        words.append(rng.choice(intent.topic_words))
    for _ in range(rng.choice((0, 1, 1, 2))):
        words += [rng.choice(FUNCTION_WORDS), *rng.choices(lexicon.noise, cum_weights=lexicon.noise_cumulative)]
    words += rng.choice(CLOSERS).split()
    return " ".join(words)


def content_word(rng: random.Random, intent: Intent) -> str:
    tail = rng.random() < SYNTHETIC_TAIL_SHARE
    return rng.choice(intent.content[SYNTHETIC_CORE:] if tail else intent.content[:SYNTHETIC_CORE])


def write_synthetic(folder: Path) -> Path:
    """Deterministic (seed SYNTHETIC_SEED) train/dev/test JSONL of 150 intents; no text repeats across splits."""
    rng = random.Random(SYNTHETIC_SEED)
    lexicon = synthetic_lexicon(rng)
    by_topic: dict[int, list[Intent]] = {}
    for intent in lexicon.intents:
        by_topic.setdefault(intent.topic, []).append(intent)
    folder.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    for split, per_intent in SYNTHETIC_ROWS.items():
        rows: list[dict[str, str]] = []
        for intent in lexicon.intents:
            siblings = [other for other in by_topic[intent.topic] if other is not intent]
            made = 0
            while made < per_intent:
                text = synthetic_text(rng, intent, siblings, lexicon)
                if text not in seen:
                    seen.add(text)
                    rows.append({"text": text, "label": intent.label})
                    made += 1
        rng.shuffle(rows)
        with (folder / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(row) + "\n" for row in rows)
    return folder


def synthetic_cases(work: Path, size_target: int) -> list[Case]:
    """The forge's own sizing, then (if that misses ``size_target``) an int8 pruned-vocabulary variant."""
    data = write_synthetic(work / "data" / SYNTHETIC_TASK)
    counts = {split: sum(1 for _ in (data / f"{split}.jsonl").open(encoding="utf-8")) for split in SYNTHETIC_ROWS}
    print(f"  generated {data}: {counts} rows, {SYNTHETIC_TOPICS * SYNTHETIC_ACTIONS} intents")
    print(f"  e.g. {read_jsonl(data / 'test.jsonl')[0]}")
    found: list[Case] = []
    default = forge_data(SYNTHETIC, SYNTHETIC_TASK, data, work, SYNTHETIC_TABLE)
    if isinstance(default, str):
        print(f"{SYNTHETIC}: {default}")
        return found
    found.append(default)
    size = bundle_bytes(default.bundle)
    if size <= size_target:
        print(f"  {SYNTHETIC}: the default sizing meets {size_target:,} bytes ({size:,}); no variant needed")
        return found
    keep = keep_fraction(default, size, size_target)
    if keep is None:
        print(f"  {SYNTHETIC}: no int8 term candidate in train.json to size a pruned variant from")
        return found
    print(f"  {SYNTHETIC}: {size:,} bytes > {size_target:,}; forging int8 weights with keep_features = {keep}")
    table = train_table(max_features=SYNTHETIC_FEATURES, weights="int8", keep_features=keep)
    pruned = forge_data(f"{SYNTHETIC}-pruned", SYNTHETIC_TASK, data, work, table)
    if isinstance(pruned, str):
        print(f"{SYNTHETIC}-pruned: {pruned}")
    else:
        found.append(replace(pruned, skip_slow=f"skipped: same training data and float32 model as {SYNTHETIC}"))
    return found


def keep_fraction(case: Case, size: int, size_target: int) -> float | None:
    """The vocabulary fraction whose int8 bundle lands about 5% under ``size_target``.

    Bytes per kept term come from the forge's int8 estimate for the full vocabulary; what the bundle
    holds beyond its estimate (graph, tokenizer tables) is taken from the default bundle.
    """
    chosen = forge_choice(case)
    candidates = [c for c in chosen.get("candidates", []) if c["vocabulary"] == "terms"]
    full = max((c for c in candidates if c["weight_format"] == "int8"), key=lambda c: c["features"], default=None)
    picked = next(
        (
            c
            for c in candidates
            if c["features"] == chosen.get("kept_features") and c["weight_format"] == chosen.get("weight_format")
        ),
        None,
    )
    trained = chosen.get("trained_features")
    if full is None or picked is None or not trained:
        return None
    overhead = max(0, size - picked["estimated_bytes"])
    per_term = full["estimated_bytes"] / full["features"]
    terms = (0.95 * size_target - overhead) / per_term
    return round(min(1.0, max(0.01, terms / trained)), 3)


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
    if case.skip_slow:
        skipped["scikit-learn"] = skipped["fastText"] = case.skip_slow
    else:
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


def target_check(result: dict[str, Any], size_target: int) -> dict[str, Any]:
    """The bundle against the issue's target: at most ``size_target`` bytes, at most MAX_DROP_POINTS below float32."""
    forge = result["forge"]
    size = bundle_bytes(Path(result["bundle"]))
    float32, bundle = forge.get("float32_test_accuracy"), forge.get("bundle_test_accuracy")
    drop = 100 * (float32 - bundle) if float32 is not None and bundle is not None else None
    rust = next((e for e in result["engines"] if e.name == RUST_NATIVE), None)
    return {
        "bytes": size,
        "size_target": size_target,
        "float32_test_accuracy": float32,
        "bundle_test_accuracy": bundle,
        "rust_native_test_accuracy": rust.accuracy if rust else None,
        "drop_points": drop,
        "max_drop_points": MAX_DROP_POINTS,
        "meets_size": size <= size_target,
        "meets_accuracy": drop is not None and drop <= MAX_DROP_POINTS + 1e-9,
    }


def print_targets(results: list[dict[str, Any]]) -> None:
    first = results[0]["target"]
    print(
        f"\n== {SYNTHETIC} against the target: {SYNTHETIC_TOPICS * SYNTHETIC_ACTIONS} classes, "
        f"max_features {SYNTHETIC_FEATURES:,}, <= {first['size_target']:,} bytes, "
        f"<= {MAX_DROP_POINTS} points below float32 test accuracy"
    )
    header = (
        f"{'variant':<20} {'weights':<8} {'kept features':<24} {'f32 test':>8} {'bundle':>8} {'rust':>8} "
        f"{'drop pts':>8} {'bytes':>11}  target"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        forge, target = result["forge"], result["target"]
        kept = (
            f"{forge.get('kept_features') or 0:,} of {forge.get('trained_features') or 0:,} {forge.get('vocabulary')}"
        )

        def acc(value: float | None) -> str:
            return f"{value:.4f}" if value is not None else "-"

        drop = f"{target['drop_points']:+.2f}" if target["drop_points"] is not None else "-"
        verdict = "met" if target["meets_size"] and target["meets_accuracy"] else "missed"
        if verdict == "missed":
            verdict += (
                " ("
                + ", ".join(
                    what
                    for what, ok in (("size", target["meets_size"]), ("accuracy", target["meets_accuracy"]))
                    if not ok
                )
                + ")"
            )
        print(
            f"{result['case']:<20} {forge.get('weight_format')!s:<8} {kept:<24} "
            f"{acc(target['float32_test_accuracy']):>8} {acc(target['bundle_test_accuracy']):>8} "
            f"{acc(target['rust_native_test_accuracy']):>8} {drop:>8} {target['bytes']:>11,}  {verdict}"
        )
    print(
        "f32 test: the float32 model before sizing (train.json compression.float32_metrics); bundle: the forge's "
        "test accuracy of the sized bundle; rust: measured above; drop pts = 100 x (f32 test - bundle)"
    )


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
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT_CHOICES),
        help=f"comma-separated subset of {','.join(CHOICES)} (default: {','.join(DEFAULT_CHOICES)})",
    )
    parser.add_argument("--models", type=Path, default=REPO / "models", help="built-in bundles (default: models)")
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="scratch workspace and results.json (default: a new folder under ~/.cache/model_foundry/compare)",
    )
    parser.add_argument("--passes", type=int, default=5, help="timed passes over the test texts (default 5)")
    parser.add_argument(
        "--size-target",
        type=int,
        default=SIZE_TARGET,
        help=f"{SYNTHETIC}: bundle bytes to meet, else a pruned int8 variant is forged too (default {SIZE_TARGET:,})",
    )
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
        if key == SYNTHETIC:
            found += synthetic_cases(work, args.size_target)
            continue
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
    synthetic: list[dict[str, Any]] = []
    for case in cases(args, work):
        print(f"\n-- {case.name}: {case.bundle}", flush=True)
        result = run_case(case, binary, work, args.passes)
        if case.name.startswith(SYNTHETIC):
            result["target"] = target_check(result, args.size_target)
            synthetic.append(result)
        print_table(result)
        results.append(to_json(result))
    if synthetic:
        print_targets(synthetic)
    (work / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nwrote {work / 'results.json'} in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
