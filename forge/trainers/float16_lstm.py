"""A tagger's LSTM weights stored as float16, widened by ``Cast`` in front of the graph.

An ensemble of BiLSTMs carries one set of LSTM weights per member; at two bytes
a weight, two members take the bytes of one at float32. Widening float16 to
float32 is exact, so the runtimes compute with exactly the values the trainer
rounded its weights to before it scored the model.
"""

from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from .crf_model import Emitter

LSTM_FORMATS = ("float32", "float16")


class Float16MismatchError(ValueError):
    """An LSTM weight is not the float16 value the model was scored with."""


def round_lstms(emitter: Emitter) -> None:
    """Rounds the input and recurrent weights of every BiLSTM to float16 values, in place."""
    with torch.no_grad():
        for lstm in emitter.lstms():
            for name, weight in lstm.named_parameters():
                if name.startswith("weight_"):
                    weight.copy_(weight.half().float())


def store_float16(model: onnx.ModelProto) -> None:
    """Stores each LSTM node's W and R as float16 initializers widened by ``Cast`` in front of the graph."""
    graph = model.graph
    by_name = {t.name: i for i, t in enumerate(graph.initializer)}
    nodes = []
    for lstm in (n for n in graph.node if n.op_type == "LSTM"):
        for position in (1, 2):
            name = lstm.input[position]
            if name not in by_name:
                raise Float16MismatchError(f"the LSTM's input {name!r} is not an initializer")
            floats = numpy_helper.to_array(graph.initializer[by_name[name]])
            halves = floats.astype(np.float16)
            if floats.dtype != np.float32 or not np.array_equal(
                halves.astype(np.float32).view(np.uint32), floats.view(np.uint32)
            ):
                raise Float16MismatchError(f"{name}: the LSTM weights are not float16 values")
            graph.initializer[by_name[name]].CopyFrom(numpy_helper.from_array(halves, f"{name}_f16"))
            nodes.append(helper.make_node("Cast", [f"{name}_f16"], [name], to=onnx.TensorProto.FLOAT))
    for node in reversed(nodes):
        graph.node.insert(0, node)
