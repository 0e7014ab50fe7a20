"""Tagging rows: {"text", "spans"} internally; {"tokens", "tags"} (BIO) on import.

Spans are [start, end, type] in code points of the text. Conversions repair
what they can (an I- tag that starts an entity becomes B-) and report what
they repaired or dropped, so the quality report can count it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cerebellum.tagger import entities_from_tags
from cerebellum.tokenizer import Token

Span = tuple[int, int, str]


class TaggingDataError(ValueError):
    """A row cannot be turned into text and spans."""


@dataclass
class Repairs:
    counts: Counter = field(default_factory=Counter)

    def add(self, what: str, n: int = 1) -> None:
        self.counts[what] += n


def tag_set(types: Sequence[str]) -> list[str]:
    """The tags in emission column order: O, then B-/I- per type."""
    return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]


_CLOSING = set(".,!?;:%)]}")
_OPENING = set("([{")
# Scripts written without spaces, and their punctuation and full-width forms.
_UNSPACED = ((0x2E80, 0x303F), (0x3040, 0x9FFF), (0xF900, 0xFAFF), (0xFF00, 0xFFEF), (0x20000, 0x3FFFF))


def unspaced(ch: str) -> bool:
    return any(lo <= ord(ch) <= hi for lo, hi in _UNSPACED)


def _separator(previous: str, token: str, character_level: bool) -> str:
    """What goes between two tokens when rebuilding the text they were cut from."""
    if character_level or unspaced(previous[-1]) or unspaced(token[0]):
        return ""
    if token[0] in _CLOSING or previous[-1] in _OPENING:
        return ""
    return " "


def tokens_to_spans(
    tokens: Sequence[Any], tags: Sequence[Any], types: Sequence[str], repairs: Repairs
) -> tuple[str, list[Span]]:
    """Rebuild the text the tokens were cut from and read entity spans off their BIO tags.

    Character-tokenized rows (every token one character, as in Chinese NER
    data) are concatenated. Word-tokenized rows get a space between tokens,
    except next to CJK text, before closing and after opening punctuation
    ("ask Mr. Li about 星火计划!").
    """
    if not isinstance(tokens, list) or not isinstance(tags, list):
        raise TaggingDataError("tokens and tags must be lists")
    if len(tokens) != len(tags):
        raise TaggingDataError(f"{len(tokens)} tokens but {len(tags)} tags")
    allowed = set(types)
    character_level = all(isinstance(t, str) and len(t) == 1 for t in tokens)
    pieces: list[str] = []
    spans: list[list] = []
    position = 0
    previous_type: str | None = None
    for token, tag in zip(tokens, tags, strict=True):
        if not isinstance(token, str) or not isinstance(tag, str):
            raise TaggingDataError("tokens and tags must be strings")
        if not token.strip():
            repairs.add("empty or blank token dropped")
            continue
        if tag != "O":
            prefix, _, kind = tag.partition("-")
            if prefix not in ("B", "I") or kind not in allowed:
                raise TaggingDataError(f"tag {tag!r} is not in the tag set")
        gap = _separator(pieces[-1], token, character_level) if pieces else ""
        if gap:
            pieces.append(gap)
            position += len(gap)
        start, end = position, position + len(token)
        pieces.append(token)
        position = end
        if tag == "O":
            previous_type = None
            continue
        prefix, _, kind = tag.partition("-")
        if prefix == "I" and previous_type == kind:
            spans[-1][1] = end
        else:
            if prefix == "I":
                repairs.add("I- tag without B- repaired")
            spans.append([start, end, kind])
        previous_type = kind
    return "".join(pieces), [(s, e, t) for s, e, t in spans]


def check_spans(text: str, spans: Any, types: Sequence[str]) -> list[Span]:
    """Validated, sorted spans, trimmed of surrounding whitespace."""
    if not isinstance(spans, list):
        raise TaggingDataError("spans must be a list of [start, end, type]")
    out: list[Span] = []
    for span in spans:
        if not (isinstance(span, list | tuple) and len(span) == 3):
            raise TaggingDataError(f"span {span!r} is not [start, end, type]")
        start, end, kind = span
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            raise TaggingDataError(f"span {span!r} is outside the text")
        if kind not in types:
            raise TaggingDataError(f"span type {kind!r} is not in the tag set")
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start == end:
            raise TaggingDataError(f"span {span!r} covers only whitespace")
        out.append((start, end, kind))
    out.sort()
    for (_, end, _), (start, _, _) in zip(out, out[1:], strict=False):
        if start < end:
            raise TaggingDataError("spans overlap")
    return out


def unit_tags(units: Sequence[Token], spans: Sequence[Span]) -> list[str]:
    """BIO tags for units: a unit starting inside a span is B- for the span's first unit, else I-."""
    tags = []
    k, previous = 0, -1
    for unit in units:
        while k < len(spans) and spans[k][1] <= unit.start:
            k += 1
        if k < len(spans) and spans[k][0] <= unit.start:
            tags.append(("I-" if previous == k else "B-") + spans[k][2])
            previous = k
        else:
            tags.append("O")
            previous = -1
    return tags


def spans_of_tags(units: Sequence[Token], tags: Sequence[str]) -> list[Span]:
    """Entity spans (in text offsets) from unit tags, read as the runtime reads them."""
    return [(e.start, e.end, e.type) for e in entities_from_tags("", units, tags)]
