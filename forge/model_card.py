"""The human-readable MODEL_CARD.md written next to each bundle."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from cerebellum._proto import bundle_pb2 as pb

# Where a tagger's lexicon comes from, and under which licence, for the card.
LEXICON_NOTICES = {"jieba": "jieba's dictionary (MIT License, Copyright (c) 2013 Sun Junyi)"}


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def insert_section(card: Path, lines: list[str], before: str) -> None:
    """Put a section into a written card ahead of the heading ``before`` (at the end if it has none)."""
    from .files import atomic_write_text

    text = card.read_text(encoding="utf-8")
    section = "\n".join(lines) + "\n\n"
    at = text.find(f"\n{before}\n")
    text = text.rstrip("\n") + "\n\n" + section if at < 0 else text[: at + 1] + section + text[at + 1 :]
    atomic_write_text(card, text)


def render_card(
    pre: pb.Preprocessor,
    report: dict[str, Any],
    sizes: dict[str, int] | None,
    verification: dict[str, Any] | None,
) -> str:
    prov, metrics = pre.provenance, pre.metrics
    labels = list(pre.labels)
    lines = [
        f"# {pre.task}",
        "",
        f"A {pb.TaskKind.Name(pre.kind).removeprefix('TASK_KIND_').lower().replace('_', ' ')} micro-model "
        f"forged by model_foundry {prov.forge_version} from blueprint `{prov.blueprint}`.",
        "",
        f"Labels, in output order: {', '.join(f'`{label}`' for label in labels)}",
        "",
        "## Held-out evaluation",
        "",
        f"Test split: {metrics.test_rows} rows (train {metrics.train_rows}, dev {metrics.dev_rows}).",
        "",
    ]
    tagging = pre.kind == pb.TASK_KIND_SEQUENCE_TAGGING
    if tagging:
        lines += [
            "Entity spans, exact match of boundaries and type:",
            "",
            f"- micro precision **{metrics.span_precision:.4f}**, recall **{metrics.span_recall:.4f}**, "
            f"F1 **{metrics.span_f1:.4f}**",
            f"- unit (character) tag accuracy: {metrics.accuracy:.4f}",
        ]
    else:
        lines += [f"- accuracy: **{metrics.accuracy:.4f}**", f"- macro-F1: **{metrics.macro_f1:.4f}**"]
    lines += [
        "",
        f"| {'entity type' if tagging else 'label'} | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {c.label} | {c.precision:.4f} | {c.recall:.4f} | {c.f1:.4f} | {c.support} |" for c in metrics.per_class
    ]
    if metrics.confusion and len(labels) <= 12 and not tagging:
        lines += ["", "Confusion matrix (rows: true label, columns: predicted):", ""]
        lines += ["| | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
        n = len(labels)
        for i, label in enumerate(labels):
            lines.append(f"| {label} | " + " | ".join(str(v) for v in metrics.confusion[i * n : (i + 1) * n]) + " |")
    lines += _confidence_lines(report)
    lines += ["", "## Model", ""]
    lines += [f"- trainer: `{prov.trainer}`; estimator: `{prov.estimator}`"]
    if pre.HasField("tfidf"):
        tok = pre.tokenizer
        features = (
            f"{pre.tfidf.hash_buckets} hashed TF-IDF columns (FNV-1a 64)"
            if pre.tfidf.hash_buckets
            else f"{len(pre.tfidf.vocabulary)} TF-IDF terms"
        )
        lines += [
            f"- features: {features} (token n-grams {tok.ngram_min}-{tok.ngram_max}, "
            f"boundary tokens {'on' if tok.boundary_tokens else 'off'}, L2 norm)",
            "- model selection: C chosen on dev macro-F1 ("
            + ", ".join(f"C={c}: {f1:.4f}" for c, f1 in report.get("dev_macro_f1_by_C", {}).items())
            + ")",
        ]
    lines += _compression_lines(report.get("compression"))
    if pre.HasField("tagger"):
        by_model: dict[str, list[dict]] = {}
        for epoch in report.get("history", []):
            by_model.setdefault(epoch.get("model", "training"), []).append(epoch)
        seconds = f"({report.get('train_seconds', 0):.0f} s)"
        if len(by_model) > 1:
            counts = ", ".join(str(len(epochs)) for epochs in by_model.values())
            kept = ", ".join(str(max(epochs, key=lambda e: e["dev_span_f1"])["epoch"]) for epochs in by_model.values())
            trained = (
                f"trained {len(by_model)} BiLSTMs on their own shares of the rows, averaged: "
                f"{counts} epochs {seconds}, kept epochs {kept}"
            )
        else:
            count = len(report.get("history", []))
            trained = f"trained {count} epochs {seconds}, kept epoch {report.get('best_epoch')}"
        lines += [
            f"- {len(pre.tagger.vocabulary)} character units (ids 0 and 1: padding, unknown); tags {', '.join(labels)}",
            f"- {trained} by dev span-F1; decoding: CRF Viterbi in the runtime",
        ]
        lexicon = report.get("lexicon") or {}
        if pre.tagger.HasField("lexicon") and lexicon:
            params = report.get("params", {})
            source = LEXICON_NOTICES.get(params.get("lexicon", ""), params.get("lexicon", ""))
            lines.append(
                f"- word lexicon: {lexicon['words']:,} words of 2-4 characters from {source}, counted at least "
                f"{params.get('lexicon_min_count')} times, as a {len(pre.tagger.lexicon.bloom):,}-byte Bloom filter "
                f"({pre.tagger.lexicon.hashes} hashes); {lexicon['train_units_in_a_word']:.0%} of training characters "
                "are in one"
            )
    lines += [f"- character table: `{pre.char_table.id}`"]
    lines += ["", "## Size and speed", ""]
    if sizes:
        lines += [f"- `{name}`: {size:,} bytes" for name, size in sizes.items()]
    if verification:
        lat = verification["latency"]
        lines += [
            f"- bundle (model + preprocessor): {verification['bundle_bytes']:,} bytes",
            f"- single-query latency, Python runtime (`cerebellum`, {verification.get('evaluator', 'onnxruntime')}): "
            f"p50 {lat['p50_us']:.1f} µs, p90 {lat['p90_us']:.1f} µs, p99 {lat['p99_us']:.1f} µs over "
            f"{lat['runs']} queries ({'every test text, ' if not tagging else ''}"
            f"{lat['mean_chars']:.0f} characters on average), "
            f"measured on {_cpu()} ({platform.machine()})",
            "",
            "## Verification",
            "",
        ]
        if tagging:
            lines.append(
                f"The Python runtime decoded all {verification['rows']} test sentences to exactly the tag sequences "
                f"of the torch model's Viterbi; {verification['canaries']} blueprint canaries found their entities."
            )
        else:
            lines.append(
                f"The Python runtime reproduced the trained scikit-learn model on all {verification['rows']} test "
                f"rows: identical labels, probabilities within {verification['max_probability_difference']:.2e} "
                f"(tolerance {verification['tolerance']:.0e}); {verification['canaries']} blueprint canaries "
                "answered as expected."
            )
    else:
        lines += ["", "Not verified yet: run `forge build --steps verify`."]
    lines += [
        "",
        "## Provenance",
        "",
        f"- created: {prov.created_at}",
        f"- data SHA-256: `{prov.data_sha256}`",
        f"- blueprint config SHA-256: `{prov.config_sha256}`",
        f"- seed: {prov.seed}",
        f"- model.onnx SHA-256: `{pre.model_sha256.hex()}`",
    ]
    return "\n".join(lines) + "\n"


def _confidence_lines(report: dict[str, Any]) -> list[str]:
    """Calibration (ECE before and after, a reliability table) and the defer rule's figures."""
    cal, rule = report.get("calibration"), report.get("defer")
    if not cal:
        return []
    lines = ["", "## Confidence and deferral", ""]
    if cal["method"] == "none":
        lines.append("- scores: not calibrated")
    else:
        how = (
            f"temperature scaling, T = {1 / cal['scale']:.3f}"
            if cal["method"] == "temperature"
            else f"Platt scaling, logit -> {cal['scale']:.3f} * logit {cal['offset']:+.3f}"
        )
        lines.append(f"- calibration: {how}, fitted on dev and folded into the weights")
    lines.append(
        "- expected calibration error (15 bins of the top score), before -> after: "
        + ", ".join(
            f"{split} {cal[split]['ece_before']:.4f} -> {cal[split]['ece_after']:.4f}"
            for split in ("dev", "test")
            if cal[split]["rows"]
        )
    )
    if cal.get("reliability"):
        lines += ["", "Reliability on test (calibrated scores):", ""]
        lines += ["| top score | rows | mean top score | accuracy |", "|---|---|---|---|"]
        lines += [
            f"| {b['low']:.1f}-{b['high']:.1f} | {b['rows']} | {b['confidence']:.3f} | {b['accuracy']:.3f} |"
            for b in cal["reliability"]
        ]
    if not rule:
        return lines + ["", "- defer rule: none (every text is answered)"]
    what = "top score" if rule["measure"] == "top_score" else "margin between the top two scores"
    lines += [
        "",
        f"Defer rule: defer when the {what} is below **{rule['threshold']:.4f}**, chosen for: {rule['target']}.",
        "",
        "| split | in-scope rows | answered | accuracy of answered | out-of-scope rows | out-of-scope deferred |",
        "|---|---|---|---|---|---|",
    ]
    for split in ("dev", "test"):
        f = rule[split]
        oos = f"{f['out_of_scope_deferred']:.1%}" if f["out_of_scope_rows"] else "-"
        lines.append(
            f"| {split} | {f['rows']} | {f['coverage']:.1%} | {f['answered_accuracy']:.1%} | "
            f"{f['out_of_scope_rows']} | {oos} |"
        )
    return lines


def _compression_lines(compression: dict[str, Any] | None) -> list[str]:
    """How the bundle was sized: the candidates weighed on dev and the one kept."""
    if not compression:
        return []
    kept = compression["kept_features"]
    what = f"{kept} hash buckets" if compression.get("vocabulary") == "hashed" else f"{kept} terms"
    float32 = compression.get("float32_metrics", {}).get("test", {})
    lines = [
        f"- size: {compression['weight_format']} weights, {what} of {compression['trained_features']} trained "
        f"features; the smallest candidate within {compression['max_dev_drop']} accuracy points of the float32 "
        f"model on dev ({compression['float32_dev_accuracy']:.4f})"
        + (f"; the float32 model's test accuracy: {float32['accuracy']:.4f}" if float32 else ""),
        "",
        "| vocabulary | features | weights | dev accuracy | estimated bytes |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {c['vocabulary']} | {c['features']} | {c['weight_format']} | {c['dev_accuracy']:.4f} | "
        f"{c['estimated_bytes']:,} |"
        for c in compression["candidates"]
    ]
    return lines + [""]
