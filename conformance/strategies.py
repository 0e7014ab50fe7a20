"""Hypothesis strategies for conformance inputs, per bundle.

Random Unicode finds bugs in character handling but almost never hits a
bundle's vocabulary, so vectors and entities would stay empty; the
vocabulary and mutation strategies build text the model actually reacts to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hypothesis import strategies as st

MAX_LONG = 100_000

# Every kind of whitespace, including the ones str.split() and \s disagree on.
WHITESPACE = (
    "\t\n\x0b\x0c\r \x1c\x1d\x1e\x1f\x85\xa0\u1680\u180e\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u200b\u2028\u2029\u202f\u205f\u3000\ufeff"
)
SPECIAL = [
    "\x00",
    "\x07",
    "\x7f",
    "\u0301",  # combining acute
    "e\u0301",
    "\u0915\u094d\u0937",  # Devanagari conjunct
    "\u200d",  # zero width joiner
    "\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",  # family: ZWJ sequence
    "\U0001f3f3\ufe0f\u200d\U0001f308",  # rainbow flag
    "\U0001f44d\U0001f3fd",  # skin tone modifier
    "\U0001f1e8\U0001f1f3",  # regional indicators
    "\u05e9\u05dc\u05d5\u05dd",  # Hebrew
    "\u0645\u0631\u062d\u0628\u0627",  # Arabic
    "\u200f",  # right-to-left mark
    "\u202e",  # right-to-left override
    "\u2066",  # left-to-right isolate
    "\ufe0f",  # variation selector
    "\U000e0001",  # language tag
    "\U0010ffff",  # last code point
    "\ufffd",
    "\uffff",  # noncharacter
    "\u0378",  # unassigned
    "\U0003134b",  # CJK extension G
]
# Case mapping traps: characters whose lower/upper/fold forms change length,
# depend on context or locale, or changed after Unicode 14 (the table's version).
CASE_TRAPS = [
    "\u0130",  # İ
    "\u0131",  # ı
    "i\u0307",
    "\u1e9e",  # ẞ
    "\xdf",  # ß
    "\u03a3",  # Σ
    "\u03c2",  # final ς
    "\u039f\u0394\u039f\u03a3",  # ΟΔΟΣ: final sigma when lowered
    "\u01c5",  # ǅ titlecase digraph
    "\u01c4",
    "\u01c6",
    "\ufb01",  # ﬁ
    "\ufb00",  # ﬀ
    "\u0149",  # ŉ
    "\u01f0",  # ǰ
    "\u0390",  # ΐ
    "\u0587",  # Armenian ech-yiwn
    "\u13a0",  # Cherokee Ꭰ
    "\uab70",  # Cherokee small ꭰ
    "\u13f8",  # Cherokee small ye
    "\u212a",  # Kelvin sign
    "\u212b",  # Angstrom sign
    "\u1c90",  # Georgian Mtavruli
    "\u10d0",
    "\uff21",  # full-width A
    "\uff41",
    "\u1c89",  # Cyrillic TJE, capital (Unicode 16)
    "\u1c8a",  # its small form (Unicode 16)
    "\ua7cb",  # Latin capital ramshorn (Unicode 16)
    "\ua7dc",  # Latin capital lambda with stroke (Unicode 16)
    "\U00011f00",  # Kawi (Unicode 15)
    "\U0001e030",  # Cyrillic modifier letter (Unicode 15)
    "\U0002ebf0",  # CJK extension I (Unicode 15.1)
    "\U0001e5d0",  # Ol Onal (Unicode 16)
]
PUNCTUATION = list(".,!?;:'\"()[]{}-_/\\@#%&*+=~`|<>，。！？；：、“”‘’（）《》【】…—·")


@dataclass(frozen=True)
class Corpus:
    """What a bundle's inputs are built from: its vocabulary pieces and example sentences."""

    pieces: tuple[str, ...]  # tokens or characters the bundle knows
    examples: tuple[str, ...]  # training or test sentences, or sentences built from pieces


def arbitrary_unicode() -> st.SearchStrategy[str]:
    """Any code point but surrogates (not valid UTF-8, so no runtime can receive them), plus known troublemakers."""
    any_char = st.characters(codec="utf-8")
    special = st.sampled_from(SPECIAL + list(WHITESPACE))
    return st.lists(st.one_of(any_char, special, any_char), max_size=40).map("".join)


def from_vocabulary(corpus: Corpus) -> st.SearchStrategy[str]:
    piece = st.sampled_from(corpus.pieces) if corpus.pieces else st.text(max_size=3)
    glue = st.sampled_from(["", " ", " ", "  ", "\t", "\u3000", ",", "，", "?", "-"])
    return st.lists(st.tuples(piece, glue), min_size=1, max_size=24).map(lambda pairs: "".join(p + g for p, g in pairs))


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c) for c in text)


def _halfwidth(text: str) -> str:
    return "".join(chr(ord(c) - 0xFEE0) if "\uff01" <= c <= "\uff5e" else (" " if c == "\u3000" else c) for c in text)


@st.composite
def mutated_examples(draw: st.DrawFn, corpus: Corpus) -> str:
    text = draw(st.sampled_from(corpus.examples)) if corpus.examples else draw(from_vocabulary(corpus))
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["upper", "lower", "title", "swapcase", "flip", "full", "half", "insert",
                                   "repeat", "truncate", "slice", "trap"]))  # fmt: skip
        if op in ("upper", "lower", "title", "swapcase"):
            text = getattr(text, op)()
        elif op == "flip" and text:
            i = draw(st.integers(0, len(text) - 1))
            text = text[:i] + text[i].swapcase() + text[i + 1 :]
        elif op == "full":
            text = _fullwidth(text)
        elif op == "half":
            text = _halfwidth(text)
        elif op == "insert":
            i = draw(st.integers(0, len(text)))
            text = text[:i] + draw(st.sampled_from(PUNCTUATION + list(WHITESPACE))) + text[i:]
        elif op == "repeat" and text:
            i = draw(st.integers(0, len(text) - 1))
            text = text[:i] + text[i] * draw(st.integers(2, 8)) + text[i + 1 :]
        elif op == "truncate":
            text = text[: draw(st.integers(0, len(text)))]
        elif op == "slice" and text:
            i = draw(st.integers(0, len(text) - 1))
            text = text[i:]
        elif op == "trap":
            i = draw(st.integers(0, len(text)))
            text = text[:i] + draw(st.sampled_from(CASE_TRAPS)) + text[i:]
    return text


def case_traps(corpus: Corpus) -> st.SearchStrategy[str]:
    known = st.sampled_from(corpus.pieces) if corpus.pieces else st.just("a")
    part = st.one_of(st.sampled_from(CASE_TRAPS), known, st.sampled_from([" ", "", "A", "i", "I", "s", "S"]))
    return st.lists(part, min_size=1, max_size=12).map("".join)


@st.composite
def long_or_empty(draw: st.DrawFn, corpus: Corpus) -> str:
    """The empty string, or a long text (up to MAX_LONG characters) made of real sentences and noise."""
    if draw(st.integers(0, 4)) == 0:
        return ""
    scale = draw(st.sampled_from([1_000, 5_000, 20_000, MAX_LONG]))
    length = draw(st.integers(scale // 2, scale))  # shrinks towards shorter texts
    seeds = list(corpus.examples[:50]) or ["a b c"]
    start = draw(st.integers(0, len(seeds) - 1))
    noise = draw(st.text(max_size=8))
    out, i = [], start
    size = 0
    while size < length:
        piece = seeds[i % len(seeds)] + (noise if i % 7 == 0 else " ")
        out.append(piece)
        size += len(piece)
        i += 1
    return "".join(out)[:length]


def strategies(corpus: Corpus) -> dict[str, st.SearchStrategy[str]]:
    return {
        "unicode": arbitrary_unicode(),
        "vocabulary": from_vocabulary(corpus),
        "mutations": mutated_examples(corpus),
        "long_or_empty": long_or_empty(corpus),
        "case_traps": case_traps(corpus),
    }


def budget(total: int, names: Sequence[str]) -> dict[str, int]:
    """Examples per strategy: long inputs are costly and few are needed; the rest share the budget."""
    if total <= 0:
        return dict.fromkeys(names, 0)
    shares = {"unicode": 0.25, "vocabulary": 0.3, "mutations": 0.27, "case_traps": 0.17, "long_or_empty": 0.01}
    out = {name: max(1, int(total * shares.get(name, 0.1))) for name in names}
    if "long_or_empty" in out:
        out["long_or_empty"] = max(5, min(out["long_or_empty"], 30))
    out[max(out, key=out.get)] += total - sum(out.values())  # exact total
    return out
