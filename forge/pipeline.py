"""generate -> refine -> train -> export -> verify, for every task of a blueprint."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.markup import escape

from .augment import augment_splits
from .blueprint import Blueprint, BlueprintError, TaskSpec
from .console import console
from .files import DataFileError, atomic_write_text, iter_jsonl, read_jsonl, write_jsonl
from .names import UnsafeNameError, check_name
from .providers import GenerationJob, default_provider, get_provider
from .providers.llm import usage_markdown
from .providers.secrets import environment
from .refine import (
    OUT_OF_SCOPE,
    SPLITS,
    LabelMap,
    RefineReport,
    accounting,
    carve,
    check_trainable,
    clean_rows,
    clean_tagged_rows,
    merge_reports,
    quality_report,
    stratified_split,
)
from .sources import GENERATED, apply_weights, source_table
from .trainers import TaskContext, get_trainer
from .workspace import Workspace

STEPS = ("generate", "refine", "train", "export", "verify")
DEFAULT_PROVIDER = "offline"


@dataclass(frozen=True)
class BuildOptions:
    steps: tuple[str, ...] = STEPS
    task: str | None = None
    data: Path | None = None
    provider: str | None = None
    regenerate: bool = False
    rows: int | None = None  # overrides [generate] rows
    train_overrides: dict[str, Any] = field(default_factory=dict)  # --set key=value


def parse_steps(text: str) -> tuple[str, ...]:
    steps = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in steps if s not in STEPS]
    if unknown or not steps:
        raise BlueprintError(f"unknown steps {unknown}; choose from {', '.join(STEPS)}")
    return tuple(s for s in STEPS if s in steps)  # always in pipeline order


def select_tasks(blueprint: Blueprint, options: BuildOptions) -> tuple[Blueprint, list[TaskSpec]]:
    blueprint, tasks = _select_tasks(blueprint, options)
    if options.train_overrides:
        tasks = [replace(t, train={**t.train, **options.train_overrides}) for t in tasks]
        for task in tasks:
            blueprint = blueprint.with_task(task)
    return blueprint, tasks


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are read as TOML (numbers, booleans, lists), else as strings."""
    import tomllib

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BlueprintError(f"--set expects key=value, got {item!r}")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value
    return out


def _select_tasks(blueprint: Blueprint, options: BuildOptions) -> tuple[Blueprint, list[TaskSpec]]:
    if options.task is None:
        if options.data is not None and len(blueprint.tasks) > 1:
            raise BlueprintError(
                f"--data needs --task: blueprint {blueprint.name!r} has tasks {', '.join(blueprint.tasks)} "
                "(name one of them, or a new task name to train the dataset under)"
            )
        return blueprint, list(blueprint.tasks.values())
    if options.task in blueprint.tasks:
        return blueprint, [blueprint.tasks[options.task]]
    try:
        check_name(options.task, "--task")
    except UnsafeNameError as exc:
        raise BlueprintError(str(exc)) from None
    if options.data is None:
        blueprint.task(options.task)  # raises with the list of tasks
    # A dataset imported under a new name: labels come from the data.
    spec = TaskSpec(name=options.task, labels=(), train=dict(blueprint.train))
    return blueprint.with_task(spec), [spec]


def build(blueprint: Blueprint, workspace: Workspace, options: BuildOptions) -> list[TaskContext]:
    blueprint, tasks = select_tasks(blueprint, options)
    trainer = get_trainer(blueprint.trainer)
    if trainer.kind != blueprint.kind:
        raise BlueprintError(f"trainer {trainer.name!r} builds {trainer.kind} models, blueprint is {blueprint.kind}")
    # Everything that can be checked up front is, so that a typo fails before minutes of work.
    for task in tasks:
        trainer.check(task.train)
    if options.data is not None and "refine" in options.steps:
        check_data_shape(blueprint, options.data)
    contexts = []
    for task in tasks:
        ctx = TaskContext(blueprint, task, workspace)
        console.rule(f"[bold]{escape(blueprint.name)} / {escape(task.name)}")
        for step in options.steps:
            if step == "generate":
                if options.data is None:
                    generate(ctx, options)
                else:
                    console.print(f"  generate: skipped, importing {options.data}", markup=False)
            elif step == "refine":
                refine(ctx, options)
            elif step == "train":
                trainer.train(ctx)
            elif step == "export":
                path = trainer.export(ctx)
                console.print(f"  export: wrote {path}", markup=False)
            elif step == "verify":
                result = trainer.verify(ctx)
                lat = result["latency"]
                agreement = (
                    f"max probability difference {result['max_probability_difference']:.1e}"
                    if "max_probability_difference" in result
                    else "same tag sequences as the trained model"
                )
                console.print(
                    f"  verify: {result['rows']} test rows identical, {agreement}; "
                    f"bundle {result['bundle_bytes']:,} bytes; p50 {lat['p50_us']:.1f} µs per query"
                )
                check_real_text(ctx)
        contexts.append(ctx)
    return contexts


def check_real_text(ctx: TaskContext) -> list[dict[str, Any]]:
    """Score the task's real-text files and add their table to the model card."""
    import cerebellum

    from .model_card import insert_section
    from .realtext import markdown, run_check, summary_line

    if not ctx.task.realtext:
        return []
    model = cerebellum.load(ctx.model_dir)
    results = [run_check(model, check) for check in ctx.task.realtext]
    for result in results:
        console.print(f"  real text: {summary_line(result)}", markup=False)
    atomic_write_text(ctx.build / "realtext.json", json.dumps(results, indent=2, ensure_ascii=False))
    insert_section(ctx.model_dir / "MODEL_CARD.md", markdown(results), before="## Model")
    return results


def generate(ctx: TaskContext, options: BuildOptions) -> None:
    env = environment(ctx.workspace.root)
    name = options.provider or ctx.blueprint.generate.get("provider") or default_provider(env)
    provider = get_provider(name)
    raw = ctx.workspace.raw(ctx.task.name)
    meta_path = raw.with_suffix(".meta.json")
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
    fingerprint = provider.fingerprint(ctx.blueprint, ctx.task)
    target = options.rows if options.rows is not None else int(ctx.blueprint.generate.get("rows", 0))
    if options.regenerate:
        raw.unlink(missing_ok=True)
    elif raw.exists() and provider.resumable:
        if meta.get("provider") not in (None, name):
            console.print(
                f"  generate: {raw} holds rows from provider '{meta['provider']}'; adding to them "
                "(--regenerate starts afresh)",
                markup=False,
            )
    elif raw.exists():
        stale = meta.get("provider") == name == DEFAULT_PROVIDER and meta.get("fingerprint") != fingerprint
        if not stale:
            rows = sum(1 for _ in iter_jsonl(raw))
            console.print(f"  generate: reusing {raw} ({rows} rows; --regenerate to make it anew)", markup=False)
            return
        console.print(f"  generate: {raw} was made from older offline examples; regenerating", markup=False)
    job = GenerationJob(ctx.blueprint, ctx.task, target, ctx.blueprint.seed, raw, env)
    summary = provider.generate(job)
    rows = sum(1 for _ in iter_jsonl(raw))
    atomic_write_text(meta_path, json.dumps({"provider": name, "fingerprint": fingerprint, "rows": rows}))
    console.print(f"  generate: provider '{name}': {summary} -> {raw}", markup=False)


def _import_sources(data: Path) -> tuple[dict[str, Path] | None, Path | None]:
    """Either named split files (train, with dev or val, and test) or one file to split."""
    if data.is_file():
        return None, data
    if not data.is_dir():
        raise DataFileError(f"{data}: no such file or directory")
    named = {s: data / f"{s}.jsonl" for s in SPLITS if (data / f"{s}.jsonl").exists()}
    if (data / "val.jsonl").exists():  # the name CLINC150 and many others ship their dev split under
        if "dev" in named:
            raise DataFileError(f"{data}: holds both dev.jsonl and val.jsonl; keep the one that is the dev split")
        named["dev"] = data / "val.jsonl"
    if "train" in named:
        return named, None
    files = sorted(data.glob("*.jsonl"))
    if len(files) == 1:
        return None, files[0]
    raise DataFileError(
        f"{data}: expected train.jsonl (with dev.jsonl or val.jsonl, and test.jsonl) or exactly one .jsonl file"
    )


def _given_splits(
    ctx: TaskContext, named: dict[str, Path], seed: int
) -> tuple[LabelMap, dict[str, list[dict]], RefineReport, list[str]]:
    """Clean each given split file; carve what is missing from train only, and account for every row."""
    given = {s: read_jsonl(p) for s, p in named.items()}
    labels = LabelMap(ctx.task.labels or _infer_labels(given["train"]))
    reports = {s: RefineReport() for s in given}
    # Given splits are kept as they are (only cleaned), so scores stay comparable with published ones.
    splits = {s: _cleaner(ctx, labels, reports[s], imported=True)(rows, s == "train") for s, rows in given.items()}
    moved = {s: {s: len(rows)} for s, rows in splits.items()}
    shares = {s: getattr(ctx.blueprint.split, s) for s in ("test", "dev") if s not in splits}
    if shares:
        train, carved = carve(splits["train"], shares, seed)
        splits["train"] = train
        splits.update(carved)
        moved["train"] = {"train": len(train), **{s: len(rows) for s, rows in carved.items()}}
        for s, rows in carved.items():
            console.print(
                f"  refine: no {s} file in the data: {len(rows)} rows of train.jsonl carved out as {s}", markup=False
            )
    files = {s: named[s].name for s in SPLITS if s in given}
    return labels, splits, merge_reports(list(reports.values())), accounting(files, reports, moved)


def check_data_shape(blueprint: Blueprint, data: Path) -> None:
    """The first rows of the --data files must have the shape the blueprint's kind reads."""
    named, single = _import_sources(data)
    path = named["train"] if named else single
    assert path is not None
    rows = [row for _, row in zip(range(50), iter_jsonl(path), strict=False)]
    classification = sum(isinstance(r.get("text"), str) and "label" in r for r in rows)
    tagging = sum(("tokens" in r and "tags" in r) or ("text" in r and "spans" in r) for r in rows)
    if blueprint.kind == "classification" and tagging and not classification:
        raise DataFileError(
            f'{path}: these are tagging rows ({{"tokens", "tags"}} or {{"text", "spans"}}), but blueprint '
            f'{blueprint.name!r} trains classifiers, which read {{"text", "label"}}; use a tagging blueprint '
            "such as sequence_tagging_ner"
        )
    if blueprint.kind == "tagging" and classification and not tagging:
        raise DataFileError(
            f'{path}: these are classification rows ({{"text", "label"}}), but blueprint {blueprint.name!r} '
            'trains taggers, which read {"tokens", "tags"} (BIO) or {"text", "spans"}; use a classification blueprint '
            "such as text_classification"
        )
    if rows and not (classification or tagging):
        raise DataFileError(
            f'{path}: the first rows have keys {sorted(rows[0])}, neither {{"text", "label"}} (classification) '
            'nor {"tokens", "tags"} / {"text", "spans"} (tagging)'
        )


def _infer_labels(rows: Sequence[dict]) -> tuple[str, ...]:
    """Class labels, or entity types of tagging rows, as the data spells them."""
    found: set[str] = set()
    for r in rows:
        if isinstance(r.get("label"), str):
            found.add(r["label"].strip())
        for tag in r.get("tags") or []:
            if isinstance(tag, str) and tag[:2] in ("B-", "I-"):
                found.add(tag[2:].strip())
        for span in r.get("spans") or []:
            if isinstance(span, list) and len(span) == 3 and isinstance(span[2], str):
                found.add(span[2].strip())
    return tuple(sorted(found - {"", OUT_OF_SCOPE}))


def _cleaner(ctx: TaskContext, labels: LabelMap, report: RefineReport, imported: bool):
    cfg = ctx.blueprint.refine
    if imported:  # length limits shape generated data; a user's dataset is taken at every length
        cfg = replace(cfg, min_chars=1, max_chars=sys.maxsize)
    if ctx.blueprint.kind == "tagging":
        return lambda rows, dedupe: clean_tagged_rows(rows, labels, cfg, report, dedupe)
    return lambda rows, dedupe: clean_rows(rows, labels, cfg, report, dedupe)


def refine(ctx: TaskContext, options: BuildOptions) -> None:
    report = RefineReport()
    seed = ctx.blueprint.seed
    read: Counter | None = None
    if options.data is not None:
        named, single = _import_sources(options.data)
        source = str(options.data)
    else:
        named, single = None, ctx.workspace.raw(ctx.task.name)
        if not single.exists():
            raise DataFileError(f"{single} is missing: run the generate step first")
        source = str(single)
    accounted: list[str] = []
    if named is not None:
        labels, splits, report, accounted = _given_splits(ctx, named, seed)
    else:
        rows = read_jsonl(single)
        labels = LabelMap(ctx.task.labels or _infer_labels(rows))
        # The task's own rows come first, so a duplicate in an extra source is the one dropped.
        for extra in ctx.task.sources:
            rows += extra.rows(seed, labels.labels)
        read = Counter(r["source"] if isinstance(r.get("source"), str) else GENERATED for r in rows)
        clean = _cleaner(ctx, labels, report, imported=options.data is not None)
        splits = stratified_split(clean(rows, True), ctx.blueprint.split, seed)
        moved = {"all": {s: len(splits[s]) for s in SPLITS}}
        what = single.name + (f" + {len(ctx.task.sources)} extra source(s)" if ctx.task.sources else "")
        accounted = accounting({"all": what}, {"all": report}, moved)
        splits["train"] = apply_weights(splits["train"], ctx.task.sources, seed)
    augment = ctx.blueprint.augment
    if options.data is not None and not augment.imported:
        augment = replace(augment, copies=0)
    splits, augmented = augment_splits(splits, augment, seed)
    out = ctx.processed
    for s in SPLITS:
        write_jsonl(out / f"{s}.jsonl", splits[s])
    meta = {"labels": list(labels.labels), "source": source, "rows": {s: len(splits[s]) for s in SPLITS}}
    atomic_write_text(out / "meta.json", json.dumps(meta, indent=2, ensure_ascii=False))
    text = quality_report(ctx.task.name, source, report, splits)
    text += "\n".join(accounted) + ("\n" if accounted else "")
    if read is not None and len(read) > 1:
        text += "\n".join(source_table(read, splits)) + "\n"
    text += "\n".join(augmented.markdown(augment, {s: len(splits[s]) for s in SPLITS})) + "\n"
    if options.data is None:
        text += usage_markdown(single)
    atomic_write_text(out / "quality_report.md", text)
    dropped = sum(report.dropped.values())
    added = sum(augmented.variants.values())
    console.print(
        f"  refine: {report.kept} rows kept, {dropped} dropped, {added} augmented variants added; "
        + ", ".join(f"{s} {len(splits[s])}" for s in SPLITS)
        + f" -> {out}",
        markup=False,
    )
    # After the report is written, so that its tables show what happened to every row.
    check_trainable(ctx.task.name, source, report, len(splits["train"]), out / "quality_report.md")
