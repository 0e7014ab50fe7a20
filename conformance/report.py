"""The run's report: JSON for machines, a short table for people."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .compare import CHECKS
from .runner import BundleReport, RunConfig


@dataclass(frozen=True)
class RunReport:
    runtimes: tuple[str, ...]
    config: RunConfig
    bundles: tuple[BundleReport, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(b.ok for b in self.bundles)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "runtimes": list(self.runtimes),
            "examples_per_bundle": self.config.examples,
            "seed": self.config.seed,
            "score_tolerance": self.config.score_tolerance,
            "emission_tolerance": self.config.emission_tolerance,
            "seconds": round(self.seconds, 2),
            "bundles": [_bundle_dict(b) for b in self.bundles],
        }

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    def summary(self) -> str:
        lines = [
            f"conformance: {', '.join(self.runtimes)} against the Python reference; "
            f"score tolerance {self.config.score_tolerance:g}, emission tolerance {self.config.emission_tolerance:g}",
        ]
        for b in self.bundles:
            total = sum(b.examples.values())
            per = ", ".join(f"{k} {v}" for k, v in b.examples.items())
            replayed = b.regressions_replayed
            if b.skipped:
                lines += ["", f"{b.task} ({b.kind}): skipped, {b.skipped}"]
                continue
            lines += ["", f"{b.task} ({b.kind}): {total} examples ({per}); {replayed} regressions replayed"]
            if b.kind == "classification":
                lines.append(f"  near ties (top-two margin < score tolerance): {b.near_ties}")
                if b.defer_rule:
                    lines.append(
                        f"  defer rule: {b.defer_rule}; near the threshold (within the score tolerance): "
                        f"{b.near_thresholds}"
                    )
            if b.emission_anchor:
                lines.append(f"  native emissions: bit for bit against {b.emission_anchor} (emission_bits)")
            for name, stats in b.runtimes.items():
                checks = [c for c in CHECKS if stats.passes[c] or stats.fails[c]]
                cells = ", ".join(f"{c} {stats.passes[c]}/{stats.passes[c] + stats.fails[c]}" for c in checks)
                worst = (
                    f"scores max |diff| {stats.score_abs:.3g} ({stats.score_ulps} ULPs there)"
                    if b.kind == "classification"
                    else f"emissions max |diff| {stats.emission_abs:.3g} ({stats.emission_ulps} ULPs there)"
                )
                too_long = f"; {stats.too_long} inputs too long for it, not sent" if stats.too_long else ""
                lines.append(f"  {name}: {cells}; {worst}{too_long}")
            for f in b.failures:
                checks = "; ".join(f"{m.check}: {m.detail}" for m in f.mismatches)
                lines.append(f"  MISMATCH {f.runtime} [{f.strategy}] minimal input {f.text!r}: {checks}")
            for s in b.stale_accepted:
                lines.append(f"  LISTED CASE NOW PASSES {s['runtime']} {s['text']!r} ({s['check']}): remove it")
            if b.accepted_hits:
                lines.append(f"  accepted differences seen: {len(b.accepted_hits)}")
        verdict = "PASS" if self.ok else "FAIL"
        lines += ["", f"{verdict} in {self.seconds:.1f} s"]
        return "\n".join(lines)


def _bundle_dict(b: BundleReport) -> dict[str, Any]:
    return {
        "task": b.task,
        "kind": b.kind,
        "path": b.path,
        "ok": b.ok,
        "examples": dict(b.examples),
        "examples_total": sum(b.examples.values()),
        "shrink_steps": b.shrink_steps,
        "near_ties": b.near_ties if b.kind == "classification" else None,
        "defer_rule": b.defer_rule or None,
        "near_thresholds": b.near_thresholds if b.defer_rule else None,
        "regressions_replayed": b.regressions_replayed,
        "skipped": b.skipped or None,
        "emission_bits_anchor": b.emission_anchor or None,
        "runtimes": {
            name: {
                "passes": {c: s.passes[c] for c in CHECKS if s.passes[c] or s.fails[c]},
                "fails": {c: s.fails[c] for c in CHECKS if s.fails[c]},
                "max_score_abs": s.score_abs,
                "score_ulps_at_max": s.score_ulps,
                "max_emission_abs": s.emission_abs,
                "emission_ulps_at_max": s.emission_ulps,
                "too_long": s.too_long,
            }
            for name, s in b.runtimes.items()
        },
        "failures": [f.as_dict() for f in b.failures],
        "accepted_hits": b.accepted_hits,
        "stale_accepted": b.stale_accepted,
    }


def bundles_in(models: Path, names: Sequence[str] = ()) -> list[Path]:
    """Bundle folders under ``models`` (or ``models`` itself when it is one), optionally by name."""
    if (models / "preprocessor.bin").exists():
        found = [models]
    else:
        found = sorted(p.parent for p in models.glob("*/preprocessor.bin"))
    if names:
        found = [p for p in found if p.name in names]
        missing = set(names) - {p.name for p in found}
        if missing:
            raise FileNotFoundError(f"no bundle named {', '.join(sorted(missing))} under {models}")
    if not found:
        raise FileNotFoundError(f"no bundles (folders with preprocessor.bin) under {models}")
    return found
