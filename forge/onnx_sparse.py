"""Lower a skl2onnx linear classifier to a sparse-input ONNX graph.

skl2onnx defines how a fitted scikit-learn linear model maps to ONNX: its
``LinearClassifier`` node holds the coefficients, intercepts and the
post-transform (logistic, softmax) that reproduce ``predict_proba``. That node
takes a dense vector of every vocabulary column, so its cost grows with the
vocabulary, and tract does not run the ai.onnx.ml domain. This module keeps
skl2onnx's numbers and semantics and rewrites the computation as

    logits = ReduceSum(Gather(W, indices) * values[..., None], axis=1) + b

over only the non-zero features, followed by the same post-transform, using
standard ONNX operators that onnxruntime and tract both run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .compress import encode_int8

OPSET = 17
IR_VERSION = 8

INDICES = "indices"
VALUES = "values"
LOGITS = "logits"
PROBABILITIES = "probabilities"


class LoweringError(ValueError):
    """The skl2onnx graph is not a linear classifier this module understands."""


@dataclass(frozen=True)
class LinearHead:
    """A linear classifier as skl2onnx exported it."""

    coefficients: np.ndarray  # [K, F] float32
    intercepts: np.ndarray  # [K] float32
    post_transform: str  # NONE | LOGISTIC | SOFTMAX
    l1_normalize: bool  # a Normalizer(norm=L1) follows


def read_linear_head(model: onnx.ModelProto) -> LinearHead:
    nodes = list(model.graph.node)
    linear = [n for n in nodes if n.op_type == "LinearClassifier"]
    if len(linear) != 1:
        raise LoweringError(f"expected one LinearClassifier node, found {[n.op_type for n in nodes]}")
    attrs = {a.name: helper.get_attribute_value(a) for a in linear[0].attribute}
    intercepts = np.asarray(attrs.get("intercepts", []), dtype=np.float32)
    k = len(intercepts)
    coefficients = np.asarray(attrs["coefficients"], dtype=np.float32)
    if k == 0 or coefficients.size % k:
        raise LoweringError("coefficients do not divide into the intercepts' classes")
    post = attrs.get("post_transform", b"NONE")
    post = post.decode() if isinstance(post, bytes) else post
    if post not in ("NONE", "LOGISTIC", "SOFTMAX"):
        raise LoweringError(f"unsupported post_transform {post}")
    normalizers = [n for n in nodes if n.op_type == "Normalizer"]
    l1 = False
    for n in normalizers:
        norm = {a.name: helper.get_attribute_value(a) for a in n.attribute}.get("norm", b"")
        if norm not in (b"L1", "L1"):
            raise LoweringError(f"unsupported Normalizer norm {norm!r}")
        l1 = True
    other = {n.op_type for n in nodes} - {"LinearClassifier", "Normalizer", "Identity", "Cast"}
    if other:
        raise LoweringError(f"unexpected operators in the skl2onnx graph: {sorted(other)}")
    # softmax output already sums to one; skl2onnx's L1 pass after it is a no-op
    return LinearHead(coefficients.reshape(k, -1), intercepts, post, l1 and post != "SOFTMAX")


def _is_mirrored_binary(head: LinearHead) -> bool:
    """skl2onnx writes a binary model as rows [-w, w]: one row suffices."""
    c, b = head.coefficients, head.intercepts
    return len(b) == 2 and head.post_transform == "LOGISTIC" and np.array_equal(c[0], -c[1]) and b[0] == -b[1]


def _weight_nodes(weights: np.ndarray, weight_format: str) -> tuple[list[onnx.TensorProto], list[onnx.NodeProto]]:
    """Initializers and decoding nodes that yield the float32 weights "W" [features, width]."""
    if weight_format == "float32":
        return [numpy_helper.from_array(weights.astype(np.float32), "W")], []
    if weight_format == "float16":
        return [numpy_helper.from_array(weights.astype(np.float16), "W_f16")], [
            helper.make_node("Cast", ["W_f16"], ["W"], to=TensorProto.FLOAT)
        ]
    if weight_format == "int8":
        q, scale = encode_int8(weights)
        # per class (axis 1): W = (q - 0) * scale, the arithmetic every runtime follows
        return [numpy_helper.from_array(q, "W_q"), numpy_helper.from_array(scale, "W_scale")], [
            helper.make_node("DequantizeLinear", ["W_q", "W_scale"], ["W"], axis=1)
        ]
    raise LoweringError(f"unknown weight format {weight_format!r}")


def build_sparse_graph(head: LinearHead, name: str, weight_format: str = "float32") -> onnx.ModelProto:
    """The sparse-input model: inputs indices/values [batch, n], outputs logits and probabilities."""
    mirrored = _is_mirrored_binary(head)
    weights = head.coefficients[1:] if mirrored else head.coefficients
    bias = head.intercepts[1:] if mirrored else head.intercepts
    weight_initializers, decoding = _weight_nodes(np.ascontiguousarray(weights.T, dtype=np.float32), weight_format)
    initializers = [
        *weight_initializers,
        numpy_helper.from_array(bias.astype(np.float32), "b"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
    ]
    nodes = [
        *decoding,
        helper.make_node("Gather", ["W", INDICES], ["rows"], axis=0),
        helper.make_node("Unsqueeze", [VALUES, "axis2"], ["values3"]),
        helper.make_node("Mul", ["rows", "values3"], ["weighted"]),
        helper.make_node("ReduceSum", ["weighted", "axis1"], ["dot"], keepdims=0),
        helper.make_node("Add", ["dot", "b"], [LOGITS]),
    ]
    if mirrored:
        # probabilities = [sigmoid(-z), sigmoid(z)], exactly as the two mirrored rows give
        nodes += [
            helper.make_node("Neg", [LOGITS], ["neg_logits"]),
            helper.make_node("Concat", ["neg_logits", LOGITS], ["pair"], axis=1),
            helper.make_node("Sigmoid", ["pair"], [PROBABILITIES]),
        ]
    else:
        transformed = {"NONE": "Identity", "LOGISTIC": "Sigmoid", "SOFTMAX": "Softmax"}[head.post_transform]
        attrs = {"axis": 1} if transformed == "Softmax" else {}
        out = "transformed" if head.l1_normalize else PROBABILITIES
        nodes.append(helper.make_node(transformed, [LOGITS], [out], **attrs))
        if head.l1_normalize:
            nodes += [
                helper.make_node("Abs", [out], ["magnitude"]),
                helper.make_node("ReduceSum", ["magnitude", "axis1"], ["l1"], keepdims=1),
                helper.make_node("Div", [out, "l1"], [PROBABILITIES]),
            ]
    n_classes = 2 if mirrored else len(bias)
    graph = helper.make_graph(
        nodes,
        name,
        inputs=[
            helper.make_tensor_value_info(INDICES, TensorProto.INT64, ["batch", "n"]),
            helper.make_tensor_value_info(VALUES, TensorProto.FLOAT, ["batch", "n"]),
        ],
        outputs=[
            helper.make_tensor_value_info(LOGITS, TensorProto.FLOAT, ["batch", len(bias)]),
            helper.make_tensor_value_info(PROBABILITIES, TensorProto.FLOAT, ["batch", n_classes]),
        ],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="model_foundry")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model
