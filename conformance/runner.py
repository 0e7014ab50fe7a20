"""Drive the reference and the runtimes under test with hypothesis, bundle by bundle.

For every bundle: replay the saved regressions and the accepted failures,
then run each input strategy for its share of the example budget. A mismatch
that the failure list does not accept stops that strategy; hypothesis then
shrinks it to a minimal input, which is reported and saved as a regression.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed

import cerebellum
from cerebellum.tagger import PAD, UNK
from cerebellum.tokenizer import BOS, EOS

from ._proto import testee_pb2 as pb
from .accepted import Accepted, accepts
from .answers import answer
from .compare import (
    EMISSION_TOLERANCE,
    SCORE_TOLERANCE,
    CaseResult,
    Mismatch,
    compare,
    near_threshold,
    near_tie,
    same_emission_bits,
)
from .protocol import ProtocolError
from .regressions import Regression, RegressionStore
from .runtimes import Runtime
from .strategies import Corpus, budget, strategies

Progress = Callable[[str], None]


@dataclass
class Failure:
    runtime: str
    strategy: str
    text: str  # the minimal input after shrinking
    mismatches: list[Mismatch]
    first_seen: str  # the input that failed first, before shrinking

    def as_dict(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "strategy": self.strategy,
            "text": self.text,
            "first_seen": self.first_seen[:500],
            "mismatches": [{"check": m.check, "detail": m.detail} for m in self.mismatches],
        }


@dataclass
class RuntimeStats:
    """One runtime against the reference on one bundle."""

    passes: Counter = field(default_factory=Counter)  # check -> cases that passed it
    fails: Counter = field(default_factory=Counter)  # check -> cases that failed it
    score_abs: float = 0.0
    score_ulps: int = 0
    emission_abs: float = 0.0
    emission_ulps: int = 0
    too_long: int = 0  # inputs not sent: longer than the runtime can tag (its max_tagged_chars)

    def add(self, result: CaseResult) -> None:
        failed = {m.check for m in result.mismatches}
        for check in result.checked:
            (self.fails if check in failed else self.passes)[check] += 1
        if result.score_abs > self.score_abs:
            self.score_abs, self.score_ulps = result.score_abs, result.score_ulps
        if result.emission_abs > self.emission_abs:
            self.emission_abs, self.emission_ulps = result.emission_abs, result.emission_ulps


@dataclass
class BundleReport:
    task: str
    kind: str
    path: str
    examples: Counter = field(default_factory=Counter)  # strategy -> inputs generated
    shrink_steps: int = 0
    near_ties: int = 0
    near_thresholds: int = 0  # defer measure within the score tolerance of the rule's threshold
    defer_rule: str = ""  # the bundle's rule, described; "" without one
    runtimes: dict[str, RuntimeStats] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    accepted_hits: list[dict[str, str]] = field(default_factory=list)
    stale_accepted: list[dict[str, str]] = field(default_factory=list)  # listed cases that now pass
    regressions_replayed: int = 0
    skipped: str = ""  # why no runtime under test ran on this bundle; "" when some did
    emission_anchor: str = ""  # the native runtime whose emission bits the other native ones must equal

    @property
    def ok(self) -> bool:
        return not self.failures and not self.stale_accepted


class _Counterexample(Exception):
    def __init__(self, runtime: str, text: str, mismatches: list[Mismatch]) -> None:
        super().__init__(f"{runtime}: {[m.check for m in mismatches]}")
        self.runtime = runtime
        self.text = text
        self.mismatches = mismatches


@dataclass
class RunConfig:
    examples: int = 2000  # per bundle, over all strategies
    seed: int = 0
    score_tolerance: float = SCORE_TOLERANCE
    emission_tolerance: float = EMISSION_TOLERANCE


def corpus_for(model: Any, examples_dir: Path | None) -> Corpus:
    """Vocabulary pieces from the bundle; sentences from its processed dataset when there is one."""
    if isinstance(model, cerebellum.TextTagger):
        pieces = [u for u in model.vocabulary if u not in (PAD, UNK)]
    else:
        pieces = [t for t in model.vectorizer.vocabulary if " " not in t and t not in (BOS, EOS)]
    sentences: list[str] = []
    if examples_dir is not None:
        for split in ("test", "dev", "train"):
            path = examples_dir / model.task / f"{split}.jsonl"
            if path.exists():
                for line in path.read_text(encoding="utf-8").splitlines()[:2000]:
                    text = json.loads(line).get("text") if line.strip() else None
                    if isinstance(text, str):
                        sentences.append(text)
    return Corpus(tuple(sorted(set(pieces))), tuple(dict.fromkeys(sentences)))


EXACT_SCORES = frozenset({"rust", "rust-testee", "cortex-m4", "riscv32"})
# Runtimes whose tagger emissions come from cerebellum-core's native BiLSTM evaluator, whose
# arithmetic the spec pins: their emissions must be the same bits on every machine. The first
# of them in a run (in this order) is the anchor the others are compared with.
NATIVE_EMITTERS = ("rust", "rust-testee", "aarch64", "cortex-m4", "riscv32")


def run_bundle(
    bundle: Path,
    runtimes: Sequence[Runtime],
    config: RunConfig,
    accepted: list[Accepted],
    regressions: RegressionStore,
    examples_dir: Path | None = None,
    progress: Progress = print,
) -> BundleReport:
    reference = cerebellum.load(bundle)
    task = reference.task
    kind = "tagging" if isinstance(reference, cerebellum.TextTagger) else "classification"
    # The ONNX-engine variants differ from their backends only for classifiers.
    runtimes = [rt for rt in runtimes if kind == "classification" or not getattr(rt, "classifiers_only", False)]
    report = BundleReport(task=task, kind=kind, path=str(bundle))
    if not runtimes:  # e.g. only python-onnx for a tagger
        report.skipped = f"no runtime under test answers {kind} bundles"
        progress(f"  {task}: skipped, {report.skipped}")
        return report
    report.runtimes = {rt.name: RuntimeStats() for rt in runtimes}
    state: dict[str, Any] = {"shrinking": False, "strategy": "", "first": ""}
    rule = getattr(reference, "defer_rule", None)
    report.defer_rule = rule.describe() if rule is not None else ""
    natives = [name for name in NATIVE_EMITTERS if name in report.runtimes] if kind == "tagging" else []
    if len(natives) > 1:
        report.emission_anchor = natives[0]
        # the anchor answers first, so that every other native runtime has its bits to meet
        runtimes = sorted(runtimes, key=lambda rt: rt.name != report.emission_anchor)

    def answer_of(
        rt: Runtime, ref: pb.Response, text: str, anchor: pb.Response | None = None
    ) -> tuple[CaseResult, pb.Response | None]:
        """``rt``'s answer on ``text``, compared with the reference's (and with the anchor's emission bits)."""
        try:
            got = rt.ask(bundle, text)
        except ProtocolError as exc:  # a crash or a hang is a finding too; hypothesis shrinks it
            return CaseResult([Mismatch("protocol", str(exc)[:300])], ["protocol"]), None
        # The native paths of this machine's runtimes follow one arithmetic: their scores must be the same bits.
        tolerance = 0.0 if rt.name in EXACT_SCORES else config.score_tolerance
        result = compare(ref, got, tolerance, config.emission_tolerance, rule)
        if anchor is not None:
            same_emission_bits(anchor, got, report.emission_anchor, result)
        return result, got

    def check(text: str, count: bool = True) -> list[tuple[str, CaseResult]]:
        """Compare every runtime with the reference on ``text``; returns the unaccepted failures."""
        ref = answer(reference, text)
        if count:
            report.near_ties += near_tie(ref, config.score_tolerance)
            report.near_thresholds += near_threshold(ref, rule, config.score_tolerance)
        failing = []
        anchor: pb.Response | None = None
        for rt in runtimes:
            limit = getattr(rt, "max_tagged_chars", None)
            if kind == "tagging" and limit is not None and len(text) > limit:
                if count:
                    report.runtimes[rt.name].too_long += 1
                continue
            native = rt.name in natives
            result, got = answer_of(rt, ref, text, anchor if native else None)
            if native and rt.name == report.emission_anchor:
                anchor = got
            if count:
                report.runtimes[rt.name].add(result)
            if result.ok:
                continue
            if accepts(accepted, task, rt.name, text, result):
                if count:
                    report.accepted_hits.append({"runtime": rt.name, "text": text})
                continue
            failing.append((rt.name, result))
        return failing

    # Listed failures must still fail; saved regressions must pass.
    for entry in accepted:
        for rt in runtimes:
            if not entry.covers(task, rt.name, entry.text):
                continue
            result, _ = answer_of(rt, answer(reference, entry.text), entry.text)
            if entry.check not in {m.check for m in result.mismatches}:
                report.stale_accepted.append({"runtime": rt.name, "text": entry.text, "check": entry.check})
    for regression in regressions.load(task):
        report.regressions_replayed += 1
        for runtime, result in check(regression.text):
            report.failures.append(Failure(runtime, "regression", regression.text, result.mismatches, regression.text))

    inputs = strategies(corpus_for(reference, examples_dir))
    per_strategy = budget(config.examples, list(inputs))
    for name, strategy in inputs.items():
        if not per_strategy[name]:
            continue
        state.update(shrinking=False, strategy=name, first="")

        @settings(
            max_examples=per_strategy[name],
            database=None,
            deadline=None,
            derandomize=False,
            phases=(Phase.generate, Phase.shrink),
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
            print_blob=False,
        )
        @hypothesis_seed(zlib.crc32(f"{config.seed}:{task}:{name}".encode()))
        @given(strategy)
        def prop(text: str) -> None:
            if state["shrinking"]:
                report.shrink_steps += 1
            else:
                report.examples[state["strategy"]] += 1
            failing = check(text, count=not state["shrinking"])
            if failing:
                if not state["shrinking"]:
                    state["first"] = text
                state["shrinking"] = True
                runtime, result = failing[0]
                raise _Counterexample(runtime, text, result.mismatches)

        try:
            prop()
        except _Counterexample as found:
            failure = Failure(found.runtime, name, found.text, found.mismatches, state["first"] or found.text)
            report.failures.append(failure)
            regressions.save(task, Regression(found.text, found.runtime, tuple(m.check for m in found.mismatches)))
            progress(f"  {task} / {name}: MISMATCH ({found.runtime}) minimal input {found.text!r}")
            continue
        progress(f"  {task} / {name}: {report.examples[name]} examples, all identical")
    return report


def golden_cases(
    bundle: Path, count: int, seed: int, examples_dir: Path | None
) -> tuple[Any, list[tuple[str, pb.Response]]]:
    """``count`` inputs drawn from every strategy, with the reference's answers (for `conformance export`)."""
    reference = cerebellum.load(bundle)
    corpus = corpus_for(reference, examples_dir)
    inputs = strategies(corpus)
    per_strategy = budget(count, list(inputs))
    texts: list[str] = []
    for name, strategy in inputs.items():
        if not per_strategy[name]:
            continue

        @settings(
            max_examples=per_strategy[name],
            database=None,
            deadline=None,
            phases=(Phase.generate,),
            suppress_health_check=list(HealthCheck),
        )
        @hypothesis_seed(zlib.crc32(f"golden:{seed}:{reference.task}:{name}".encode()))
        @given(strategy)
        def collect(text: str) -> None:
            if len(text) <= 2000:  # golden files stay small; long inputs are the live run's job
                texts.append(text)

        collect()
    unique = list(dict.fromkeys(texts))
    return reference, [(text, answer(reference, text)) for text in unique]
