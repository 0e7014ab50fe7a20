"""A tagger's embedding tables stored as int8, with one float32 scale per row.

Embeddings are most of a tagger's bytes (the built-in one: 695 KB of 936 KB
as float32) and lose nothing measurable at 8 bits. The runtimes compute with
exactly what the bundle stores: ``Mul(Cast(q), scale)``, that is
``float32(q) * scale[row]`` rounded once. (Not ``DequantizeLinear``: before
opset 21 its scales are per column or per tensor, and tract reads even those
per last axis.) So the trainer rounds its tables to those values before it
scores the model, and the export writes the same ``q`` and scales, after
checking that they give back the very floats that were scored.
"""

from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from ..compress import decode_int8, encode_int8
from .crf_model import Emitter

EMBEDDING_FORMATS = ("float32", "int8")
# The emitter's tables, by the names torch.onnx gives their initializers.
TABLES = ("embedding.weight", "bigram_embedding.weight", "lexicon_embedding.weight")
PREFIX = "int8/"  # their q and scales, saved beside the float weights


class ExportMismatchError(ValueError):
    """The stored int8 values do not give back the floats the model was scored with."""


def encode_rows(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 with one scale per row: q in [-127, 127]; an all-zero row gets scale 1."""
    q, scale = encode_int8(np.ascontiguousarray(table.T))
    return np.ascontiguousarray(q.T), scale


def decode_rows(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(decode_int8(q.T, scale).T)


def quantize_emitter(emitter: Emitter) -> dict[str, np.ndarray]:
    """Rounds the emitter's tables to their int8 values in place; gives ``q`` and scales to save."""
    stored: dict[str, np.ndarray] = {}
    parameters = dict(emitter.named_parameters())
    with torch.no_grad():
        for name in TABLES:
            if name not in parameters:
                continue
            q, scale = encode_rows(parameters[name].detach().numpy())
            parameters[name].copy_(torch.from_numpy(decode_rows(q, scale)))
            stored[f"{PREFIX}{name}/q"] = q
            stored[f"{PREFIX}{name}/scale"] = scale
    return stored


def saved_tables(saved: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The (q, scale) pairs among saved arrays, by table name."""
    return {
        name: (saved[f"{PREFIX}{name}/q"], saved[f"{PREFIX}{name}/scale"])
        for name in TABLES
        if f"{PREFIX}{name}/q" in saved
    }


def store_int8(model: onnx.ModelProto, tables: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Replaces float initializers by int8 ones, decoded by ``Cast`` + ``Mul`` in front of the graph."""
    graph = model.graph
    nodes = []
    for name, (q, scale) in tables.items():
        found = [i for i, t in enumerate(graph.initializer) if t.name == name]
        if len(found) != 1:
            raise ExportMismatchError(f"the exported graph has no initializer {name!r} to store as int8")
        floats = numpy_helper.to_array(graph.initializer[found[0]])
        if floats.dtype != np.float32 or not np.array_equal(
            floats.view(np.uint32), decode_rows(q, scale).view(np.uint32)
        ):
            raise ExportMismatchError(f"{name}: the int8 values do not give back the scored weights")
        del graph.initializer[found[0]]
        column = scale.reshape(-1, 1)
        graph.initializer.extend(
            [numpy_helper.from_array(q, f"{name}_q"), numpy_helper.from_array(column, f"{name}_scale")]
        )
        nodes += [
            helper.make_node("Cast", [f"{name}_q"], [f"{name}_levels"], to=onnx.TensorProto.FLOAT),
            helper.make_node("Mul", [f"{name}_levels", f"{name}_scale"], [name]),
        ]
    for node in reversed(nodes):
        graph.node.insert(0, node)
