"""Text -> tokens -> terms, exactly as docs/preprocessing-spec.md defines."""

from __future__ import annotations

from typing import NamedTuple

from ._proto import bundle_pb2 as pb
from .chartable import SEPARATOR, SINGLE, WORD, CharTable
from .errors import InvalidInputError

BOS, EOS = "<s>", "</s>"


class Token(NamedTuple):
    """A token and the span of original characters it came from: [start, end)."""

    text: str
    start: int
    end: int


def check_text(text: object) -> str:
    if not isinstance(text, str):
        raise InvalidInputError(f"expected str, got {type(text).__name__}")
    return text


def check_texts(texts: object) -> list[str]:
    """A batch as a list; a lone string is a TypeError (it would be read as one text per character)."""
    if isinstance(texts, str | bytes):
        raise TypeError(
            f"expected a list of str, got a {type(texts).__name__}: wrap one text in a list, or call the single form"
        )
    try:
        batch = list(texts)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(f"expected a list of str, got {type(texts).__name__}") from None
    for text in batch:
        check_text(text)
    return batch


class _Spaced(dict[int, str]):
    """``str.translate`` table: each code point's folded text with every token set off by U+0020.

    Word characters stay as they are, separators become a space, and a single-character
    token gets a space on each side; splitting the result on U+0020 (and only it) yields
    the tokens of spec section 3, at the speed of ``str.translate``. Entries are made on
    first use (bounded).
    """

    LIMIT = 1 << 16

    def __init__(self, table: CharTable) -> None:
        super().__init__()
        self.table = table

    def __missing__(self, cp: int) -> str:
        pieces = [
            c if cls == WORD else " " if cls == SEPARATOR else f" {c} "
            for c, cls in self.table.fold_and_classify(chr(cp))
        ]
        spaced = "".join(pieces)
        if len(self) < self.LIMIT:
            self[cp] = spaced
        return spaced


class Tokenizer:
    def __init__(self, table: CharTable, spec: pb.TokenizerSpec) -> None:
        self.table = table
        self.ngram_min = spec.ngram_min
        self.ngram_max = spec.ngram_max
        self.boundary_tokens = spec.boundary_tokens
        # The fast path needs U+0020 to be a separator, so that it can only ever mean "between tokens".
        self._spaced = _Spaced(table) if table.fold_and_classify(" ") == ((" ", SEPARATOR),) else None

    def tokenize(self, text: str) -> list[str]:
        if self._spaced is not None:
            return [t for t in check_text(text).translate(self._spaced).split(" ") if t]
        lookup = self.table.fold_and_classify
        tokens: list[str] = []
        word: list[str] = []
        for ch in check_text(text):
            for c, cls in lookup(ch):
                if cls == WORD:
                    word.append(c)
                    continue
                if word:
                    tokens.append("".join(word))
                    word = []
                if cls == SINGLE:
                    tokens.append(c)
        if word:
            tokens.append("".join(word))
        return tokens

    def tokenize_with_offsets(self, text: str) -> list[Token]:
        """Tokens with offsets into the original text, in code points."""
        lookup = self.table.fold_and_classify
        tokens: list[Token] = []
        word: list[str] = []
        word_start = word_end = 0
        for i, ch in enumerate(check_text(text)):
            for c, cls in lookup(ch):
                if cls == WORD:
                    if not word:
                        word_start = i
                    word.append(c)
                    word_end = i + 1
                    continue
                if word:
                    tokens.append(Token("".join(word), word_start, word_end))
                    word = []
                if cls == SINGLE:
                    tokens.append(Token(c, i, i + 1))
        if word:
            tokens.append(Token("".join(word), word_start, word_end))
        return tokens

    def terms(self, text: str) -> list[str]:
        """The n-gram terms of ``text``, in spec order (by n, then position)."""
        return self.terms_of_tokens(self.tokenize(text))

    def sequence(self, text: str) -> list[str]:
        """The tokens n-grams are drawn from: with boundary tokens when the spec sets them, [] for no tokens."""
        tokens = self.tokenize(text)
        if not tokens or not self.boundary_tokens:
            return tokens
        return [BOS, *tokens, EOS]

    def terms_of_tokens(self, tokens: list[str]) -> list[str]:
        if not tokens:
            return []
        seq = [BOS, *tokens, EOS] if self.boundary_tokens else tokens
        return ngrams(seq, self.ngram_min, self.ngram_max)


def ngrams(seq: list[str], ngram_min: int, ngram_max: int) -> list[str]:
    """The terms of token sequence ``seq`` (boundaries included), by n, then position (spec section 4)."""
    out: list[str] = []
    for n in range(ngram_min, ngram_max + 1):
        # zip stops at the shortest shifted copy: len(seq) - n + 1 n-grams, in order
        out.extend(seq if n == 1 else map(" ".join, zip(*(seq[i:] for i in range(n)))))  # noqa: B905
    return out
