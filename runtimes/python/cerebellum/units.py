"""Character units, the input of sequence taggers (docs/preprocessing-spec.md section 7)."""

from __future__ import annotations

from .chartable import SEPARATOR, CharTable
from .tokenizer import Token, check_text

SPACE = " "


def char_units(table: CharTable, text: str) -> list[Token]:
    """One unit per input character, keyed by its folded form.

    A run of separators between two units becomes one " " unit; leading and
    trailing separators are dropped. A character that folds to nothing widens
    the unit (or separator run) before it.
    """
    lookup = table.fold_and_classify
    units: list[Token] = []
    gap_start = gap_end = -1  # the pending separator run, if gap_start >= 0
    for i, ch in enumerate(check_text(text)):
        folded = lookup(ch)
        if not folded:
            if gap_start >= 0:
                gap_end = i + 1
            elif units:
                units[-1] = units[-1]._replace(end=i + 1)
            continue
        if folded[0][1] == SEPARATOR and all(cls == SEPARATOR for _, cls in folded):
            if units:
                if gap_start < 0:
                    gap_start = i
                gap_end = i + 1
            continue
        if gap_start >= 0:
            units.append(Token(SPACE, gap_start, gap_end))
            gap_start = -1
        units.append(Token(folded[0][0] if len(folded) == 1 else "".join(c for c, _ in folded), i, i + 1))
    return units
