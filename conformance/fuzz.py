"""`conformance fuzz`: mutated bundles through the Python runtime, the Rust module or the C ABI.

The same mutations as the Rust driver (`fuzz-bundles`): byte edits of the
envelope, of the re-signed payload, of the re-signed model, and semantic
edits of the parsed preprocessor. Seeds are golden files, which carry their
bundles. A runtime may refuse a bundle only with a typed bundle error, and
a bundle that loads must answer a few texts or refuse them with a typed
error; anything else (another exception, a crash of the C library) is a
failure. The run is reproducible from its seed.
"""

from __future__ import annotations

import ctypes
import hashlib
import random
import resource
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cerebellum
from cerebellum import bundle as cb
from cerebellum._proto import bundle_pb2 as bpb

from ._proto import testee_pb2 as pb

TEXTS = ("", "hello world?", "帮我约李经理周五见面", "ǅİß\u0301\u200d", "a\0b", "  \t\n")


@dataclass(frozen=True)
class Seed:
    task: str
    preprocessor: bytes
    model: bytes
    inner: bpb.Preprocessor


def load_seeds(paths: list[Path]) -> list[Seed]:
    seeds = []
    for path in paths:
        golden = pb.GoldenFile()
        golden.ParseFromString(path.read_bytes())
        inner = cb.unwrap_preprocessor(golden.preprocessor, path)
        seeds.append(Seed(golden.task, golden.preprocessor, golden.model, inner))
    return seeds


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not out:
            out.append(rng.randrange(256))
            continue
        at = rng.randrange(len(out))
        op = rng.randrange(7)
        if op == 0:
            out[at] ^= 1 << rng.randrange(8)
        elif op == 1:
            out[at] = rng.choice((0x00, 0xFF, 0x7F, 0x80, 0x01))
        elif op == 2:
            del out[at:]
        elif op == 3:
            start = rng.randrange(len(out))
            out[at:at] = out[start : start + rng.randint(1, 64)]
        elif op == 4:
            del out[at : at + rng.randint(1, 32)]
        elif op == 5:
            out[at:at] = b"\xff\xff\xff\xff\x0f"  # a varint that claims a huge length
        else:
            out[at] = rng.randrange(256)
    return bytes(out)


def mutate_fields(pre: bpb.Preprocessor, rng: random.Random) -> None:
    op = rng.randrange(10)
    if op == 0 and pre.labels:
        pre.labels.pop()
    elif op == 1:
        pre.labels.append("")
    elif op == 2:
        del pre.tfidf.idf[rng.randrange(len(pre.tfidf.idf) + 1) :]
    elif op == 3 and pre.tfidf.idf:
        pre.tfidf.idf[rng.randrange(len(pre.tfidf.idf))] = rng.choice((float("nan"), float("inf"), -1.0, 0.0))
    elif op == 4:
        del pre.tfidf.vocabulary[rng.randrange(len(pre.tfidf.vocabulary) + 1) :]
    elif op == 5:
        pre.onnx.num_features = rng.randrange(1 << 32)
    elif op == 6:
        del pre.tagger.transitions[rng.randrange(len(pre.tagger.transitions) + 1) :]
    elif op == 7:
        pre.tagger.unknown_id = rng.randrange(1 << 32)
    elif op == 8 and pre.char_table.fold_from_delta:
        pre.char_table.fold_from_delta[rng.randrange(len(pre.char_table.fold_from_delta))] = rng.randrange(1 << 32)
    else:
        pre.kind = rng.randrange(4)


def case(seed: Seed, rng: random.Random) -> tuple[bytes, bytes]:
    """One mutated (preprocessor.bin, model.onnx) pair."""
    kind = rng.randrange(5)
    if kind == 0:
        return mutate_bytes(seed.preprocessor, rng), seed.model
    if kind == 1:
        return cb.wrap_preprocessor_payload(mutate_bytes(seed.inner.SerializeToString(), rng)), seed.model
    pre = bpb.Preprocessor()
    pre.CopyFrom(seed.inner)
    if kind == 2:
        mutate_fields(pre, rng)
        return cb.wrap_preprocessor(pre), seed.model
    model = mutate_bytes(seed.model, rng)
    if kind == 3:
        pre.model_sha256 = hashlib.sha256(model).digest()
        return cb.wrap_preprocessor(pre), model
    return seed.preprocessor, model


def cases(seeds: list[Seed], count: int, seed: int) -> Iterator[tuple[str, bytes, bytes]]:
    rng = random.Random(seed)
    for _ in range(count):
        chosen = rng.choice(seeds)
        pre, model = case(chosen, rng)
        yield chosen.task, pre, model


def python_outcome(pre: bytes, model: bytes, backend: str = "python") -> str:
    try:
        loaded = cerebellum.load_bytes(pre, model, backend=backend)
    except cerebellum.BundleError as exc:
        return f"refused: {type(exc).__name__}"
    refused = 0
    for text in TEXTS:
        try:
            loaded.tag(text) if hasattr(loaded, "tag") else loaded.classify(text)
        except cerebellum.CerebellumError:
            refused += 1
    return "loaded, answered" if not refused else "loaded, refused some texts"


class CLibrary:
    """The few C entry points the fuzzer needs (include/cerebellum.h)."""

    def __init__(self, path: Path) -> None:
        lib = ctypes.CDLL(str(path))
        handle = ctypes.c_void_p
        lib.cerebellum_load_bytes.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(handle)
        ]  # fmt: skip
        lib.cerebellum_free.argtypes = [handle]
        lib.cerebellum_kind.argtypes = [handle]
        lib.cerebellum_num_labels.argtypes = [handle]
        lib.cerebellum_num_labels.restype = ctypes.c_size_t
        lib.cerebellum_classify.argtypes = [
            handle, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_float),
            ctypes.c_size_t,
        ]  # fmt: skip
        lib.cerebellum_tag.argtypes = [
            handle, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)
        ]  # fmt: skip
        self.lib = lib

    def outcome(self, pre: bytes, model: bytes) -> str:
        lib = self.lib
        out = ctypes.c_void_p()
        status = lib.cerebellum_load_bytes(pre, len(pre), model, len(model), ctypes.byref(out))
        if status == 12:
            return "PANIC"
        if status != 0:
            return f"refused: status {status}"
        try:
            statuses = Counter()
            kind = lib.cerebellum_kind(out)
            labels = lib.cerebellum_num_labels(out)
            scores = (ctypes.c_float * max(labels, 1))()
            spans = ctypes.create_string_buffer(64 * 64)
            for text in TEXTS:
                data = text.encode("utf-8")
                found = ctypes.c_size_t()
                if kind == 1:
                    status = lib.cerebellum_classify(out, data, len(data), ctypes.byref(found), scores, labels)
                else:
                    status = lib.cerebellum_tag(out, data, len(data), spans, 64, ctypes.byref(found))
                statuses[status] += 1
            if statuses.get(12):
                return "PANIC"
            return "loaded, answered" if set(statuses) == {0} else "loaded, refused some texts"
        finally:
            lib.cerebellum_free(out)


def run(
    seeds: list[Seed], count: int, seed: int, outcome: Callable[[bytes, bytes], str], progress: Callable[[str], None]
) -> tuple[Counter, float]:
    started = time.monotonic()
    outcomes: Counter = Counter()
    for i, (_, pre, model) in enumerate(cases(seeds, count, seed), 1):
        try:
            result = outcome(pre, model)
        except Exception as exc:  # noqa: BLE001 - anything untyped is the finding
            result = f"FAILED: {type(exc).__name__}"
        outcomes[result] += 1
        if i % 10_000 == 0:
            progress(f"{i} cases, {time.monotonic() - started:.0f} s")
    return outcomes, time.monotonic() - started


def peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
