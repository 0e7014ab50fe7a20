"""Sequence tagging: character units -> BiLSTM -> CRF (torch), exported to ONNX + preprocessor.

The units are the runtime's own (cerebellum.units.char_units over the pinned
character table), so training and serving see the same sequence by
construction. Only the emission network goes to ONNX; the CRF scores travel
in the preprocessor and the runtimes decode with their own Viterbi.
"""

from __future__ import annotations

import copy
import hashlib
import io
import itertools
import json
import random
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from cerebellum import bundle as cb
from cerebellum._proto import bundle_pb2 as pb
from cerebellum.bigrams import (
    BOUNDARY,
    FIRST_BIGRAM,
    TAGGER_CHAR_BIGRAMS,
    UNKNOWN_BIGRAM,
    bigram_ids,
    bigram_index,
    bigram_key,
)
from cerebellum.chartable import CharTable
from cerebellum.lexicon import TAGGER_LEXICON, Lexicon, build_bloom
from cerebellum.packed import CHARTABLE_BY_NAME
from cerebellum.tagger import PAD, UNK
from cerebellum.units import char_units
from cerebellum.viterbi import viterbi

from ..bundle_writer import measure_latency, metrics_header, provenance, write_bundle
from ..chartable import TABLE_PATH, pinned_table
from ..console import console, progress
from ..evaluation import span_metrics
from ..files import atomic_write_bytes, atomic_write_text, read_jsonl, sha256_files
from ..lexicons import LEXICON_SOURCES, lexicon_words
from ..model_card import render_card
from ..onnx_sparse import IR_VERSION, OPSET
from ..packing import table_by_name
from ..tagging_data import spans_of_tags, tag_set, unit_tags
from . import TaskContext, TrainerError, VerificationError, params_from_config
from .crf_model import PAD_ID, UNK_ID, BiLstmCrf, ensemble_of
from .float16_lstm import LSTM_FORMATS, Float16MismatchError, round_lstms, store_float16
from .int8_embeddings import EMBEDDING_FORMATS, ExportMismatchError, quantize_emitter, saved_tables, store_int8
from .int8_embeddings import PREFIX as INT8_PREFIX

WEIGHTS = "weights.npz"
LEXICON_FILE = "lexicon.bloom"
TRAIN_REPORT = "train.json"
VERIFY_REPORT = "verify.json"
IDS, EMISSIONS = "ids", "emissions"
BIGRAMS_BEFORE, BIGRAMS_AFTER = "bigrams_before", "bigrams_after"
LEXICON_INPUT = "lexicon"
NO_WORD = 1  # the lexicon id of a unit no lexicon word touches


@dataclass(frozen=True)
class Params:
    """Hyperparameters, from the blueprint's [train] table (task overrides win)."""

    embedding_dim: int = 32
    hidden_dim: int = 64
    dropout: float = 0.2
    char_dropout: float = 0.05  # share of training units replaced by <unk>, so <unk> is learned
    # Character bigrams: values per bigram embedding (0: none), and how often a
    # bigram must occur in the training split to get one.
    bigram_dim: int = 0
    bigram_min_count: int = 20
    # A word lexicon (needs bigrams): each unit also reads an embedding (lexicon_dim
    # values) of which words of 2-4 ideographs begin, continue or end at it. Words
    # of `lexicon` ("jieba": jieba's dictionary) counted at least lexicon_min_count
    # times, in a Bloom filter of lexicon_bits bits with lexicon_hashes hashes; in
    # training, a lexicon_dropout share of units reads "no word".
    lexicon: str = ""
    lexicon_min_count: int = 20
    lexicon_dim: int = 8
    lexicon_dropout: float = 0.0
    lexicon_bits: int = 1 << 20
    lexicon_hashes: int = 8
    min_char_count: int = 2
    # How the embedding tables are stored: "int8" (one scale per row) is a
    # quarter of float32's bytes and measured no worse.
    embedding_weights: str = "float32"
    # An ensemble: `members` BiLSTMs read the same tables and one linear layer
    # reads them all, so the emissions are the mean of the members'. Each member
    # trains on its own share of the training rows; the first trains the tables,
    # the others train with them frozen.
    members: int = 1
    # How the LSTM weights are stored: "float16" is half of float32's bytes.
    lstm_weights: str = "float32"
    epochs: int = 30
    patience: int = 6  # epochs without a better dev span-F1 before stopping
    batch_size: int = 32
    learning_rate: float = 3e-3
    lr_decay: float = 1.0  # the learning rate is multiplied by this after every epoch
    clip_norm: float = 5.0
    max_units: int = 256  # longer training sentences are cut (runtimes take any length)
    threads: int = 2

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Params:
        params_from_config(cls, config, "bilstm_crf")
        params = cls(**config)
        if params.embedding_weights not in EMBEDDING_FORMATS:
            raise TrainerError(
                f"bilstm_crf: embedding_weights = {params.embedding_weights!r}; expected one of {EMBEDDING_FORMATS}"
            )
        if params.lstm_weights not in LSTM_FORMATS:
            raise TrainerError(f"bilstm_crf: lstm_weights = {params.lstm_weights!r}; expected one of {LSTM_FORMATS}")
        if params.members < 1:
            raise TrainerError(f"bilstm_crf: members = {params.members}; expected 1 or more")
        if params.lexicon:
            if params.lexicon not in LEXICON_SOURCES:
                raise TrainerError(f"bilstm_crf: lexicon = {params.lexicon!r}; expected one of {LEXICON_SOURCES}")
            if params.bigram_dim <= 0 or params.lexicon_dim <= 0:
                raise TrainerError("bilstm_crf: a lexicon needs bigram_dim > 0 and lexicon_dim > 0")
            if params.lexicon_bits <= 0 or params.lexicon_bits % 8 or not 1 <= params.lexicon_hashes <= 32:
                raise TrainerError("bilstm_crf: lexicon_bits must be a positive multiple of 8, lexicon_hashes 1 to 32")
        return params


@dataclass
class Encoded:
    texts: list[str]
    ids: list[list[int]]
    tags: list[list[int]]
    units: list[list]
    before: list[list[int]] = field(default_factory=list)  # bigram ids, when the model has bigrams
    after: list[list[int]] = field(default_factory=list)
    lexicon: list[list[int]] = field(default_factory=list)  # lexicon ids, when the model has a lexicon


def _table() -> CharTable:
    return CharTable(pinned_table(), TABLE_PATH)


def load_splits(ctx: TaskContext) -> tuple[list[str], dict[str, list[dict[str, Any]]]]:
    meta = ctx.read_json(ctx.processed / "meta.json")
    return list(meta["labels"]), {s: read_jsonl(ctx.processed / f"{s}.jsonl") for s in ("train", "dev", "test")}


def build_vocabulary(units: list[list], min_count: int) -> list[str]:
    """<pad>, <unk>, then unit keys seen at least ``min_count`` times, most frequent first, ties by key."""
    counts = Counter(u.text for sentence in units for u in sentence)
    kept = sorted((k for k, c in counts.items() if c >= min_count), key=lambda k: (-counts[k], k))
    return [PAD, UNK, *kept]


def build_bigram_keys(ids: list[list[int]], min_count: int) -> list[int]:
    """Sorted keys of the bigrams of known units seen at least ``min_count`` times."""
    counts: Counter[int] = Counter()
    for seq in ids:
        padded = [BOUNDARY, *seq, BOUNDARY]
        counts.update(bigram_key(a, b) for a, b in zip(padded, padded[1:], strict=False) if UNK_ID not in (a, b))
    return sorted(k for k, c in counts.items() if c >= min_count)


def add_bigrams(data: Encoded, keys: list[int]) -> None:
    index = bigram_index(keys)
    pairs = [bigram_ids(seq, index) for seq in data.ids]
    data.before = [b.tolist() for b, _ in pairs]
    data.after = [a.tolist() for _, a in pairs]


def add_lexicon(data: Encoded, lexicon: Lexicon) -> None:
    data.lexicon = [lexicon.ids([u.text for u in units]).tolist() for units in data.units]


def encode(rows: list[dict[str, Any]], table: CharTable, vocab: dict[str, int], tags: list[str]) -> Encoded:
    index = {t: i for i, t in enumerate(tags)}
    out = Encoded([], [], [], [])
    for row in rows:
        units = char_units(table, row["text"])
        out.texts.append(row["text"])
        out.units.append(units)
        out.ids.append([vocab.get(u.text, UNK_ID) for u in units])
        out.tags.append([index[t] for t in unit_tags(units, [tuple(s) for s in row["spans"]])])
    return out


def _seed_everything(seed: int, threads: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def _padded(rows: list[list[int]], lengths: list[int]) -> torch.Tensor:
    """Rows cut to ``lengths``, side by side and padded with zeros (PAD_ID) to the longest."""
    out = np.zeros((len(rows), max(lengths)), dtype=np.int64)
    out[np.arange(out.shape[1]) < np.array(lengths)[:, None]] = np.fromiter(
        itertools.chain.from_iterable(row[:n] for row, n in zip(rows, lengths, strict=True)), np.int64
    )
    return torch.from_numpy(out)


def _batches(data: Encoded, params: Params, generator: torch.Generator):
    """Seeded batches of similar lengths: the CRF and the LSTM cost follow the longest row of a batch."""
    order = torch.randperm(len(data.ids), generator=generator).tolist()
    pool = params.batch_size * 16
    groups = []
    for p in range(0, len(order), pool):
        chunk = sorted(order[p : p + pool], key=lambda k: len(data.ids[k]))
        groups += [chunk[i : i + params.batch_size] for i in range(0, len(chunk), params.batch_size)]
    for g in torch.randperm(len(groups), generator=generator).tolist():
        chosen = [k for k in groups[g] if data.ids[k]]
        if not chosen:
            continue
        lengths = [min(len(data.ids[k]), params.max_units) for k in chosen]
        ids, tags, before, after, lexicon = (
            _padded([column[k] for k in chosen], lengths) if column else None
            for column in (data.ids, data.tags, data.before, data.after, data.lexicon)
        )
        assert ids is not None and tags is not None
        if params.char_dropout > 0:
            drop = (torch.rand(ids.shape, generator=generator) < params.char_dropout) & (ids != PAD_ID)
            ids = ids.masked_fill(drop, UNK_ID)
            if before is not None and after is not None:
                # a hidden unit hides both bigrams it is part of, wherever they are fed
                none = torch.zeros_like(drop[:, :1])
                hide_before = drop | torch.cat([none, drop[:, :-1]], dim=1)
                hide_after = drop | torch.cat([drop[:, 1:], none], dim=1)
                before = before.masked_fill(hide_before & (before != PAD_ID), UNKNOWN_BIGRAM)
                after = after.masked_fill(hide_after & (after != PAD_ID), UNKNOWN_BIGRAM)
        if lexicon is not None and params.lexicon_dropout > 0:
            # drawn after the characters' mask, so a run without a lexicon keeps its draws
            unheard = (torch.rand(ids.shape, generator=generator) < params.lexicon_dropout) & (lexicon != PAD_ID)
            lexicon = lexicon.masked_fill(unheard, NO_WORD)
        yield ids, tags, torch.tensor(lengths), before, after, lexicon


def _inputs(data: Encoded) -> list[list[list[int]]]:
    """The model's inputs per row, in its argument order: ids, then bigrams and lexicon ids when it has them."""
    return [column for column in (data.ids, data.before, data.after, data.lexicon) if column]


def predict_all(model: BiLstmCrf, data: Encoded) -> list[list[int]]:
    model.eval()
    return [model.predict(*row) for row in zip(*_inputs(data), strict=True)]


@torch.no_grad()
def predict_by_length(model: BiLstmCrf, data: Encoded) -> list[list[int]]:
    """``predict_all`` with the emissions of each length's rows computed in one batch: a few
    times faster, for choosing epochs. Batched sums may differ from one row's in the last bit,
    so what is compared with the runtimes comes from ``predict_all``."""
    model.eval()
    columns = _inputs(data)
    by_length: dict[int, list[int]] = {}
    for i, ids in enumerate(data.ids):
        by_length.setdefault(len(ids), []).append(i)
    crf = [p.detach().numpy() for p in (model.crf.transitions, model.crf.start, model.crf.end)]
    paths: list[list[int]] = [[] for _ in data.ids]
    for length, rows in by_length.items():
        if length == 0:
            continue
        batch = [torch.tensor([column[i] for i in rows], dtype=torch.long) for column in columns]
        emissions = model.emitter(*batch).numpy()
        for row, scores in zip(rows, emissions, strict=True):
            paths[row] = viterbi(scores, *crf)
    return paths


def spans_for(data: Encoded, paths: list[list[int]], tags: list[str]) -> list[list[tuple]]:
    return [spans_of_tags(u, [tags[t] for t in p]) for u, p in zip(data.units, paths, strict=True)]


def gold_spans(rows: list[dict[str, Any]]) -> list[list[tuple]]:
    return [[tuple(s) for s in r["spans"]] for r in rows]


class BiLstmCrfTrainer:
    name = "bilstm_crf"
    kind = "tagging"

    # -- train ---------------------------------------------------------------
    def check(self, config: dict[str, Any]) -> None:
        params_from_config(Params, config, self.name)

    def train(self, ctx: TaskContext) -> dict[str, Any]:
        params = Params.from_config(ctx.task.train)
        types, splits = load_splits(ctx)
        tags = tag_set(types)
        seed = ctx.blueprint.seed
        _seed_everything(seed, params.threads)
        table = _table()
        # each member's share of the training rows; the first one's make the tables
        shares = [splits["train"][k :: params.members] for k in range(params.members)]
        train_units = [char_units(table, r["text"]) for r in shares[0]]
        vocabulary = build_vocabulary(train_units, params.min_char_count)
        vocab = {k: i for i, k in enumerate(vocabulary)}
        data = {s: encode(rows, table, vocab, tags) for s, rows in splits.items() if s != "train"}
        trains = [encode(rows, table, vocab, tags) for rows in shares]
        everything = [*data.values(), *trains]
        keys, n_bigrams = [], 0
        if params.bigram_dim > 0:
            keys = build_bigram_keys(trains[0].ids, params.bigram_min_count)
            n_bigrams = FIRST_BIGRAM + len(keys)
            for encoded in everything:
                add_bigrams(encoded, keys)
        lexicon_report: dict[str, Any] = {}
        if params.lexicon:
            words = lexicon_words(params.lexicon, params.lexicon_min_count)
            bloom = build_bloom(words, params.lexicon_bits, params.lexicon_hashes)
            ctx.build.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(ctx.build / LEXICON_FILE, bloom)
            lexicon = Lexicon(bloom, params.lexicon_hashes)
            for encoded in everything:
                add_lexicon(encoded, lexicon)
            touched = sum(i != NO_WORD for seq in trains[0].lexicon for i in seq)
            lexicon_report = {
                "words": len(words),
                "sha256": hashlib.sha256(bloom).hexdigest(),
                "train_units_in_a_word": touched / max(1, sum(map(len, trains[0].lexicon))),
            }

        def new_model() -> BiLstmCrf:
            return BiLstmCrf(
                len(vocabulary),
                params.embedding_dim,
                params.hidden_dim,
                len(tags),
                params.dropout,
                n_bigrams,
                params.bigram_dim,
                params.lexicon_dim if params.lexicon else 0,
            )

        dev_rows = splits["dev"] or shares[0]
        dev_data = data["dev"] if splits["dev"] else trains[0]
        started = time.monotonic()
        model = new_model()
        history = self._fit(ctx, model, trains[0], (dev_rows, dev_data, types, tags), params, seed, "training")
        best_epoch = max(history, key=lambda h: h["dev_span_f1"])["epoch"]
        # Scored as stored: the runtimes compute with the int8 tables' values.
        int8_tables = quantize_emitter(model.emitter) if params.embedding_weights == "int8" else {}
        members = [model]
        for k, share in enumerate(trains[1:], start=1):
            member = new_model()
            for name in ("embedding", "bigram_embedding", "lexicon_embedding"):
                shared = getattr(model.emitter, name)
                if shared is not None:
                    shared.weight.requires_grad_(False)
                    setattr(member.emitter, name, shared)
            label = f"member {k + 1} of {params.members}"
            history += self._fit(ctx, member, share, (dev_rows, dev_data, types, tags), params, seed + k, label)
            members.append(member)
        if len(members) > 1:
            model = ensemble_of(members)
        if params.lstm_weights == "float16":
            round_lstms(model.emitter)
        model.eval()
        metrics = {}
        test_paths: list[list[int]] = []
        for split in ("dev", "test"):
            if not splits[split]:
                continue
            paths = predict_all(model, data[split])
            if split == "test":
                test_paths = paths
            metrics[split] = span_metrics(gold_spans(splits[split]), spans_for(data[split], paths, tags), types)
            gold_units = [t for seq in data[split].tags for t in seq]
            pred_units = [t for seq in paths for t in seq]
            metrics[split]["unit_accuracy"] = float(np.mean(np.equal(gold_units, pred_units))) if gold_units else 0.0
        ctx.build.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, **{k: v.detach().numpy() for k, v in model.state_dict().items()}, **int8_tables)
        atomic_write_bytes(ctx.build / WEIGHTS, buffer.getvalue())
        n_params = sum(p.numel() for p in model.emitter.parameters())
        report = {
            "task": ctx.task.name,
            "labels": types,
            "tags": tags,
            "vocabulary": vocabulary,
            "bigram_keys": keys,
            "lexicon": lexicon_report,
            "params": asdict(params),
            "parameters": n_params,
            "best_epoch": best_epoch,
            "history": history,
            "train_seconds": time.monotonic() - started,
            "estimator": f"BiLSTM-CRF(embedding={params.embedding_dim} {params.embedding_weights}, "
            + (f"{params.members} BiLSTMs averaged, " if params.members > 1 else "")
            + f"hidden={params.hidden_dim}x2 {params.lstm_weights}, units={len(vocabulary)}, parameters={n_params}"
            + (f", lexicon={lexicon_report['words']} {params.lexicon} words" if lexicon_report else "")
            + ")",
            "rows": {s: len(rows) for s, rows in splits.items()},
            "metrics": metrics,
            "test_paths": test_paths,
            "data_sha256": sha256_files(ctx.processed / f"{s}.jsonl" for s in ("train", "dev", "test")),
        }
        atomic_write_text(ctx.build / TRAIN_REPORT, json.dumps(report, ensure_ascii=False))
        test = metrics.get("test", {})
        console.print(
            f"  [bold]{ctx.task.name}[/]: {n_params:,} parameters, best epoch {best_epoch}, "
            f"test span P {test.get('precision', 0):.4f} R {test.get('recall', 0):.4f} F1 {test.get('f1', 0):.4f} "
            f"({report['train_seconds']:.0f} s)"
        )
        return report

    def _fit(
        self,
        ctx: TaskContext,
        model: BiLstmCrf,
        train: Encoded,
        dev: tuple[list[dict[str, Any]], Encoded, list[str], list[str]],
        params: Params,
        seed: int,
        label: str,
    ) -> list[dict[str, Any]]:
        """Trains ``model`` (its parameters that take gradients) on ``train``, and keeps the
        epoch with the best dev span-F1. Gives each epoch's loss and dev span-F1."""
        dev_rows, dev_data, types, tags = dev
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=params.learning_rate)
        schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=params.lr_decay)
        generator = torch.Generator().manual_seed(seed)
        best_f1, best_state, best_epoch, history = -1.0, None, 0, []
        with progress() as bar:
            job = bar.add_task(f"{ctx.task.name}: {label}", total=params.epochs)
            for epoch in range(1, params.epochs + 1):
                model.train()
                losses = []
                for ids, gold, lengths, before, after, lexicon_ids in _batches(train, params, generator):
                    optimizer.zero_grad()
                    loss = model.loss(ids, gold, lengths, before, after, lexicon_ids)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), params.clip_norm)
                    optimizer.step()
                    losses.append(float(loss.detach()))
                dev_f1 = span_metrics(
                    gold_spans(dev_rows), spans_for(dev_data, predict_by_length(model, dev_data), tags), types
                )["f1"]
                schedule.step()
                history.append({"model": label, "epoch": epoch, "loss": float(np.mean(losses)), "dev_span_f1": dev_f1})
                if not console.is_terminal:  # logs get a line per epoch; terminals get the bar
                    console.print(
                        f"    {label}, epoch {epoch}: loss {history[-1]['loss']:.4f}, dev span-F1 {dev_f1:.4f}"
                    )
                if dev_f1 > best_f1:
                    best_f1, best_state, best_epoch = dev_f1, copy.deepcopy(model.state_dict()), epoch
                bar.update(
                    job, advance=1, description=f"{ctx.task.name}: {label}, epoch {epoch}, dev span-F1 {dev_f1:.4f}"
                )
                if epoch - best_epoch >= params.patience:
                    break
        assert best_state is not None
        model.load_state_dict(best_state)
        model.eval()
        return history

    # -- export --------------------------------------------------------------
    def _model(self, ctx: TaskContext, report: dict[str, Any]) -> tuple[BiLstmCrf, dict[str, tuple]]:
        """The trained model, and its int8 tables (q, scale) by name when it stores them so."""
        path = ctx.build / WEIGHTS
        if not path.exists():
            raise TrainerError(f"{path} is missing: run the train step first")
        p = report["params"]
        keys = report.get("bigram_keys", [])
        bigrams, bigram_dim = (FIRST_BIGRAM + len(keys), p["bigram_dim"]) if p.get("bigram_dim", 0) > 0 else (0, 0)
        model = BiLstmCrf(
            len(report["vocabulary"]),
            p["embedding_dim"],
            p["hidden_dim"],
            len(report["tags"]),
            0.0,
            bigrams,
            bigram_dim,
            p["lexicon_dim"] if p.get("lexicon") else 0,
            p.get("members", 1),
        )
        with np.load(path, allow_pickle=False) as weights:
            saved = {k: weights[k] for k in weights.files}
        tables = saved_tables(saved)
        model.load_state_dict({k: torch.from_numpy(v) for k, v in saved.items() if not k.startswith(INT8_PREFIX)})
        return model.eval(), tables

    def export(self, ctx: TaskContext) -> Path:
        report = ctx.read_json(ctx.build / TRAIN_REPORT)
        model, int8_tables = self._model(ctx, report)
        onnx_bytes = export_emitter(model, int8_tables, float16=report["params"].get("lstm_weights") == "float16")
        crf = model.crf
        keys: list[int] = []
        features = [CHARTABLE_BY_NAME]
        signature = pb.OnnxSignature(ids_input=IDS, emissions_output=EMISSIONS)
        if model.emitter.bigram_embedding is not None:
            keys = report["bigram_keys"]
            features.append(TAGGER_CHAR_BIGRAMS)
            signature.bigrams_before_input = BIGRAMS_BEFORE
            signature.bigrams_after_input = BIGRAMS_AFTER
        lexicon_spec = None
        if model.emitter.lexicon_embedding is not None:
            bloom = (ctx.build / LEXICON_FILE).read_bytes()
            if hashlib.sha256(bloom).hexdigest() != report["lexicon"]["sha256"]:
                raise TrainerError(f"{ctx.build / LEXICON_FILE} is not the lexicon the model was trained with")
            lexicon_spec = pb.Lexicon(bloom=bloom, hashes=report["params"]["lexicon_hashes"])
            features.append(TAGGER_LEXICON)
            signature.lexicon_input = LEXICON_INPUT
        pre = pb.Preprocessor(
            kind=pb.TASK_KIND_SEQUENCE_TAGGING,
            task=ctx.task.name,
            labels=report["tags"],
            char_table=table_by_name(),
            tagger=pb.TaggerSpec(
                vocabulary=report["vocabulary"],
                unknown_id=UNK_ID,
                transitions=crf.transitions.detach().numpy().astype(np.float32).ravel().tolist(),
                start=crf.start.detach().numpy().astype(np.float32).tolist(),
                end=crf.end.detach().numpy().astype(np.float32).tolist(),
                bigram_keys=keys,
                lexicon=lexicon_spec,
            ),
            onnx=signature,
            model_sha256=hashlib.sha256(onnx_bytes).digest(),
            provenance=provenance(ctx, self.name, report),
            metrics=_metrics_proto(report),
            required_features=features,
        )
        return write_bundle(ctx.model_dir, pre, onnx_bytes, render_card(pre, report, sizes=None, verification=None))

    # -- verify --------------------------------------------------------------
    def verify(self, ctx: TaskContext) -> dict[str, Any]:
        import cerebellum

        report = ctx.read_json(ctx.build / TRAIN_REPORT)
        _, splits = load_splits(ctx)
        tagger = cerebellum.load(ctx.model_dir)
        texts = [r["text"] for r in splits["test"]]
        expected = report["test_paths"]
        mismatches = [i for i, text in enumerate(texts) if tagger.tag_ids(text) != expected[i]]
        problems = []
        if mismatches:
            shown = "; ".join(repr(texts[i]) for i in mismatches[:5])
            problems.append(f"{len(mismatches)} test sentences decode to other tags than the torch model: {shown}")
        failures = []
        for text, wanted in ctx.task.canaries.items():
            found = {f"{e.type}:{e.text}" for e in tagger.tag(text)}
            missing = [w for w in wanted if w not in found]
            if missing:
                failures.append(f"{text!r} lacks {missing} (found {sorted(found)})")
        if failures:
            problems.append("canaries answered wrong: " + "; ".join(failures))
        if problems:
            raise VerificationError(f"{ctx.task.name}: verification failed: " + " | ".join(problems))
        thirty = [t for t in texts if 25 <= len(t) <= 35] or texts or list(ctx.task.canaries)
        verification = {
            "rows": len(texts),
            "tag_mismatches": 0,
            "canaries": len(ctx.task.canaries),
            "latency": measure_latency(tagger, thirty, call=tagger.tag),
        }
        sizes = {name: (ctx.model_dir / name).stat().st_size for name in (cb.MODEL_FILE, cb.PREPROCESSOR_FILE)}
        verification["bundle_bytes"] = sum(sizes.values())
        atomic_write_text(ctx.build / VERIFY_REPORT, json.dumps(verification, indent=2))
        card = render_card(tagger.preprocessor, report, sizes=sizes, verification=verification)
        atomic_write_text(ctx.model_dir / cb.CARD_FILE, card)
        return verification


def export_emitter(model: BiLstmCrf, int8_tables: dict[str, tuple] | None = None, float16: bool = False) -> bytes:
    """The emission network as ONNX (a real LSTM node), simplified and checked."""
    import onnxsim

    buffer = io.BytesIO()
    example = torch.zeros((1, 8), dtype=torch.long)
    names = [IDS, BIGRAMS_BEFORE, BIGRAMS_AFTER] if model.emitter.bigram_embedding is not None else [IDS]
    if model.emitter.lexicon_embedding is not None:
        names.append(LEXICON_INPUT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter is the one that emits an LSTM node
        torch.onnx.export(
            model.emitter,
            tuple(example for _ in names),
            buffer,
            input_names=names,
            output_names=[EMISSIONS],
            dynamic_axes={**{name: {1: "n"} for name in names}, EMISSIONS: {1: "n"}},
            opset_version=OPSET,
            dynamo=False,
        )
    graph = onnx.load_from_string(buffer.getvalue())
    simplified, ok = onnxsim.simplify(graph)
    if not ok:
        raise TrainerError("onnxsim could not validate the simplified tagger")
    simplified.ir_version = IR_VERSION
    if int8_tables:
        try:
            store_int8(simplified, int8_tables)
        except ExportMismatchError as exc:
            raise TrainerError(str(exc)) from None
    if float16:
        try:
            store_float16(simplified)
        except Float16MismatchError as exc:
            raise TrainerError(str(exc)) from None
    onnx.checker.check_model(simplified, full_check=True)
    if not any(node.op_type == "LSTM" for node in simplified.graph.node):
        raise TrainerError("the exported tagger has no LSTM node")
    return simplified.SerializeToString()


def _metrics_proto(report: dict[str, Any]) -> pb.Metrics:
    metrics, test = metrics_header(report)
    if test:
        metrics.accuracy = test["unit_accuracy"]
        metrics.span_precision = test["precision"]
        metrics.span_recall = test["recall"]
        metrics.span_f1 = test["f1"]
        for c in test["per_type"]:
            metrics.per_class.add(**c)
    return metrics


Trainer = BiLstmCrfTrainer
