"""Character units for taggers (spec section 7)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cerebellum.chartable import CharTable
from cerebellum.units import char_units
from forge.chartable import TABLE_PATH, pinned_table

TABLE = CharTable(pinned_table(), TABLE_PATH)


def units(text: str) -> list[tuple[str, str]]:
    return [(u.text, text[u.start : u.end]) for u in char_units(TABLE, text)]


def test_one_unit_per_character_with_folded_keys() -> None:
    assert units("Hi王总") == [("h", "H"), ("i", "i"), ("王", "王"), ("总", "总")]
    assert units("İß") == [("i", "İ"), ("ss", "ß")]
    assert units("ＡＢ！") == [("a", "Ａ"), ("b", "Ｂ"), ("!", "！")]


def test_separator_runs_become_one_space_and_ends_are_trimmed() -> None:
    assert units("  Mr.  \t Li \n") == [("m", "M"), ("r", "r"), (".", "."), (" ", "  \t "), ("l", "L"), ("i", "i")]
    assert units(" \u3000 ") == [] and units("") == []


def test_characters_that_fold_to_nothing_widen_the_previous_unit() -> None:
    assert units("cafe\u0301!") == [("c", "c"), ("a", "a"), ("f", "f"), ("e", "e\u0301"), ("!", "!")]
    assert units("\u200dab") == [("a", "a"), ("b", "b")]  # nothing before it: dropped
    assert units("a \u200d b") == [("a", "a"), (" ", " \u200d "), ("b", "b")]


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(exclude_categories=("Cs",)), max_size=80))
def test_units_tile_the_text_in_order(text: str) -> None:
    found = char_units(TABLE, text)
    for a, b in zip(found, found[1:], strict=False):
        assert a.end <= b.start
    for u in found:
        assert 0 <= u.start < u.end <= len(text) and u.text
    if found:
        assert found[0].text != " " and found[-1].text != " "
