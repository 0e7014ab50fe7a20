"""Out-of-scope detection with the defer rule, on intent datasets with intents held out of training.

For SNIPS and SMP2017 from ../shared/datasets, two intents are left out of training; their dev
rows (labelled ``__none__``) help the forge pick the threshold, and their test rows measure how
many out-of-scope queries the rule catches. Prints, per dataset: expected calibration error
before and after calibration, coverage and accuracy of the answered in-scope rows, and the share
of out-of-scope rows deferred, on dev and test; and, for comparison, what a plain 0.5 threshold
on the calibrated top score does.

    .venv/bin/python tests/benchmarks/defer_out_of_scope.py [--datasets ../shared/datasets]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare_classifiers import REPO, forge_data, train_table, work_dir  # noqa: E402

import cerebellum  # noqa: E402

# Two intents each, held out of training: the out-of-scope queries.
HELD_OUT = {
    "snips_intent": ("BookRestaurant", "RateBook"),
    "smp2017_intent": ("flight", "stock"),
}
GOAL = 0.98  # answered dev rows (in scope and out of scope alike) right at least this often


def split_out(source: Path, target: Path, held_out: tuple[str, ...]) -> dict[str, int]:
    """train without the held-out intents; dev and test with their rows relabelled ``__none__``."""
    target.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split in ("train", "dev", "test"):
        rows = [json.loads(line) for line in (source / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
        kept = []
        for row in rows:
            if row["label"] in held_out:
                if split == "train":
                    continue
                row = {"text": row["text"], "label": "__none__"}
            kept.append(row)
        counts[split] = sum(r["label"] == "__none__" for r in kept)
        with (target / f"{split}.jsonl").open("w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in kept)
    return counts


def plain_threshold(model: cerebellum.TextClassifier, test: Path, threshold: float = 0.5) -> tuple[float, float]:
    """(in-scope rows kept, out-of-scope rows rejected) with a plain top-score threshold."""
    kept = rejected = inside = outside = 0
    for line in test.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        top = float(np.max(model.predict_proba(row["text"])))
        if row["label"] == "__none__":
            outside += 1
            rejected += top < threshold
        else:
            inside += 1
            kept += top >= threshold
    return kept / max(inside, 1), rejected / max(outside, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    args = parser.parse_args()
    work = work_dir(None)
    print(f"work folder: {work}")
    rows = []
    for task, held_out in HELD_OUT.items():
        source = args.datasets / task
        if not (source / "train.jsonl").exists():
            print(f"{task}: skipped, {source}/train.jsonl not found")
            continue
        data = work / "data" / task
        counts = split_out(source, data, held_out)
        table = train_table(defer="precision", defer_goal=GOAL, defer_measure="top_score")
        case = forge_data(task, task, data, work, table)
        if isinstance(case, str):
            print(f"{task}: {case}")
            continue
        model = cerebellum.load(case.bundle)
        pre = model.preprocessor
        cal, rule = pre.calibration, pre.defer_rule
        kept, rejected = plain_threshold(model, case.test)
        print(
            f"\n== {task}: held out {', '.join(held_out)} (out-of-scope rows: dev {counts['dev']}, "
            f"test {counts['test']}); {len(model.labels)} intents trained"
        )
        print(f"calibration: {cal.method}, T = {cal.temperature:.3f}")
        print(f"defer rule: {model.defer_rule.describe()}  (target: {rule.target})")
        print("split  ECE before  ECE after  coverage  answered accuracy  out-of-scope deferred")
        for split in ("dev", "test"):
            c, f = getattr(cal, split), getattr(rule, split)
            print(
                f"{split:5}  {c.ece_before:10.4f}  {c.ece_after:9.4f}  {f.coverage:8.1%}  "
                f"{f.answered_accuracy:17.1%}  {f.out_of_scope_deferred:21.1%}"
            )
        print(f"plain 0.5 threshold on the calibrated top score, test: {kept:.1%} kept, {rejected:.1%} rejected")
        rows.append(task)
    return 0 if rows else 1


if __name__ == "__main__":
    raise SystemExit(main())
