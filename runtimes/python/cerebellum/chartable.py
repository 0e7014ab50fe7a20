"""Applies a bundle's character table: folding and classes per code point."""

from __future__ import annotations

from bisect import bisect_right
from pathlib import Path

from ._proto import bundle_pb2 as pb
from .errors import BundleCorruptError, InvalidInputError

SEPARATOR, WORD, SINGLE = pb.CHAR_CLASS_SEPARATOR, pb.CHAR_CLASS_WORD, pb.CHAR_CLASS_SINGLE
_MAX_CODE_POINT = 0x10FFFF


def _undelta(deltas: list[int], path: Path, field: str) -> list[int]:
    out: list[int] = []
    total = 0
    for i, d in enumerate(deltas):
        if i > 0 and d == 0:
            raise BundleCorruptError(path, f"char table: {field} is not strictly ascending")
        total += d
        if total > _MAX_CODE_POINT:
            raise BundleCorruptError(path, f"char table: {field} leaves the Unicode range")
        out.append(total)
    return out


class CharTable:
    """Folding and classification as the bundle pins them.

    ``fold_and_classify(ch)`` gives, for one input character, the folded
    characters it becomes with the class of each. Results are memoised per
    character, so steady-state cost is one dict lookup per character.
    """

    def __init__(self, proto: pb.CharTable, path: Path) -> None:
        froms = _undelta(list(proto.fold_from_delta), path, "fold_from_delta")
        lengths = list(proto.fold_to_len)
        targets = list(proto.fold_to)
        if len(lengths) != len(froms) or sum(lengths) != len(targets):
            raise BundleCorruptError(path, "char table: fold lengths do not match the fold targets")
        if any(t > _MAX_CODE_POINT or 0xD800 <= t <= 0xDFFF for t in targets):
            raise BundleCorruptError(path, "char table: a fold target is not a Unicode scalar value")
        self._fold: dict[int, str] = {}
        pos = 0
        for cp, n in zip(froms, lengths, strict=True):
            self._fold[cp] = "".join(map(chr, targets[pos : pos + n]))
            pos += n
        self._run_starts = _undelta(list(proto.class_start_delta), path, "class_start_delta")
        self._run_classes = list(proto.class_of_run)
        if not self._run_starts or self._run_starts[0] != 0:
            raise BundleCorruptError(path, "char table: class runs must start at U+0000")
        if len(self._run_classes) != len(self._run_starts):
            raise BundleCorruptError(path, "char table: class runs and classes differ in length")
        if any(c not in (SEPARATOR, WORD, SINGLE) for c in self._run_classes):
            raise BundleCorruptError(path, "char table: unknown character class")
        self._memo: dict[str, tuple[tuple[str, int], ...]] = {}

    def class_of(self, cp: int) -> int:
        return self._run_classes[bisect_right(self._run_starts, cp) - 1]

    def fold_and_classify(self, ch: str) -> tuple[tuple[str, int], ...]:
        hit = self._memo.get(ch)
        if hit is not None:
            return hit
        cp = ord(ch)
        if 0xD800 <= cp <= 0xDFFF:
            raise InvalidInputError(f"text holds a lone surrogate U+{cp:04X}; it is not valid Unicode")
        folded = self._fold.get(cp, ch)
        result = tuple((c, self.class_of(ord(c))) for c in folded)
        if len(self._memo) < 65536:  # bounded: hostile input cannot grow it forever
            self._memo[ch] = result
        return result

    def fold(self, text: str) -> str:
        """The folded text (classes ignored); handy for inspection."""
        return "".join(c for ch in text for c, _ in self.fold_and_classify(ch))
