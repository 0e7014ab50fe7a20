"""datasets/raw/<task>.jsonl as a durable, append-only journal of generated rows.

Every batch of valid rows is appended, flushed and fsynced before the next
request's rows are accepted, so a crash or Ctrl-C loses at most the batch in
flight. Reopening drops a torn last line (a write cut short), re-validates
every row and counts what is there, so a rerun generates only the shortfall.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..files import DataFileError, dumps_row
from .schema import ItemValidator

Row = dict[str, Any]


@dataclass
class JournalState:
    rows: int = 0  # valid rows already in the file
    torn_bytes: int = 0  # bytes of a torn last line that were cut off
    invalid_rows: int = 0  # complete lines that no longer validate (kept in the file, not counted)


class RawJournal:
    """Append-only rows with a request id; duplicates (by ``key``) are never appended."""

    def __init__(self, path: Path, validator: ItemValidator) -> None:
        self.path = path
        self._validator = validator
        self._key = validator.key
        self.keys: set[str] = set()
        self.recent: list[str] = []  # the latest texts, for "do not repeat" prompts
        self.label_counts: dict[str, int] = {}
        self.state = self._recover()

    @property
    def rows(self) -> int:
        return self.state.rows

    def _recover(self) -> JournalState:
        state = JournalState()
        if not self.path.exists():
            return state
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1  # everything after the last newline is a torn write
        if end < len(data):
            state.torn_bytes = len(data) - end
            with self.path.open("r+b") as fh:
                fh.truncate(end)
                fh.flush()
                os.fsync(fh.fileno())
        for number, line in enumerate(data[:end].decode("utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise DataFileError(
                    f"{self.path}:{number}: not valid JSON in the middle of the file; "
                    "fix or remove that line (only a torn last line is dropped automatically)"
                ) from None
            valid, _ = self._validator.check(row)
            if valid is None or self._key(valid) in self.keys:
                state.invalid_rows += 1
                continue
            self._remember(valid)
            state.rows += 1
        return state

    def _remember(self, row: Row) -> None:
        self.keys.add(self._key(row))
        # Classes for classifiers, entity types for taggers: what the next prompt should ask for more of.
        for label in [row["label"]] if "label" in row else [t[2:] for t in row["tags"] if t.startswith("B-")]:
            self.label_counts[label] = self.label_counts.get(label, 0) + 1
        self.recent.append(self._validator.text_of(row))
        del self.recent[:-50]

    def fresh(self, rows: list[Row]) -> tuple[list[Row], int]:
        """Rows whose key is new (also within ``rows``), and how many duplicates were skipped."""
        out, seen = [], set()
        for row in rows:
            key = self._key(row)
            if key in self.keys or key in seen:
                continue
            seen.add(key)
            out.append(row)
        return out, len(rows) - len(out)

    def append(self, rows: list[Row], request_id: str) -> None:
        """Durably append ``rows`` (already fresh and valid), tagged with ``request_id``."""
        if not rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        payload = "".join(dumps_row({**row, "request_id": request_id}) + "\n" for row in rows).encode("utf-8")
        with self.path.open("ab") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        if created:  # make the new directory entry durable too
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for row in rows:
            self._remember(row)
        self.state.rows += len(rows)
