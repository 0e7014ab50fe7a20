"""The pinned character table: derivation, encoding, and rejection of bad tables."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from cerebellum._proto import bundle_pb2 as pb
from cerebellum.chartable import SEPARATOR, SINGLE, WORD, CharTable
from cerebellum.errors import BundleCorruptError
from forge.chartable import TABLE_PATH, UNICODE_VERSION, derive_table, pinned_table, read_tsv

HERE = Path("preprocessor.bin")


@pytest.mark.skipif(unicodedata.unidata_version != UNICODE_VERSION, reason="derivation needs Unicode 14.0.0")
def test_committed_table_is_what_the_derivation_gives() -> None:
    assert read_tsv(TABLE_PATH) == derive_table()


def test_decoded_table_matches_the_tsv() -> None:
    data = read_tsv(TABLE_PATH)
    table = CharTable(pinned_table(), HERE)
    for cp, target in list(data.fold.items())[::97]:
        assert table.fold(chr(cp)) == "".join(map(chr, target))
    starts = [s for s, _ in data.runs]
    for (start, cls), end in zip(data.runs, starts[1:] + [0x110000], strict=True):
        assert table.class_of(start) == cls
        assert table.class_of(end - 1) == cls


def test_classes_of_known_characters() -> None:
    table = CharTable(pinned_table(), HERE)
    assert [table.class_of(ord(c)) for c in " \t\u3000a9é中か?!😀"] == [
        SEPARATOR,
        SEPARATOR,
        SEPARATOR,
        WORD,
        WORD,
        WORD,
        SINGLE,
        SINGLE,
        SINGLE,
        SINGLE,
        SINGLE,
    ]
    assert table.class_of(0x10FFFF) == SINGLE


def _broken(**changes: list[int]) -> pb.CharTable:
    table = pb.CharTable()
    table.CopyFrom(pinned_table())
    for field, values in changes.items():
        table.ClearField(field)
        getattr(table, field).extend(values)
    return table


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"fold_from_delta": [65, 0]}, "strictly ascending"),
        ({"fold_from_delta": [0x110000]}, "Unicode range"),
        ({"fold_to_len": [1]}, "fold lengths"),
        ({"fold_from_delta": [65], "fold_to_len": [1], "fold_to": [0xD800]}, "scalar value"),
        ({"class_start_delta": [5], "class_of_run": [0]}, "start at U\\+0000"),
        ({"class_start_delta": [0, 5], "class_of_run": [0]}, "differ in length"),
        ({"class_start_delta": [0], "class_of_run": [7]}, "unknown character class"),
    ],
)
def test_bad_tables_are_rejected(changes: dict, message: str) -> None:
    with pytest.raises(BundleCorruptError, match=message):
        CharTable(_broken(**changes), HERE)
