"""Augmentation: noisy variants of rows, the way real people and speech recognisers write.

A blueprint declares it in ``[augment]``: how many variants per row, which
splits, and the probability of each transform. Variants stay in the split
of the row they came from, and a variant that equals (case, width and
spacing ignored) any text of another split is dropped, so augmentation can
never leak a row across the train/dev/test boundary. Entity spans of
tagging rows move with their text: nothing is inserted into or deleted
from an entity.

Every choice comes from ``random.Random`` seeded by the blueprint seed, the
split and the row's position, so the same data gives the same variants on
every machine.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .textnorm import dedupe_key

FINAL_PUNCTUATION = ".!?。！？~…;；"
EN_FILLERS = ("uh", "um", "you know", "like", "well", "so", "I mean", "hmm", "okay so")
ZH_FILLERS = ("嗯", "那个", "就是", "呃", "然后", "这个", "啊", "哎")
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbours() -> dict[str, str]:
    """Keys around each letter of a QWERTY keyboard, for adjacent-key typos."""
    out = {}
    for r, row in enumerate(_ROWS):
        for i, ch in enumerate(row):
            near = [
                _ROWS[r + dr][i + di]
                for dr in (-1, 0, 1)
                for di in (-1, 0, 1)
                if (dr, di) != (0, 0) and 0 <= r + dr < len(_ROWS) and 0 <= i + di < len(_ROWS[r + dr])
            ]
            out[ch] = "".join(near)
    return out


ADJACENT = _neighbours()


class AugmentError(ValueError):
    """An [augment] table is invalid."""


@dataclass(frozen=True)
class AugmentConfig:
    copies: int = 0  # variants tried per row of each augmented split
    splits: tuple[str, ...] = ("train",)
    transforms: dict[str, float] = field(default_factory=dict)  # name -> probability per variant
    imported: bool = False  # also augment datasets given with --data

    @classmethod
    def from_config(cls, raw: dict[str, Any], where: str) -> AugmentConfig:
        known = {"copies", "splits", "transforms", "imported"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise AugmentError(f"{where}: unknown keys {unknown}; expected {sorted(known)}")
        transforms = dict(raw.get("transforms", {}))
        bad = sorted(set(transforms) - set(TRANSFORMS))
        if bad:
            raise AugmentError(f"{where}.transforms: unknown {bad}; available: {', '.join(TRANSFORMS)}")
        for name, p in transforms.items():
            if not isinstance(p, int | float) or not 0 <= p <= 1:
                raise AugmentError(f"{where}.transforms.{name}: a probability between 0 and 1, got {p!r}")
        splits = tuple(raw.get("splits", ["train"]))
        if not set(splits) <= {"train", "dev", "test"}:
            raise AugmentError(f"{where}.splits: choose from train, dev, test; got {list(splits)}")
        copies = raw.get("copies", 0)
        if not isinstance(copies, int) or copies < 0:
            raise AugmentError(f"{where}.copies: a whole number >= 0, got {copies!r}")
        return cls(copies, splits, {k: float(v) for k, v in transforms.items()}, bool(raw.get("imported", False)))

    @property
    def enabled(self) -> bool:
        return self.copies > 0 and any(p > 0 for p in self.transforms.values())


# -- text with entity owners -------------------------------------------------
# A row is a list of characters and, per character, the index of the span it
# belongs to (-1: none). Transforms edit both lists together.

Chars = list[str]
Owners = list[int]


def _explode(text: str, spans: list[list]) -> tuple[Chars, Owners]:
    owners = [-1] * len(text)
    for k, (start, end, _) in enumerate(spans):
        for i in range(start, end):
            owners[i] = k
    return list(text), owners


def _implode(chars: Chars, owners: Owners, spans: list[list]) -> tuple[str, list[list]]:
    text = "".join(chars)
    out: list[list] = []
    position = 0
    for ch, owner in zip(chars, owners, strict=True):
        if owner >= 0:
            if out and out[-1][3] == owner and out[-1][1] == position:
                out[-1][1] = position + len(ch)
            else:
                out.append([position, position + len(ch), spans[owner][2], owner])
        position += len(ch)
    return text, [s[:3] for s in out]


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def _free_boundaries(chars: Chars, owners: Owners) -> list[int]:
    """Positions where a word may go in: the start, or a space or CJK boundary, outside entities."""
    out = [0] if not chars or owners[0] < 0 else []
    for i in range(1, len(chars)):
        inside = owners[i - 1] >= 0 and owners[i - 1] == owners[i]
        if inside:
            continue
        if chars[i - 1] == " " or _is_cjk(chars[i - 1]) or _is_cjk(chars[i]):
            out.append(i)
    return out


def final_punctuation(chars: Chars, owners: Owners, rng: random.Random) -> None:
    """Drop the final punctuation (as speech recognition delivers text) or change it."""
    if chars and chars[-1] in FINAL_PUNCTUATION and owners[-1] < 0:
        while chars and chars[-1] in FINAL_PUNCTUATION and owners[-1] < 0:
            chars.pop()
            owners.pop()
        while chars and chars[-1] == " " and owners[-1] < 0:
            chars.pop()
            owners.pop()
        if rng.random() < 0.25:
            chars.append(rng.choice("。！～" if chars and _is_cjk(chars[-1]) else ".!~"))
            owners.append(-1)


def case(chars: Chars, owners: Owners, rng: random.Random) -> None:
    """All lower case (chat style), ALL CAPS, or a few letters flipped."""
    mode = rng.random()
    for i, ch in enumerate(chars):
        if mode < 0.6:
            new = ch.lower()
        elif mode < 0.7:
            new = ch.upper()
        else:
            new = ch.swapcase() if rng.random() < 0.1 else ch
        if len(new) == 1:  # "İ".lower() is two code points: keep offsets exact
            chars[i] = new


def width(chars: Chars, owners: Owners, rng: random.Random) -> None:
    """ASCII to full width, or full width back to ASCII (IME and copy-paste noise)."""
    to_full = rng.random() < 0.5
    for i, ch in enumerate(chars):
        code = ord(ch)
        if to_full and 0x21 <= code <= 0x7E:
            chars[i] = chr(code + 0xFEE0)
        elif to_full and ch == " ":
            chars[i] = "\u3000"
        elif not to_full and 0xFF01 <= code <= 0xFF5E:
            chars[i] = chr(code - 0xFEE0)


def fillers(chars: Chars, owners: Owners, rng: random.Random) -> None:
    """A spoken filler ("uh", "you know", "嗯", "那个") at the start or between words."""
    places = _free_boundaries(chars, owners)
    if not places:
        return
    at = rng.choice(places)
    chinese = any(_is_cjk(c) for c in chars)
    word = rng.choice(ZH_FILLERS) if chinese else rng.choice(EN_FILLERS)
    piece = word if chinese else (f"{word} " if at == 0 or chars[at - 1] == " " else f" {word} ")
    if chinese and rng.random() < 0.3:
        piece += "，"
    chars[at:at] = list(piece)
    owners[at:at] = [-1] * len(piece)


def repeats(chars: Chars, owners: Owners, rng: random.Random) -> None:
    """A restart: the first word or characters said twice ("I I want", "我我想")."""
    places = _free_boundaries(chars, owners)
    if not places:
        return
    at = rng.choice(places)
    end = at
    if at < len(chars) and _is_cjk(chars[at]):
        end = min(at + rng.choice((1, 2)), len(chars))
    else:
        while end < len(chars) and chars[end] != " ":
            end += 1
    if end == at or any(o >= 0 for o in owners[at:end]):
        return
    piece = chars[at:end] + ([] if _is_cjk(chars[at]) else [" "])
    chars[at:at] = piece
    owners[at:at] = [-1] * len(piece)


def typos(chars: Chars, owners: Owners, rng: random.Random) -> None:
    """One slip of the finger outside entities: a neighbouring key, a dropped or a doubled character."""
    candidates = [i for i, ch in enumerate(chars) if owners[i] < 0 and not ch.isspace()]
    if not candidates:
        return
    i = rng.choice(candidates)
    kind = rng.random()
    lower = chars[i].lower()
    if kind < 0.45 and lower in ADJACENT:
        new = rng.choice(ADJACENT[lower])
        chars[i] = new.upper() if chars[i].isupper() else new
    elif kind < 0.75 and len(chars) > 2:
        del chars[i]
        del owners[i]
    else:
        chars.insert(i, chars[i])
        owners.insert(i, -1)


@cache
def _traditional_table() -> dict[str, str]:
    """Simplified -> traditional, one character each (OpenCC's STCharacters table, Apache-2.0)."""
    import opencc

    path = Path(opencc.__file__).with_name("dictionary") / "STCharacters.txt"
    table = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            simplified, _, traditional = line.rstrip("\n").partition("\t")
            first = traditional.split(" ")[0]
            if len(simplified) == 1 and len(first) == 1 and first != simplified:
                table[simplified] = first
    return table


def traditional(chars: Chars, owners: Owners, rng: random.Random) -> None:
    """Written in traditional characters (Hong Kong and Taiwan users, or a habit)."""
    table = _traditional_table()
    for i, ch in enumerate(chars):
        chars[i] = table.get(ch, ch)


Transform = Callable[[Chars, Owners, random.Random], None]
TRANSFORMS: dict[str, Transform] = {
    "final_punctuation": final_punctuation,
    "case": case,
    "width": width,
    "fillers": fillers,
    "repeats": repeats,
    "typos": typos,
    "traditional": traditional,
}


@dataclass
class AugmentReport:
    variants: Counter = field(default_factory=Counter)  # split -> variants added
    by_transform: Counter = field(default_factory=Counter)  # transform -> variants it touched
    dropped: Counter = field(default_factory=Counter)  # reason -> variants dropped

    def markdown(self, cfg: AugmentConfig, sizes: dict[str, int]) -> list[str]:
        lines = ["", "## Augmentation", ""]
        if not cfg.enabled:
            return [*lines, "Off."]
        lines += [
            f"Up to {cfg.copies} variant(s) per row of {', '.join(cfg.splits)}; each variant applies each transform "
            "with its probability and stays in its row's split.",
            "",
            "| transform | probability | variants touched |",
            "|---|---|---|",
        ]
        lines += [f"| {n} | {p:g} | {self.by_transform[n]} |" for n, p in cfg.transforms.items()]
        lines += ["", "| split | rows before | variants added | rows after |", "|---|---|---|---|"]
        for split, size in sizes.items():
            added = self.variants[split]
            lines.append(f"| {split} | {size - added} | {added} | {size} |")
        if self.dropped:
            lines += ["", "| variant dropped because | variants |", "|---|---|"]
            lines += [f"| {reason} | {n} |" for reason, n in self.dropped.most_common()]
        return lines


def variant(row: dict[str, Any], cfg: AugmentConfig, rng: random.Random) -> tuple[dict[str, Any], list[str]] | None:
    """One noisy copy of ``row`` and the transforms that changed it (None when none did)."""
    spans = row.get("spans", [])
    chars, owners = _explode(row["text"], spans)
    applied = []
    for name, p in cfg.transforms.items():
        if rng.random() < p:
            before = list(chars)
            TRANSFORMS[name](chars, owners, rng)
            if chars != before:
                applied.append(name)
    if not applied:
        return None
    text, moved = _implode(chars, owners, spans)
    text_stripped = text.strip()
    if not text_stripped:
        return None
    out = dict(row)
    out["text"] = text
    if "spans" in row:
        out["spans"] = moved
    return out, applied


def augment_splits(
    splits: dict[str, list[dict[str, Any]]], cfg: AugmentConfig, seed: int
) -> tuple[dict[str, list[dict[str, Any]]], AugmentReport]:
    """The splits with variants added to the configured ones; every other split is returned as it was."""
    report = AugmentReport()
    if not cfg.enabled:
        return splits, report
    owner_split = {}
    for split, rows in splits.items():
        for row in rows:
            owner_split.setdefault(dedupe_key(row["text"]), split)
    out = {s: list(rows) for s, rows in splits.items()}
    for split in cfg.splits:
        seen = {dedupe_key(r["text"]) for r in splits[split]}
        for index, row in enumerate(splits[split]):
            for copy in range(cfg.copies):
                rng = random.Random(f"augment:{seed}:{split}:{index}:{copy}")
                made = variant(row, cfg, rng)
                if made is None:
                    report.dropped["no transform changed the text"] += 1
                    continue
                new, applied = made
                key = dedupe_key(new["text"])
                if owner_split.get(key, split) != split:
                    report.dropped["equals a text of another split"] += 1
                    continue
                if key in seen:
                    report.dropped["duplicate of a row or variant"] += 1
                    continue
                seen.add(key)
                out[split].append(new)
                report.variants[split] += 1
                report.by_transform.update(applied)
        random.Random(f"augment-order:{seed}:{split}").shuffle(out[split])
    return out, report
