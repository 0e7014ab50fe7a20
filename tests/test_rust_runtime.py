"""The Rust runtime agrees with the Python runtime: natively, through Python, and through the C ABI.

Tokens, vector bits, labels, units, ids and tag sequences must be identical;
scores may differ by at most SCORE_TOLERANCE (the engines sum and exponentiate
in their own order), tagger emissions by EMISSION_TOLERANCE, or by
LONG_EMISSION_TOLERANCE over one character repeated past LONG_TEXT units.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import random
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

import cerebellum
from cerebellum import bundle as cb
from cerebellum._proto import bundle_pb2 as pb
from cerebellum.rust_backend import RustTextClassifier
from forge.files import read_jsonl

from .conftest import REPO, c_library_soname

SCORE_TOLERANCE = 1e-5
EMISSION_TOLERANCE = 1e-4
# Over thousands of steps of one repeated character the LSTM amplifies the engines' different
# roundings: on "x" * 3000 the built-in tagger's native and onnxruntime emissions differ by
# 9.7e-4, each 1.3-2.3e-3 from a float64 evaluation, with the same tags.
LONG_TEXT = 500
LONG_EMISSION_TOLERANCE = 5e-3
EXTRA_TEXTS = [
    "",
    "   ",
    "İstanbul ẞ ﬁ ΣΑΣ ǅ",
    "👨‍👩‍👧 ok?",
    "\u200d\u0301a",
    "ＡＢＣ，１２３！",
    "x" * 3000,
    "a" * 3000,
    "a\x00b\tc\nd",
]


def _bundles(
    builtin_workspace: Path, tiny_tagger_workspace: Path, builtin_ner_workspace: Path
) -> list[tuple[Path, list[str]]]:
    found = []
    for root, task in [
        (builtin_workspace, "is_question"),
        (builtin_workspace, "confirmation"),
        (tiny_tagger_workspace, "tiny_ner"),
        (builtin_ner_workspace, "ner_core_entity"),
    ]:
        texts = [r["text"] for r in read_jsonl(root / "datasets" / "processed" / task / "test.jsonl")]
        found.append((root / "models" / task, texts + EXTRA_TEXTS))
    return found


@pytest.fixture(scope="module")
def bundles(builtin_workspace: Path, tiny_tagger_workspace: Path, builtin_ner_workspace: Path):
    return _bundles(builtin_workspace, tiny_tagger_workspace, builtin_ner_workspace)


def _native_answers(binary: Path, model_dir: Path, texts: list[str]) -> list[dict]:
    stdin = "".join(json.dumps(t) + "\n" for t in texts)
    done = subprocess.run(
        [str(binary), str(model_dir), "--json"], input=stdin, capture_output=True, text=True, check=True
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def _bits(values: np.ndarray) -> list[int]:
    return np.asarray(values, dtype=np.float32).view(np.uint32).tolist()


@pytest.mark.slow
def test_native_rust_matches_python_on_every_held_out_row(bundles, rust_build: Path) -> None:
    worst = {}
    for model_dir, texts in bundles:
        python = cerebellum.load(model_dir)
        answers = _native_answers(rust_build / "examples" / "cerebellum_lines", model_dir, texts)
        assert len(answers) == len(texts)
        diff = long_diff = 0.0
        for text, got in zip(texts, answers, strict=True):
            if isinstance(python, cerebellum.TextTagger):
                assert [tuple(u) for u in got["units"]] == [tuple(u) for u in python.units(text)], text
                assert got["ids"] == python.encode(text).tolist(), text
                assert got["tags"] == python.tag_ids(text), text
                assert [tuple(e) for e in got["entities"]] == [
                    (e.type, e.start, e.end, e.text) for e in python.tag(text)
                ]
                emissions = python.emissions(text)
                if emissions.size:
                    d = float(np.abs(np.array(got["emissions"]).reshape(emissions.shape) - emissions).max())
                    if emissions.shape[0] > LONG_TEXT and len(set(text)) == 1:
                        long_diff = max(long_diff, d)
                    else:
                        diff = max(diff, d)
            else:
                tokens = python.tokenizer.tokenize_with_offsets(text)
                assert [tuple(t) for t in got["tokens"]] == [tuple(t) for t in tokens], text
                vector = python.vectorize(text)
                assert got["indices"] == vector.indices.tolist(), text
                assert got["value_bits"] == _bits(vector.values), text
                assert got["label"] == python.predict(text), text
                diff = max(diff, float(np.abs(np.array(got["scores"]) - python.predict_proba(text)).max()))
        worst[model_dir.name] = (diff, long_diff) if long_diff else diff
        limit = EMISSION_TOLERANCE if isinstance(python, cerebellum.TextTagger) else SCORE_TOLERANCE
        assert diff <= limit, (model_dir.name, diff)
        assert long_diff <= LONG_EMISSION_TOLERANCE, (model_dir.name, long_diff)
    print("largest score/emission difference, native Rust vs Python:", worst)


@pytest.mark.slow
def test_rust_through_python_matches_python(bundles) -> None:
    for model_dir, texts in bundles:
        python = cerebellum.load(model_dir)
        rust = cerebellum.load(model_dir, backend="rust")
        assert rust.preprocessor == python.preprocessor
        if isinstance(python, cerebellum.TextTagger):
            assert rust.tags == python.tags and rust.entity_types == python.entity_types
            for text in texts:
                assert rust.units(text) == python.units(text), text
                assert rust.tag(text) == python.tag(text), text
                assert rust.tag_tokens(text) == python.tag_tokens(text), text
            continue
        assert rust.labels == python.labels
        for text in texts:
            assert rust.tokenize(text) == python.tokenize(text), text
            rv, pv = rust.vectorize(text), python.vectorize(text)
            assert rv.indices.tolist() == pv.indices.tolist() and _bits(rv.values) == _bits(pv.values), text
            assert rust.predict(text) == python.predict(text), text
        np.testing.assert_allclose(
            rust.predict_proba_batch(texts), python.predict_proba_batch(texts), atol=SCORE_TOLERANCE, rtol=0
        )
        assert rust.predict_batch(texts) == python.predict_batch(texts)


def test_rust_backend_serves_threads(tiny_bundle: Path) -> None:
    rust = cerebellum.load(tiny_bundle, backend="rust")
    expected = rust.predict_proba("when is dinner?")
    results: list[bool] = []

    def work() -> None:
        results.extend(bool(np.array_equal(rust.predict_proba("when is dinner?"), expected)) for _ in range(200))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 800 and all(results)


def _mutations(pre: bytes, model: bytes, count: int, seed: int):
    """Damaged (preprocessor, model) pairs: truncations, bit flips, versions; all invalid."""
    rng = random.Random(seed)
    for n in [0, 1, 5, len(pre) // 2, len(pre) - 1]:
        yield pre[:n], model
    for n in [0, 3, len(model) // 2, len(model) - 1]:
        yield pre, model[:n]
    envelope = pb.PreprocessorFile()
    envelope.ParseFromString(pre)
    envelope.format_version = 7
    yield envelope.SerializeToString(), model
    for _ in range(count):
        target = rng.choice(["pre", "model"])
        data = bytearray(pre if target == "pre" else model)
        position = rng.randrange(len(data))
        data[position] ^= 1 << rng.randrange(8)
        yield (bytes(data), model) if target == "pre" else (pre, bytes(data))


def _resigned_garbage(pre: bytes, model: bytes, count: int, seed: int):
    """Models with random damage whose checksums are made to match: they reach the engine."""
    rng = random.Random(seed)
    envelope = pb.PreprocessorFile()
    envelope.ParseFromString(pre)
    parsed = pb.Preprocessor()
    parsed.ParseFromString(envelope.preprocessor)
    for _ in range(count):
        data = bytearray(model)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.2:
            del data[rng.randrange(len(data)) :]
        parsed.model_sha256 = hashlib.sha256(bytes(data)).digest()
        yield cb.wrap_preprocessor(parsed), bytes(data)


def _files(model_dir: Path) -> tuple[bytes, bytes]:
    return (model_dir / cb.PREPROCESSOR_FILE).read_bytes(), (model_dir / cb.MODEL_FILE).read_bytes()


@pytest.mark.parametrize("which", ["tiny_bundle", "tiny_tagger"])
def test_hundreds_of_damaged_bundles_through_the_rust_api(
    which: str, tiny_bundle: Path, tiny_tagger_workspace: Path
) -> None:
    model_dir = tiny_bundle if which == "tiny_bundle" else tiny_tagger_workspace / "models" / "tiny_ner"
    pre, model = _files(model_dir)
    for damaged_pre, damaged_model in _mutations(pre, model, 300, seed=1):
        with pytest.raises(cerebellum.BundleError) as rust_error:
            cerebellum.load_bytes(damaged_pre, damaged_model, backend="rust")
        with pytest.raises(cerebellum.BundleError) as python_error:
            cerebellum.load_bytes(damaged_pre, damaged_model)
        assert type(rust_error.value) is type(python_error.value)
    for damaged_pre, damaged_model in _resigned_garbage(pre, model, 100, seed=2):
        try:  # a panic would surface as pyo3's PanicException, which is no BundleError
            loaded = cerebellum.load_bytes(damaged_pre, damaged_model, backend="rust")
        except cerebellum.BundleError:
            continue
        try:  # a model that loads must answer, or refuse with a typed error
            loaded.predict("hello") if isinstance(loaded, RustTextClassifier) else loaded.tag("hello")
        except cerebellum.CerebellumError:
            pass


class CApi:
    """ctypes view of include/cerebellum.h."""

    def __init__(self, library: Path) -> None:
        lib = ctypes.CDLL(str(library))
        handle = ctypes.c_void_p
        lib.cerebellum_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(handle)]
        lib.cerebellum_load_bytes.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(handle)
        ]  # fmt: skip
        lib.cerebellum_free.argtypes = [handle]
        lib.cerebellum_last_error.restype = ctypes.c_char_p
        lib.cerebellum_kind.argtypes = [handle]
        lib.cerebellum_num_labels.argtypes = [handle]
        lib.cerebellum_num_labels.restype = ctypes.c_size_t
        lib.cerebellum_label.argtypes = [handle, ctypes.c_size_t]
        lib.cerebellum_label.restype = ctypes.c_char_p
        lib.cerebellum_classify.argtypes = [
            handle, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_float),
            ctypes.c_size_t,
        ]  # fmt: skip
        lib.cerebellum_classify_defer.argtypes = [
            handle, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_float),
            ctypes.c_size_t, ctypes.POINTER(ctypes.c_bool),
        ]  # fmt: skip
        lib.cerebellum_tag.argtypes = [
            handle, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)
        ]  # fmt: skip
        self.lib = lib

    def load_bytes(self, pre: bytes, model: bytes) -> tuple[int, ctypes.c_void_p]:
        out = ctypes.c_void_p()
        status = self.lib.cerebellum_load_bytes(pre, len(pre), model, len(model), ctypes.byref(out))
        return status, out

    def last_error(self) -> str:
        return self.lib.cerebellum_last_error().decode()


@pytest.fixture(scope="module")
def c_api(rust_build: Path) -> CApi:
    return CApi(rust_build / "libcerebellum.so")


def test_hundreds_of_damaged_bundles_through_the_c_abi(c_api: CApi, tiny_bundle: Path) -> None:
    pre, model = _files(tiny_bundle)
    expected = {"BundleNotFoundError": 2, "BundleCorruptError": 3, "BundleVersionError": 4}
    expected |= {"BundleIntegrityError": 5, "BundleMismatchError": 6}
    for damaged_pre, damaged_model in _mutations(pre, model, 300, seed=3):
        status, handle = c_api.load_bytes(damaged_pre, damaged_model)
        assert status != 0 and not handle.value and c_api.last_error()
        with pytest.raises(cerebellum.BundleError) as python_error:
            cerebellum.load_bytes(damaged_pre, damaged_model)
        assert status == expected[type(python_error.value).__name__]
    for damaged_pre, damaged_model in _resigned_garbage(pre, model, 100, seed=4):
        status, handle = c_api.load_bytes(damaged_pre, damaged_model)
        assert status in (0, 3, 6), c_api.last_error()
        c_api.lib.cerebellum_free(handle)


def test_c_abi_validates_its_arguments(c_api: CApi, tiny_bundle: Path, tiny_tagger_workspace: Path) -> None:
    lib = c_api.lib
    status, model = c_api.load_bytes(*_files(tiny_bundle))
    assert status == 0 and lib.cerebellum_kind(model) == 1 and lib.cerebellum_num_labels(model) == 2
    label = ctypes.c_size_t()
    scores = (ctypes.c_float * 2)()
    text = b"when is dinner?"
    assert lib.cerebellum_classify(model, text, len(text), ctypes.byref(label), scores, 2) == 0
    python = cerebellum.load(tiny_bundle)
    assert lib.cerebellum_label(model, label.value).decode() == python.predict("when is dinner?")
    np.testing.assert_allclose(list(scores), python.predict_proba("when is dinner?"), atol=SCORE_TOLERANCE)
    bad = b"\xff\xfe bad utf-8"
    assert lib.cerebellum_classify(model, bad, len(bad), ctypes.byref(label), scores, 2) == 9
    assert "UTF-8" in c_api.last_error()
    assert lib.cerebellum_classify(model, None, 1, ctypes.byref(label), scores, 2) == 1
    assert lib.cerebellum_classify(model, None, 0, ctypes.byref(label), scores, 2) == 0  # (NULL, 0) is ""
    assert lib.cerebellum_label(model, label.value).decode() == python.predict("")
    assert lib.cerebellum_classify(model, text, len(text), ctypes.byref(label), scores, 1) == 11  # one per label
    assert "2 labels" in c_api.last_error()
    assert lib.cerebellum_classify(None, text, len(text), ctypes.byref(label), scores, 2) == 1
    count = ctypes.c_size_t()
    assert lib.cerebellum_tag(model, text, len(text), None, 0, ctypes.byref(count)) == 10  # wrong kind
    assert lib.cerebellum_label(model, 99) is None
    lib.cerebellum_free(model)
    lib.cerebellum_free(None)

    status, tagger = c_api.load_bytes(*_files(tiny_tagger_workspace / "models" / "tiny_ner"))
    assert status == 0 and lib.cerebellum_kind(tagger) == 2
    sentence = b"ask Anna about Project Titan"
    assert lib.cerebellum_tag(tagger, sentence, len(sentence), None, 0, ctypes.byref(count)) == 11
    assert count.value == 2  # the needed capacity
    assert lib.cerebellum_tag(tagger, None, 0, None, 0, ctypes.byref(count)) == 0 and count.value == 0
    lib.cerebellum_free(tagger)
    missing = ctypes.c_void_p()
    assert lib.cerebellum_load(b"/no/such/bundle", ctypes.byref(missing)) == 2
    assert "bundle directory not found" in c_api.last_error()


def test_c_example_compiles_and_agrees(
    rust_build: Path, tiny_bundle: Path, tiny_tagger_workspace: Path, tmp_path: Path
) -> None:
    ffi = REPO / "runtimes" / "rust" / "cerebellum-ffi"
    binary = tmp_path / "lines"
    subprocess.run(
        ["cc", "-Wall", "-Wextra", "-Werror", "-O2", str(ffi / "examples" / "lines.c"), f"-I{ffi / 'include'}",
         f"-L{rust_build}", "-lcerebellum", "-o", str(binary)],
        check=True,
    )  # fmt: skip
    # The binary asks for the library by its SONAME, which the build tree has no link for.
    libraries = tmp_path / "lib"
    libraries.mkdir()
    (libraries / c_library_soname()).symlink_to(rust_build / "libcerebellum.so")
    env = {"LD_LIBRARY_PATH": str(libraries)}
    texts = ["when is dinner?", "打开音乐", "cancel the train"]
    done = subprocess.run([str(binary), str(tiny_bundle)], input="\n".join(texts) + "\n", capture_output=True,
                          text=True, env=env, check=True)  # fmt: skip
    python = cerebellum.load(tiny_bundle)
    assert [line.split("\t")[0] for line in done.stdout.splitlines()] == [python.predict(t) for t in texts]
    tagger_dir = tiny_tagger_workspace / "models" / "tiny_ner"
    sentence = "帮我约王总"
    done = subprocess.run([str(binary), str(tagger_dir)], input=sentence + "\n", capture_output=True, text=True,
                          env=env, check=True)  # fmt: skip
    (entity,) = cerebellum.load(tagger_dir).tag(sentence)
    start, end = len(sentence[: entity.start].encode()), len(sentence[: entity.end].encode())
    assert done.stdout.split("\t")[0] == f"{entity.type}:{entity.text}@{start}-{end}"
    failed = subprocess.run([str(binary), "/no/such/bundle"], capture_output=True, text=True, env=env)
    assert failed.returncode == 1 and "bundle directory not found" in failed.stderr
