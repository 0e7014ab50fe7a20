"""Sequence taggers: character units -> ONNX emissions -> CRF Viterbi -> entities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._proto import bundle_pb2 as pb
from .bigrams import TAGGER_CHAR_BIGRAMS, bigram_ids, bigram_index
from .bundle import BundleData
from .chartable import CharTable
from .defer import DeferRule
from .errors import BundleCorruptError, BundleMismatchError, CerebellumError
from .lexicon import IDS as LEXICON_IDS
from .lexicon import MAX_HASHES, TAGGER_LEXICON, Lexicon
from .session import create_session
from .tokenizer import Token, check_texts
from .units import char_units
from .viterbi import viterbi

PAD, UNK = "<pad>", "<unk>"


class TaggedToken(NamedTuple):
    text: str  # the original characters of the unit
    start: int
    end: int
    tag: str


@dataclass(frozen=True)
class Entity:
    type: str
    start: int  # offsets into the original text, in code points: text[start:end]
    end: int
    text: str


def parse_tags(tags: Sequence[str], path: Path) -> list[str]:
    """Entity types in order of first appearance; checks the tags are BIO."""
    types: list[str] = []
    for tag in tags:
        if tag == "O":
            continue
        prefix, _, kind = tag.partition("-")
        if prefix not in ("B", "I") or not kind:
            raise BundleCorruptError(path, f"tag {tag!r} is not O, B-TYPE or I-TYPE")
        if kind not in types:
            types.append(kind)
    if "O" not in tags:
        raise BundleCorruptError(path, "the tag set has no O tag")
    return types


def entities_from_tags(text: str, units: Sequence[Token], tags: Sequence[str]) -> list[Entity]:
    """Spans from BIO tags; an I- tag that does not continue its type starts an entity."""
    spans: list[list] = []
    current: list | None = None
    for unit, tag in zip(units, tags, strict=True):
        if tag == "O":
            current = None
            continue
        prefix, _, kind = tag.partition("-")
        if prefix == "I" and current is not None and current[0] == kind:
            current[2] = unit.end
        else:
            current = [kind, unit.start, unit.end]
            spans.append(current)
    return [Entity(kind, start, end, text[start:end]) for kind, start, end in spans]


class TextTagger:
    """A loaded sequence tagging bundle. Thread-safe for concurrent calls."""

    def __init__(self, bundle: BundleData) -> None:
        pre = bundle.preprocessor
        path = bundle.preprocessor_path
        if not pre.HasField("tagger"):
            raise BundleCorruptError(path, "a sequence tagging bundle needs a tagger section")
        spec = pre.tagger
        DeferRule.of(pre, path)  # a tagger has none; refuse one that claims it
        self.preprocessor = pre
        self.task = pre.task
        self.tags: tuple[str, ...] = tuple(pre.labels)
        self.labels = self.tags
        if len(set(self.tags)) != len(self.tags):
            raise BundleCorruptError(path, "the tag set holds a tag twice")
        self.entity_types = tuple(parse_tags(self.tags, path))
        n = len(self.tags)
        if len(spec.transitions) != n * n or len(spec.start) != n or len(spec.end) != n:
            raise BundleCorruptError(path, f"CRF scores do not fit {n} tags")
        self.transitions = np.asarray(spec.transitions, dtype=np.float32).reshape(n, n)
        self.start = np.asarray(spec.start, dtype=np.float32)
        self.end = np.asarray(spec.end, dtype=np.float32)
        for name, values in (("transitions", self.transitions), ("start", self.start), ("end", self.end)):
            if not np.all(np.isfinite(values)):
                raise BundleCorruptError(path, f"CRF {name} scores must be finite")
        vocabulary = list(spec.vocabulary)
        if len(vocabulary) < 2 or vocabulary[0] != PAD or vocabulary[1] != UNK or spec.unknown_id != 1:
            raise BundleCorruptError(path, "tagger vocabulary must start with <pad>, <unk> and unknown_id must be 1")
        self.ids = {key: i for i, key in enumerate(vocabulary)}
        if len(self.ids) != len(vocabulary):
            raise BundleCorruptError(path, "tagger vocabulary holds a key twice")
        self.vocabulary = vocabulary
        keys = list(spec.bigram_keys)
        self.has_bigrams = TAGGER_CHAR_BIGRAMS in pre.required_features
        if keys and not self.has_bigrams:
            raise BundleCorruptError(
                path, f"bigram_keys are set but required_features does not list {TAGGER_CHAR_BIGRAMS!r}"
            )
        if any(a >= b for a, b in zip(keys, keys[1:], strict=False)):
            raise BundleCorruptError(path, "tagger bigram_keys must be strictly ascending")
        self.bigram_index = bigram_index(keys)
        self.lexicon = self._lexicon(pre, path)
        self.table = CharTable(pre.char_table, path)
        self._signature = pre.onnx
        self._session = create_session(bundle.model, bundle.model_path)
        self._check_signature(bundle.model_path)

    @staticmethod
    def _lexicon(pre: pb.Preprocessor, path: Path) -> Lexicon | None:
        listed = TAGGER_LEXICON in pre.required_features
        present = pre.tagger.HasField("lexicon")
        if present and not listed:
            raise BundleCorruptError(path, f"lexicon is set but required_features does not list {TAGGER_LEXICON!r}")
        if listed and not present:
            raise BundleCorruptError(path, f"required_features lists {TAGGER_LEXICON!r} but there is no lexicon")
        if not present:
            return None
        spec = pre.tagger.lexicon
        if not spec.bloom or not 1 <= spec.hashes <= MAX_HASHES:
            raise BundleCorruptError(path, f"a lexicon needs a non-empty filter and 1 to {MAX_HASHES} hashes")
        return Lexicon(spec.bloom, spec.hashes)

    def _check_signature(self, path: Path) -> None:
        sig = self._signature
        inputs = {i.name: i.type for i in self._session.get_inputs()}
        names = [sig.ids_input]
        if self.has_bigrams:
            names += [sig.bigrams_before_input, sig.bigrams_after_input]
        if self.lexicon is not None:
            names.append(sig.lexicon_input)
        if inputs != dict.fromkeys(names, "tensor(int64)"):
            raise BundleMismatchError(path, f"model inputs {inputs} differ from the preprocessor's {names}")
        if sig.emissions_output not in {o.name for o in self._session.get_outputs()}:
            raise BundleMismatchError(path, f"model lacks output {sig.emissions_output!r}")
        try:
            probe = self._run(np.array([len(self.vocabulary) - 1, 0], dtype=np.int64), np.array([LEXICON_IDS - 1, 1]))
        except Exception as exc:
            raise BundleMismatchError(path, f"model rejects the preprocessor's unit ids: {exc}") from None
        if probe.shape != (2, len(self.tags)):
            raise BundleMismatchError(
                path, f"model emits {probe.shape[1:]} scores per unit, the preprocessor names {len(self.tags)} tags"
            )

    def _emissions(self, units: Sequence[Token]) -> np.ndarray:
        ids = self.ids
        keys = [u.text for u in units]
        lexicon_ids = None if self.lexicon is None else self.lexicon.ids(keys)
        return self._run(np.array([ids.get(k, 1) for k in keys], dtype=np.int64), lexicon_ids)

    def _run(self, ids: np.ndarray, lexicon_ids: np.ndarray | None) -> np.ndarray:
        sig = self._signature
        feeds = {sig.ids_input: ids[None, :]}
        if self.lexicon is not None and lexicon_ids is not None:
            feeds[sig.lexicon_input] = lexicon_ids.astype(np.int64)[None, :]
        if self.has_bigrams:
            before, after = bigram_ids(ids.tolist(), self.bigram_index)
            feeds[sig.bigrams_before_input] = before[None, :]
            feeds[sig.bigrams_after_input] = after[None, :]
        emissions = self._session.run([sig.emissions_output], feeds)[0][0]
        if not np.isfinite(emissions).all():
            raise CerebellumError(f"{self.task}: the model produced non-finite emission scores")
        return emissions

    # Introspection -------------------------------------------------------
    def units(self, text: str) -> list[Token]:
        """The character units the tagger labels (one per folded character), with offsets in code points."""
        return char_units(self.table, text)

    def tokenize(self, text: str) -> list[str]:
        """The units' texts: what the tagger sees, one string per unit."""
        return [u.text for u in self.units(text)]

    def encode(self, text: str) -> np.ndarray:
        """The units as vocabulary ids (int64; 1 for a unit the model never saw)."""
        ids = self.ids
        return np.array([ids.get(u.text, 1) for u in self.units(text)], dtype=np.int64)

    def emissions(self, text: str) -> np.ndarray:
        """Emission scores [units, tags], float32."""
        units = self.units(text)
        if not units:
            return np.zeros((0, len(self.tags)), dtype=np.float32)
        return self._emissions(units)

    # Tagging ---------------------------------------------------------------
    def _decode(self, text: str) -> tuple[list[Token], list[int]]:
        units = self.units(text)
        if not units:
            return units, []
        emissions = self._emissions(units)
        return units, viterbi(emissions, self.transitions, self.start, self.end)

    def tag_ids(self, text: str) -> list[int]:
        """The Viterbi path as tag indices, one per unit."""
        return self._decode(text)[1]

    def tag_tokens(self, text: str) -> list[TaggedToken]:
        """Every unit with its BIO tag and offsets into ``text`` (code points)."""
        units, path = self._decode(text)
        return [
            TaggedToken(text[u.start : u.end], u.start, u.end, self.tags[t]) for u, t in zip(units, path, strict=True)
        ]

    def tag(self, text: str) -> list[Entity]:
        """Entities with their type and offsets into ``text`` (code points)."""
        units, path = self._decode(text)
        tags = self.tags
        return entities_from_tags(text, units, [tags[t] for t in path])

    def tag_batch(self, texts: Sequence[str]) -> list[list[Entity]]:
        """``tag`` of each text, in order."""
        return [self.tag(t) for t in check_texts(texts)]

    def __repr__(self) -> str:
        return f"TextTagger(task={self.task!r}, entity_types={list(self.entity_types)}, units={len(self.vocabulary)})"
