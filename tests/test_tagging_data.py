"""Tagging rows: BIO import, repairs, span checks, unit tags and templates."""

from __future__ import annotations

import pytest

from cerebellum.chartable import CharTable
from cerebellum.units import char_units
from forge.chartable import TABLE_PATH, pinned_table
from forge.tagging_data import (
    Repairs,
    TaggingDataError,
    check_spans,
    spans_of_tags,
    tag_set,
    tokens_to_spans,
    unit_tags,
)

TABLE = CharTable(pinned_table(), TABLE_PATH)
TYPES = ["PROJ", "PERS", "EVT"]


def test_tag_set_order() -> None:
    assert tag_set(["PERS", "EVT"]) == ["O", "B-PERS", "I-PERS", "B-EVT", "I-EVT"]


def test_word_tokens_are_joined_with_spaces_only_between_word_characters() -> None:
    repairs = Repairs()
    text, spans = tokens_to_spans(
        ["ask", "Mr", ".", "Li", "about", "星", "火", "计", "划", "2", "期", "!"],
        ["O", "B-PERS", "I-PERS", "I-PERS", "O", "B-PROJ", "I-PROJ", "I-PROJ", "I-PROJ", "I-PROJ", "I-PROJ", "O"],
        TYPES,
        repairs,
    )
    assert text == "ask Mr. Li about星火计划2期!"
    assert [(text[s:e], t) for s, e, t in spans] == [("Mr. Li", "PERS"), ("星火计划2期", "PROJ")]
    assert not repairs.counts


def test_character_tokens_are_concatenated() -> None:
    text, spans = tokens_to_spans(
        ["1", "9", "6", "3", "年", "A", "B"], ["O"] * 5 + ["B-PROJ", "I-PROJ"], TYPES, Repairs()
    )
    assert text == "1963年AB" and spans == [(5, 7, "PROJ")]


def test_bio_repairs_and_empty_tokens_are_counted() -> None:
    repairs = Repairs()
    text, spans = tokens_to_spans(["李", "", "总", "来", "了"], ["I-PERS", "O", "I-PERS", "O", "O"], TYPES, repairs)
    assert text == "李总来了" and spans == [(0, 2, "PERS")]
    assert repairs.counts == {"I- tag without B- repaired": 1, "empty or blank token dropped": 1}


@pytest.mark.parametrize(
    ("tokens", "tags", "message"),
    [
        (["a", "b"], ["O"], "2 tokens but 1 tags"),
        (["a"], ["B-ORG"], "not in the tag set"),
        (["a"], ["X-PERS"], "not in the tag set"),
        ("ab", ["O", "O"], "must be lists"),
        ([1], ["O"], "must be strings"),
    ],
)
def test_bad_bio_rows_are_rejected(tokens, tags, message: str) -> None:
    with pytest.raises(TaggingDataError, match=message):
        tokens_to_spans(tokens, tags, TYPES, Repairs())


def test_span_checks() -> None:
    assert check_spans("hi Bob ", [[2, 7, "PERS"]], TYPES) == [(3, 6, "PERS")]  # trimmed
    for spans, message in [
        ([[0, 9, "PERS"]], "outside"),
        ([[0, 2, "ORG"]], "not in the tag set"),
        ([[0, 2, "PERS"], [1, 3, "EVT"]], "overlap"),
        ([[2, 3, "PERS"]], "only whitespace"),
        ([[0, 1]], "not \\[start, end, type\\]"),
    ]:
        with pytest.raises(TaggingDataError, match=message):
            check_spans("hi Bob", spans, TYPES)


def test_unit_tags_round_trip_through_spans() -> None:
    text = "  ask Mr.  Li about 星火计划 today"
    spans = [(6, 13, "PERS"), (20, 24, "PROJ")]
    units = char_units(TABLE, text)
    tags = unit_tags(units, spans)
    assert [t for t in tags if t != "O"][:3] == ["B-PERS", "I-PERS", "I-PERS"]
    assert spans_of_tags(units, tags) == spans
    adjacent = [(0, 2, "PERS"), (2, 4, "PERS")]  # two entities back to back stay two
    assert spans_of_tags(char_units(TABLE, "王总李总"), unit_tags(char_units(TABLE, "王总李总"), adjacent)) == adjacent
