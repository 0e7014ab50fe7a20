"""Tokenizer edge cases, against docs/preprocessing-spec.md sections 2-4."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cerebellum.errors import InvalidInputError
from cerebellum.tokenizer import Tokenizer

from .conftest import pinned_tokenizer


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", []),
        ("   \t\n\r\u3000\u00a0\u2028", []),
        ("\u200d\u200b\ufeff", []),  # format characters fold to nothing
        ("Hello, World!", ["hello", ",", "world", "!"]),
        ("what's up?", ["what", "'", "s", "up", "?"]),
        ("你今天吃饭了吗", ["你", "今", "天", "吃", "饭", "了", "吗"]),
        ("打开qq音乐", ["打", "开", "qq", "音", "乐"]),
        ("iPhone15多少钱？", ["iphone15", "多", "少", "钱", "?"]),
        ("ＡＢＣ１２３！", ["abc123", "!"]),  # full-width forms
        ("İstanbul", ["istanbul"]),  # Turkish dotted capital I
        ("ΟΔΥΣΣΕΥΣ", ["οδυσσευσ"]),  # final sigma folds like any sigma
        ("Straße STRASSE", ["strasse", "strasse"]),
        ("ﬁle ǅ", ["file", "dz"]),
        ("café cafe\u0301", ["cafe", "cafe"]),  # precomposed and combining accents
        ("👍🏽 ok", ["👍", "🏽", "ok"]),
        ("👨‍👩‍👧", ["👨", "👩", "👧"]),  # ZWJ sequence: the joiners vanish
        ("a\x00b", ["a", "b"]),  # NUL is a separator
        ("שלום עולם", ["שלום", "עולם"]),  # right-to-left words
        ("ᏣᎳᎩ", ["ᏣᎳᎩ"]),  # Cherokee capitals stay (lowercase Cherokee folds to them)
        ("\U00031350", ["\U00031350"]),  # CJK ext. H: single
        ("\U0002ebf0x", ["\U0002ebf0", "x"]),  # unassigned in Unicode 14: single, whatever the host knows
        ("½", ["1", "⁄", "2"]),
    ],
)
def test_tokens(tokenizer: Tokenizer, text: str, tokens: list[str]) -> None:
    assert tokenizer.tokenize(text) == tokens


def test_offsets_point_into_the_original_text(tokenizer: Tokenizer) -> None:
    text = "  İstanbul ＡＢ，好的ﬁ"
    tokens = tokenizer.tokenize_with_offsets(text)
    assert [(t.text, text[t.start : t.end]) for t in tokens] == [
        ("istanbul", "İstanbul"),
        ("ab", "ＡＢ"),
        (",", "，"),
        ("好", "好"),
        ("的", "的"),
        ("fi", "ﬁ"),
    ]


def test_terms_are_ngrams_with_boundaries() -> None:
    tok = pinned_tokenizer(1, 2, True)
    assert tok.terms("Hi 你好") == ["<s>", "hi", "你", "好", "</s>", "<s> hi", "hi 你", "你 好", "好 </s>"]
    assert tok.terms("   ") == []
    assert pinned_tokenizer(2, 3, False).terms("a b c") == ["a b", "b c", "a b c"]


def test_long_text_is_handled(tokenizer: Tokenizer) -> None:
    text = ("hello 世界! " * 10_000)[:100_000]
    tokens = tokenizer.tokenize(text)
    assert len(tokens) == 40_000
    assert tokenizer.tokenize("x" * 100_000) == ["x" * 100_000]


def test_lone_surrogates_are_rejected(tokenizer: Tokenizer) -> None:
    with pytest.raises(InvalidInputError, match="surrogate U\\+D800"):
        tokenizer.tokenize("ok\ud800")
    with pytest.raises(InvalidInputError, match="expected str"):
        tokenizer.tokenize(b"bytes")  # type: ignore[arg-type]


scalar_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(scalar_text)
def test_tokens_never_hold_separators_and_offsets_are_ordered(text: str) -> None:
    tok = pinned_tokenizer()
    tokens = tok.tokenize_with_offsets(text)
    assert [t.text for t in tokens] == tok.tokenize(text)
    starts = [t.start for t in tokens]
    assert starts == sorted(starts)
    for t in tokens:
        assert t.text and " " not in t.text
        assert 0 <= t.start < t.end <= len(text)


@settings(max_examples=200, deadline=None)
@given(scalar_text)
def test_folding_is_case_and_width_insensitive_for_ascii(text: str) -> None:
    tok = pinned_tokenizer()
    ascii_only = "".join(c for c in text if c.isascii())
    assert tok.tokenize(ascii_only.upper()) == tok.tokenize(ascii_only.lower())
