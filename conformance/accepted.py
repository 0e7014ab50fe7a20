"""The failure list: differences accepted on purpose, each with a reason.

A run fails when a case fails that the list does not name, and also when a
listed case passes again (so the list never outlives the bug it excuses).
The list lives in conformance/accepted.toml::

    [[accepted]]
    task = "ner_core_entity"   # bundle task
    runtime = "aarch64"        # or "*"
    text = "..."               # the exact input
    check = "tags"             # which check may differ
    reason = "why this is acceptable"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from .compare import CHECKS, CaseResult


class AcceptedListError(ValueError):
    """The failure list file is malformed."""


@dataclass(frozen=True)
class Accepted:
    task: str
    runtime: str
    text: str
    check: str
    reason: str

    def covers(self, task: str, runtime: str, text: str) -> bool:
        return self.task == task and self.runtime in ("*", runtime) and self.text == text


def load_accepted(path: Path | None) -> list[Accepted]:
    if path is None or not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise AcceptedListError(f"{path}: {exc}") from None
    out = []
    for i, entry in enumerate(data.get("accepted", []), 1):
        missing = [k for k in ("task", "text", "check", "reason") if not isinstance(entry.get(k), str)]
        if missing or not entry["reason"].strip():
            raise AcceptedListError(f"{path}: entry {i} needs task, text, check and a reason ({missing} missing)")
        if entry["check"] not in CHECKS:
            raise AcceptedListError(f"{path}: entry {i}: check {entry['check']!r} is not one of {CHECKS}")
        out.append(Accepted(entry["task"], entry.get("runtime", "*"), entry["text"], entry["check"], entry["reason"]))
    return out


def accepts(entries: list[Accepted], task: str, runtime: str, text: str, result: CaseResult) -> bool:
    """Every mismatch of this case is covered by an entry."""
    allowed = {e.check for e in entries if e.covers(task, runtime, text)}
    return bool(result.mismatches) and all(m.check in allowed for m in result.mismatches)
