"""The pinned character table: per-code-point folding and classes.

Runtimes never consult their host's Unicode database; they apply the table a
bundle carries. The table is derived once from Unicode 14.0.0 (the database
of Python 3.11) by ``derive_table`` and committed as
``forge/tables/chartable-v1.tsv``; the forge reads that file, so a bundle
forged on any Python version carries the same table. See
docs/preprocessing-spec.md for how runtimes apply it.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cerebellum._proto import bundle_pb2 as pb

TABLE_ID = "unicode-14.0.0/fold-v1"
TABLE_PATH = Path(__file__).resolve().parent / "tables" / "chartable-v1.tsv"
UNICODE_VERSION = "14.0.0"

SEPARATOR, WORD, SINGLE = pb.CHAR_CLASS_SEPARATOR, pb.CHAR_CLASS_WORD, pb.CHAR_CLASS_SINGLE
_CLASS_NAMES = {SEPARATOR: "SEPARATOR", WORD: "WORD", SINGLE: "SINGLE"}
_CLASS_BY_NAME = {v: k for k, v in _CLASS_NAMES.items()}

# Scripts written without spaces between words whose characters are tokens on
# their own: Han (with radicals and compatibility ideographs), kana, Bopomofo.
_SINGLE_CHARACTER_SCRIPTS = (
    (0x2E80, 0x2FDF),
    (0x3005, 0x3007),
    (0x3021, 0x3029),
    (0x3038, 0x303B),
    (0x3040, 0x30FF),
    (0x3100, 0x312F),
    (0x3190, 0x31FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0xFF66, 0xFF9F),
    (0x1B000, 0x1B16F),
    (0x20000, 0x3FFFF),
)


@dataclass(frozen=True)
class CharTableData:
    """The table in plain form: folding map and class runs."""

    fold: dict[int, tuple[int, ...]]
    runs: list[tuple[int, int]]  # (start code point, class), ascending starts

    def to_proto(self) -> pb.CharTable:
        table = pb.CharTable(id=TABLE_ID)
        previous = 0
        for cp in sorted(self.fold):
            table.fold_from_delta.append(cp - previous)
            table.fold_to_len.append(len(self.fold[cp]))
            table.fold_to.extend(self.fold[cp])
            previous = cp
        previous = 0
        for start, cls in self.runs:
            table.class_start_delta.append(start - previous)
            table.class_of_run.append(cls)
            previous = start
        return table


# Accents and presentation selectors, dropped so that "café" and "cafe" are one
# word. Other nonspacing marks (Indic vowel signs, kana voicing) carry meaning
# and stay.
_DROPPED_MARKS = (
    (0x0300, 0x036F),
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF),
    (0xFE00, 0xFE0F),
    (0xFE20, 0xFE2F),
    (0xE0100, 0xE01EF),
)


def _in(cp: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= cp <= hi for lo, hi in ranges)


def _fold(ch: str) -> str:
    """Compatibility-normalize, case-fold and drop accents, one code point."""
    if unicodedata.category(ch) == "Cf":
        return ""  # format controls (ZWJ, BOM, bidi marks) carry no meaning here
    s = unicodedata.normalize("NFKC", ch).casefold()
    s = unicodedata.normalize("NFKC", s)
    decomposed = unicodedata.normalize("NFD", s)
    kept = "".join(c for c in decomposed if not _in(ord(c), _DROPPED_MARKS))
    if kept != decomposed:
        s = unicodedata.normalize("NFC", kept)
    return s


def _classify(cp: int) -> int:
    category = unicodedata.category(chr(cp))
    if category in ("Zs", "Zl", "Zp", "Cc"):
        return SEPARATOR
    if _in(cp, _SINGLE_CHARACTER_SCRIPTS):
        return SINGLE
    if category[0] in "LN" or category in ("Mn", "Mc"):
        return WORD
    return SINGLE


def derive_table() -> CharTableData:
    """Derive the table from this interpreter's Unicode database.

    Only meaningful on a Python whose ``unicodedata`` is 14.0.0; the committed
    TSV is what the forge actually uses.
    """
    if unicodedata.unidata_version != UNICODE_VERSION:
        raise RuntimeError(
            f"deriving table {TABLE_ID} needs Unicode {UNICODE_VERSION}, this Python has {unicodedata.unidata_version}"
        )
    fold: dict[int, tuple[int, ...]] = {}
    runs: list[tuple[int, int]] = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            cls = SINGLE  # never reached: runtimes reject surrogates
        else:
            folded = _fold(chr(cp))
            if folded != chr(cp):
                fold[cp] = tuple(ord(c) for c in folded)
            cls = _classify(cp)
        if not runs or runs[-1][1] != cls:
            runs.append((cp, cls))
    return CharTableData(fold=fold, runs=runs)


def write_tsv(data: CharTableData, path: Path) -> None:
    lines = [f"# cerebellum character table {TABLE_ID}; derived by forge/chartable.py, do not edit"]
    for cp in sorted(data.fold):
        targets = " ".join(f"{c:04X}" for c in data.fold[cp])
        lines.append(f"fold\t{cp:04X}\t{targets}")
    for start, cls in data.runs:
        lines.append(f"class\t{start:04X}\t{_CLASS_NAMES[cls]}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_tsv(path: Path) -> CharTableData:
    fold: dict[int, tuple[int, ...]] = {}
    runs: list[tuple[int, int]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        kind, key, value = line.split("\t")
        if kind == "fold":
            fold[int(key, 16)] = tuple(int(v, 16) for v in value.split())
        else:
            runs.append((int(key, 16), _CLASS_BY_NAME[value]))
    return CharTableData(fold=fold, runs=runs)


@lru_cache(maxsize=1)
def pinned_table() -> pb.CharTable:
    """The committed table, as the bundle carries it."""
    return read_tsv(TABLE_PATH).to_proto()


def table_sha256() -> str:
    return hashlib.sha256(TABLE_PATH.read_bytes()).hexdigest()


if __name__ == "__main__":
    TABLE_PATH.parent.mkdir(parents=True, exist_ok=True)
    write_tsv(derive_table(), TABLE_PATH)
    print(f"wrote {TABLE_PATH}")
