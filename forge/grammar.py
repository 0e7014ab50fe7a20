"""Authored grammars: seeded expansion of templates into many varied rows.

A grammar file (``*.grammar.json``) lives in a blueprint's ``offline/``
folder. It holds templates per label (classification) or one template list
(tagging), named slots that templates and other slots refer to, and lexicons
drawn from maintained libraries (Faker, jieba's dictionary). The syntax of a
template:

- ``{name}``: one alternative of slot or lexicon ``name``, itself expanded;
- ``{a|b|}``: one of the inline alternatives (an empty one makes it optional);
- tagging only: ``{PERS_zh}`` (a slot whose name starts upper case) is an
  entity of type ``PERS`` (the part before ``_``); ``[PERS 李经理]`` is a
  literal entity.

A grammar may also name, per slot, lexicons (or slots) of words the slot must
never come out as (``"reject": {"zh_2name": ["jb_common"]}``): such a draw is
made again (a surname and a given-name character can make 明天 or 高峰,
which are words, not people).

The same seed gives the same rows on every machine: choices come from one
``random.Random`` and lexicons are read in a fixed order.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from . import jieba_dictionary

MAX_DEPTH = 24
GRAMMAR_SUFFIXES = (".grammar.json", ".templates.json")
REJECT_TRIES = 8  # draws of an entity slot before a rejected word is kept after all


class GrammarError(ValueError):
    """A grammar file is malformed or refers to what it does not define."""


def is_grammar(path: Path) -> bool:
    """Whether an offline source is a grammar (expanded into rows) rather than curated rows."""
    return path.name.endswith(GRAMMAR_SUFFIXES)


@dataclass(frozen=True)
class Literal:
    text: str


@dataclass(frozen=True)
class Ref:
    name: str
    entity: str | None  # the entity type when the slot name starts upper case


@dataclass(frozen=True)
class Choice:
    options: tuple[tuple[Node, ...], ...]


@dataclass(frozen=True)
class Entity:
    kind: str
    text: str


Node = Literal | Ref | Choice | Entity
Sequence_ = tuple[Node, ...]


def _parse(text: str, i: int, top: bool) -> tuple[list[Sequence_], int]:
    """Alternatives (split on top-level '|') up to the closing '}' (or the end at top level)."""
    options: list[Sequence_] = []
    current: list[Node] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            current.append(Literal("".join(buf)))
            buf.clear()

    while i < len(text):
        ch = text[i]
        if ch == "{":
            flush()
            close = _matching(text, i)
            inner = text[i + 1 : close]
            if inner and "|" not in inner and "{" not in inner and _is_name(inner):
                entity = inner.split("_")[0] if inner[0].isupper() else None
                current.append(Ref(inner, entity))
            else:
                alternatives, _ = _parse(inner, 0, top=False)
                current.append(Choice(tuple(alternatives)))
            i = close + 1
        elif ch == "}":
            if top:
                raise GrammarError(f"template {text!r}: unbalanced '}}' at {i}")
            break
        elif ch == "|" and not top:
            flush()
            options.append(tuple(current))
            current = []
            i += 1
        elif ch == "[" and (entity := _entity_literal(text, i)) is not None:
            flush()
            kind, literal, i = entity
            current.append(Entity(kind, literal))
        else:
            buf.append(ch)
            i += 1
    flush()
    options.append(tuple(current))
    return options, i


def _matching(text: str, i: int) -> int:
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    raise GrammarError(f"template {text!r}: '{{' at {i} is never closed")


def _is_name(s: str) -> bool:
    return s[0].isascii() and s[0].isalpha() and all(c.isascii() and (c.isalnum() or c == "_") for c in s)


def _entity_literal(text: str, i: int) -> tuple[str, str, int] | None:
    """``[TYPE some text]`` at i: (TYPE, text, index after ']'), or None when it is plain text."""
    close = text.find("]", i)
    if close < 0:
        return None
    head, _, body = text[i + 1 : close].partition(" ")
    if head and head.isascii() and head.isupper() and head.isalnum() and body and "[" not in body:
        return head, body, close + 1
    return None


# -- lexicons from maintained libraries --------------------------------------


def _faker_values(spec: dict[str, Any], seed: int) -> list[str]:
    from faker import Faker

    fake = Faker(spec.get("locale", "en_US"))
    fake.seed_instance(seed)
    method = getattr(fake, spec["provider"])
    count = int(spec.get("count", 500))
    seen: dict[str, None] = {}
    for _ in range(count * 20):
        value = str(method()).strip()
        if value:
            seen.setdefault(value, None)
        if len(seen) >= count:
            break
    return list(seen)


def _faker_list(spec: dict[str, Any], seed: int) -> list[str]:
    """A whole word list a Faker provider ships (e.g. the zh_CN surnames), in its own order."""
    from faker import Faker

    fake = Faker(spec.get("locale", "en_US"))
    provider = fake.provider(f"faker.providers.{spec.get('provider', 'person')}")
    if provider is None:
        raise GrammarError(f"Faker has no provider {spec.get('provider')!r} for locale {spec.get('locale')!r}")
    values = getattr(provider, spec["attribute"])
    if isinstance(values, dict):  # weighted lists are OrderedDicts of value -> weight
        values = list(values)
    return [str(v) for v in values]


def _jieba_values(spec: dict[str, Any], seed: int) -> list[str]:
    """Words of jieba's dictionary (MIT) with the given part-of-speech tags."""
    tags = set(spec["tags"])
    lo, hi = int(spec.get("min_len", 1)), int(spec.get("max_len", 99))
    min_freq = int(spec.get("min_freq", 0))
    first = set(spec.get("first_char_in", "")) or None
    try:
        out = [
            word
            for word, freq, tag in jieba_dictionary.entries()
            if tag in tags and lo <= len(word) <= hi and freq >= min_freq and (first is None or word[0] in first)
        ]
    except jieba_dictionary.JiebaMissingError as exc:
        raise GrammarError(f"lexicon source 'jieba': {exc}") from None
    count = spec.get("count")
    if count is not None and len(out) > count:
        out = random.Random(seed).sample(out, int(count))
    return out


LEXICON_SOURCES: dict[str, Callable[[dict[str, Any], int], list[str]]] = {
    "faker": _faker_values,
    "faker_list": _faker_list,
    "jieba": _jieba_values,
}
LIBRARIES = {"faker": "Faker", "faker_list": "Faker", "jieba": "jieba"}


def library_versions(grammar: dict[str, Any]) -> dict[str, str]:
    """The version of every library a grammar's lexicons come from (part of the data's fingerprint)."""
    out = {}
    for spec in grammar.get("lexicons", {}).values():
        dist = LIBRARIES.get(spec.get("source", ""))
        if dist:
            try:
                out[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                out[dist] = "missing"
    return out


# -- the grammar -------------------------------------------------------------


@dataclass
class Grammar:
    path: Path
    slots: dict[str, list[Sequence_]]
    templates: dict[str | None, list[Sequence_]]  # label -> templates (None: tagging)
    label_weights: dict[str, float] = field(default_factory=dict)
    reject: dict[str, frozenset[str]] = field(default_factory=dict)  # slot -> texts it must not come out as

    def expand(self, template: Sequence_, rng: random.Random) -> tuple[str, list[list]]:
        pieces: list[str] = []
        spans: list[list] = []
        self._walk(template, rng, pieces, spans, 0, in_entity=False)
        return "".join(pieces), spans

    def _walk(
        self, nodes: Sequence_, rng: random.Random, out: list[str], spans: list[list], depth: int, in_entity: bool
    ) -> None:
        if depth > MAX_DEPTH:
            raise GrammarError(f"{self.path}: slots nest deeper than {MAX_DEPTH} (a slot that refers to itself?)")
        for node in nodes:
            if isinstance(node, Literal):
                out.append(node.text)
            elif isinstance(node, Choice):
                self._walk(rng.choice(node.options), rng, out, spans, depth + 1, in_entity)
            else:
                kind = node.kind if isinstance(node, Entity) else node.entity
                start = sum(map(len, out))
                if isinstance(node, Entity):
                    out.append(node.text)
                else:
                    inner = in_entity or kind is not None
                    rejected = self.reject.get(node.name, frozenset())
                    mark, marked_spans = len(out), len(spans)
                    for _ in range(REJECT_TRIES if rejected else 1):
                        del out[mark:], spans[marked_spans:]
                        self._walk(rng.choice(self.slots[node.name]), rng, out, spans, depth + 1, inner)
                        if "".join(out[mark:]) not in rejected:
                            break
                end = sum(map(len, out))
                # An entity inside an entity is part of the outer one.
                if kind is not None and not in_entity and end > start:
                    spans.append([start, end, kind])


def load_grammar(path: Path, seed: int) -> Grammar:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise GrammarError(f"{path}: {exc}") from None
    if not isinstance(raw, dict) or "templates" not in raw:
        raise GrammarError(f"{path}: expected an object with 'templates' (and 'slots', 'lexicons')")
    slots: dict[str, list[Sequence_]] = {}
    for name, spec in raw.get("lexicons", {}).items():
        source = LEXICON_SOURCES.get(spec.get("source"))
        if source is None:
            raise GrammarError(f"{path}: lexicon {name!r} has unknown source {spec.get('source')!r}")
        values = source(spec, seed)
        if not values:
            raise GrammarError(f"{path}: lexicon {name!r} is empty")
        slots[name] = [(Literal(v),) for v in values]
    for name, alternatives in raw.get("slots", {}).items():
        if name in slots:
            raise GrammarError(f"{path}: {name!r} is both a lexicon and a slot")
        if not isinstance(alternatives, list) or not alternatives:
            raise GrammarError(f"{path}: slot {name!r} must be a non-empty list")
        slots[name] = [_parse_in(path, a) for a in alternatives]
    templates_raw = raw["templates"]
    if isinstance(templates_raw, list):
        templates: dict[str | None, list[Sequence_]] = {None: [_parse_in(path, t) for t in templates_raw]}
    elif isinstance(templates_raw, dict):
        templates = {label: [_parse_in(path, t) for t in ts] for label, ts in templates_raw.items()}
    else:
        raise GrammarError(f"{path}: 'templates' must be a list (tagging) or label -> list (classification)")
    reject: dict[str, frozenset[str]] = {}
    for slot, names in raw.get("reject", {}).items():
        if slot not in slots or not isinstance(names, list) or any(n not in slots for n in names):
            raise GrammarError(f"{path}: 'reject' of {slot!r} must be a slot listing defined slots or lexicons")
        reject[slot] = frozenset(
            a[0].text for name in names for a in slots[name] if len(a) == 1 and isinstance(a[0], Literal)
        )
    grammar = Grammar(path, slots, templates, dict(raw.get("label_weights", {})), reject)
    _check_refs(grammar, {name for names in raw.get("reject", {}).values() for name in names})
    return grammar


def _parse_in(path: Path, template: Any) -> Sequence_:
    if not isinstance(template, str):
        raise GrammarError(f"{path}: templates and slot alternatives must be strings, got {template!r}")
    try:
        nodes, end = _parse(template, 0, top=True)
    except GrammarError as exc:
        raise GrammarError(f"{path}: {exc}") from None
    return nodes[0]


def _check_refs(grammar: Grammar, reject_sources: set[str]) -> None:
    """Every reference names a slot, and every slot is reached from a template or a reject list."""

    def visit(nodes: Sequence_, where: str, found: set[str]) -> None:
        for node in nodes:
            if isinstance(node, Ref):
                if node.name not in grammar.slots:
                    raise GrammarError(f"{grammar.path}: {where} uses unknown slot {{{node.name}}}")
                found.add(node.name)
            if isinstance(node, Choice):
                for option in node.options:
                    visit(option, where, found)

    uses: dict[str, set[str]] = {}
    for name, alternatives in grammar.slots.items():
        uses[name] = set()
        for a in alternatives:
            visit(a, f"slot {name!r}", uses[name])
    reached: set[str] = set()
    for label, templates in grammar.templates.items():
        for t in templates:
            visit(t, f"a template of {label!r}" if label else "a template", reached)
    reached |= reject_sources
    todo = list(reached)
    while todo:
        for used in uses[todo.pop()] - reached:
            reached.add(used)
            todo.append(used)
    # A slot nothing reaches is usually a misspelt reference: its rows would silently never be made.
    unreached = sorted(set(grammar.slots) - reached)
    if unreached:
        raise GrammarError(f"{grammar.path}: no template reaches slot(s) {', '.join(unreached)}; use or delete them")


def expand_grammar(grammar: Grammar, rows: int, seed: int, labels: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """``rows`` distinct rows (fewer if the grammar cannot make that many), labels in the given shares."""
    rng = random.Random(seed)
    tagging = None in grammar.templates
    if not tagging:
        unknown = [label for label in grammar.templates if labels and label not in labels]
        if unknown:
            raise GrammarError(f"{grammar.path}: templates for labels {unknown} the task does not have {labels}")
    keys = [k for k, templates in grammar.templates.items() if templates]
    weights = [float(grammar.label_weights.get(k, 1.0)) if k else 1.0 for k in keys]
    total = sum(weights)
    quota = {k: round(rows * w / total) for k, w in zip(keys, weights, strict=True)}
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for key in keys:
        made, attempts = 0, 0
        while made < quota[key] and attempts < quota[key] * 30:
            attempts += 1
            text, spans = collapse_spaces(*grammar.expand(rng.choice(grammar.templates[key]), rng))
            if not text.strip() or text in seen:
                continue
            seen.add(text)
            made += 1
            out.append({"text": text, "spans": spans} if tagging else {"text": text, "label": key})
    rng.shuffle(out)
    return out


def collapse_spaces(text: str, spans: list[list]) -> tuple[str, list[list]]:
    """Runs of whitespace become one space and the ends are trimmed, with spans moved to match.

    Optional pieces (``{kindly |}``) would otherwise leave double spaces.
    """
    new_index: list[int] = []
    out: list[str] = []
    for ch in text:
        new_index.append(len(out))
        if ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
        else:
            out.append(ch)
    new_index.append(len(out))
    trimmed_end = len(out) - 1 if out and out[-1] == " " else len(out)
    moved = []
    for start, end, kind in spans:
        s, e = new_index[start], min(new_index[end], trimmed_end)
        while s < e and out[s] == " ":
            s += 1
        while e > s and out[e - 1] == " ":
            e -= 1
        if e > s:
            moved.append([s, e, kind])
    return "".join(out[:trimmed_end]), moved
