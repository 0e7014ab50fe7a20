"""The native evaluator of the forge's sparse linear graph (spec section 6), numpy only.

At load the ONNX graph is matched node by node against the forms the forge
emits (``forge/onnx_sparse.py``): optional weight decoding (``DequantizeLinear``
for int8, ``Cast`` for float16), then ``Gather -> Unsqueeze -> Mul ->
ReduceSum -> Add`` and one post-transform. Any other graph is left to
onnxruntime. The arithmetic is the Rust runtime's, bit for bit: float64
products summed in ascending column order, the bias added last, one rounding
to float32; scores in float64 from the float32 logits, rounded once.
"""

from __future__ import annotations

import functools
import math
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._proto import onnx_subset_pb2 as onnx
from .errors import BundleMismatchError

FLOAT, INT8, INT64, FLOAT16 = 1, 3, 7, 10
ATTRIBUTE_INT = 2
FLOAT64_COPY_LIMIT = 1 << 20  # weights (8 MiB as float64)
MIN_OPSET = 13  # two-input Unsqueeze and ReduceSum

# post-transforms
IDENTITY, SIGMOID, SOFTMAX, MIRRORED, IDENTITY_L1, SIGMOID_L1 = (
    "identity",
    "sigmoid",
    "softmax",
    "mirrored",
    "identity_l1",
    "sigmoid_l1",
)
# A lead of the top logit that no rounding of the scores can undo (see LinearModel.top_of).
DECISIVE = 1e-4


@dataclass(frozen=True)
class Signature:
    indices: str
    values: str
    logits: str
    probabilities: str
    features: int


def _elements(t: onnx.TensorProto) -> int:
    n = 1
    for d in t.dims:
        if d < 0:
            return -1
        n *= d
    return n


def _array(t: onnx.TensorProto) -> np.ndarray | None:
    """The tensor's values as stored: float32, int8 or float16 widened to float32; None if inconsistent."""
    width = {FLOAT: 4, INT8: 1, FLOAT16: 2, INT64: 8}.get(t.data_type)
    if width is None or len(t.raw_data) % width:
        return None
    if t.data_type == FLOAT:
        values = np.frombuffer(t.raw_data, "<f4") if t.raw_data else np.asarray(t.float_data, np.float32)
    elif t.data_type == INT8:
        values = np.frombuffer(t.raw_data, np.int8) if t.raw_data else np.asarray(t.int32_data, np.int64)
        if not t.raw_data and values.size and (values.min() < -128 or values.max() > 127):
            return None
        values = values.astype(np.int8)
    elif t.data_type == FLOAT16:
        if t.raw_data:
            values = np.frombuffer(t.raw_data, "<f2").astype(np.float32)
        else:
            bits = np.asarray(t.int32_data, np.int64)
            if bits.size and (bits.min() < 0 or bits.max() > 0xFFFF):
                return None
            values = bits.astype(np.uint16).view(np.float16).astype(np.float32)
    elif t.data_type == INT64:
        values = np.frombuffer(t.raw_data, "<i8") if t.raw_data else np.asarray(t.int64_data, np.int64)
    else:
        return None
    return values if values.size == _elements(t) else None


class _Graph:
    def __init__(self, graph: onnx.GraphProto) -> None:
        self.nodes = list(graph.node)
        self.tensors = {t.name: t for t in graph.initializer}
        self.at = 0

    def peek(self) -> onnx.NodeProto | None:
        return self.nodes[self.at] if self.at < len(self.nodes) else None

    def take(self, op: str, inputs: list[str], commutative: bool = False) -> onnx.NodeProto | None:
        node = self.peek()
        if node is None or node.op_type != op or node.domain or len(node.output) != 1:
            return None
        given = list(node.input)
        if given != inputs and not (commutative and given[::-1] == inputs):
            return None
        self.at += 1
        return node

    @staticmethod
    def attrs_are(node: onnx.NodeProto, wanted: dict[str, tuple[int, int]]) -> bool:
        """Only the named integer attributes, each equal to its value (absent means its default)."""
        given = {a.name: a.i for a in node.attribute}
        if set(given) - set(wanted) or any(a.type != ATTRIBUTE_INT for a in node.attribute):
            return False
        return all(given.get(name, default) == value for name, (value, default) in wanted.items())

    def ints(self, name: str) -> list[int] | None:
        """A one-element int64 tensor's value (axes), else None."""
        t = self.tensors.get(name)
        if t is None or t.data_type != INT64 or list(t.dims) != [1]:
            return None
        values = _array(t)
        return None if values is None else values.tolist()


def _signature_fits(model: onnx.ModelProto, sig: Signature) -> bool:
    """Declared inputs and outputs as the preprocessor names them, a recent default opset,
    and every value produced once: what the ONNX engines would check before running."""
    graph = model.graph
    opsets = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if len(opsets) != 1 or opsets[0] < MIN_OPSET:
        return False
    initializers = {t.name for t in graph.initializer}
    inputs = [i.name for i in graph.input if i.name not in initializers]
    if sorted(inputs) != sorted([sig.indices, sig.values]):
        return False
    if not {sig.logits, sig.probabilities} <= {o.name for o in graph.output}:
        return False
    produced = [o for node in graph.node for o in node.output]
    taken = set(inputs) | initializers
    return len(produced) == len(set(produced)) and not taken & set(produced)


class LinearModel:
    """The linear model of a recognized graph; evaluates one sparse vector at a time."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray, post: str, weight_format: str) -> None:
        # [features, width], the dequantized float32 values; held as float64 (exactly the same
        # values) unless that would take much memory, which spares a conversion per query
        self.weights = weights.astype(np.float64) if weights.size <= FLOAT64_COPY_LIMIT else weights
        self.bias = bias.astype(np.float64)
        self.width = weights.shape[1]
        self.post = post
        self.weight_format = weight_format  # "float32" | "float16" | "int8"

    @property
    def score_width(self) -> int:
        return 2 if self.post == MIRRORED else self.width

    @classmethod
    def recognize(cls, model: bytes, sig: Signature, path: Path) -> LinearModel | None:
        """The graph's linear model, or None when the graph is not one of the forge's linear forms."""
        parsed = onnx.ModelProto()
        try:
            parsed.ParseFromString(model)
        except Exception:  # onnxruntime reports what is wrong with it
            return None
        if not parsed.HasField("graph") or not _signature_fits(parsed, sig):
            return None
        matched = cls._match(_Graph(parsed.graph), sig)
        if matched is None:
            return None
        weights, weight_format, bias, post = matched
        if sig.features == 0 or weights.shape[0] != sig.features:
            raise BundleMismatchError(
                path, f"model has {weights.shape[0]} feature rows, vocabulary has {sig.features} terms"
            )
        if not (np.isfinite(weights).all() and np.isfinite(bias).all()):
            raise BundleMismatchError(path, "model weights are not all finite")
        return cls(np.ascontiguousarray(weights), bias, post, weight_format)

    @staticmethod
    def _match(g: _Graph, sig: Signature) -> tuple[np.ndarray, str, np.ndarray, str] | None:
        first = g.peek()
        if first is None:
            return None
        if first.op_type == "DequantizeLinear":
            if len(first.input) != 2:
                return None
            q_name, scale_name = first.input
            node = g.take("DequantizeLinear", [q_name, scale_name])
            if node is None or not g.attrs_are(node, {"axis": (1, 1)}):
                return None
            q_t, scale_t = g.tensors.get(q_name), g.tensors.get(scale_name)
            if q_t is None or scale_t is None or q_t.data_type != INT8 or scale_t.data_type != FLOAT:
                return None
            q, scale = _array(q_t), _array(scale_t)
            if q is None or scale is None or len(q_t.dims) != 2 or list(scale_t.dims) != [q_t.dims[1]]:
                return None
            # DequantizeLinear: (q - 0) * scale, one float32 rounding
            weights = q.reshape(tuple(q_t.dims)).astype(np.float32) * scale[None, :]
            weights_name, weight_format = node.output[0], "int8"
        elif first.op_type == "Cast":
            if len(first.input) != 1:
                return None
            node = g.take("Cast", [first.input[0]])
            t = g.tensors.get(first.input[0])
            if node is None or t is None or t.data_type != FLOAT16 or not g.attrs_are(node, {"to": (FLOAT, -1)}):
                return None
            stored = _array(t)
            if stored is None or len(t.dims) != 2:
                return None
            weights, weights_name, weight_format = stored.reshape(tuple(t.dims)), node.output[0], "float16"
        else:
            t = g.tensors.get(first.input[0]) if first.input else None
            if t is None or t.data_type != FLOAT or len(t.dims) != 2:
                return None
            stored = _array(t)
            if stored is None:
                return None
            weights, weights_name, weight_format = stored.reshape(tuple(t.dims)), t.name, "float32"
        if weights.shape[1] == 0:
            return None

        gather = g.take("Gather", [weights_name, sig.indices])
        if gather is None or not g.attrs_are(gather, {"axis": (0, 0)}):
            return None
        node = g.peek()
        if node is None or len(node.input) != 2:
            return None
        unsqueeze = g.take("Unsqueeze", [sig.values, node.input[1]])
        if unsqueeze is None or g.ints(node.input[1]) != [2] or len(unsqueeze.attribute):
            return None
        mul = g.take("Mul", [gather.output[0], unsqueeze.output[0]], commutative=True)
        if mul is None or len(mul.attribute):
            return None
        node = g.peek()
        if node is None or len(node.input) != 2:
            return None
        reduce = g.take("ReduceSum", [mul.output[0], node.input[1]])
        if reduce is None or g.ints(node.input[1]) != [1] or not g.attrs_are(reduce, {"keepdims": (0, 1)}):
            return None
        node = g.peek()
        bias_name = next((i for i in node.input if i in g.tensors), None) if node is not None else None
        if bias_name is None:
            return None
        add = g.take("Add", [reduce.output[0], bias_name], commutative=True)
        if add is None or len(add.attribute) or add.output[0] != sig.logits:
            return None
        bias_t = g.tensors[bias_name]
        bias = _array(bias_t)
        if bias is None or bias_t.data_type != FLOAT or list(bias_t.dims) != [weights.shape[1]]:
            return None
        post = LinearModel._match_post(g, sig)
        if post is None or g.at != len(g.nodes):
            return None
        return weights, weight_format, bias, post

    @staticmethod
    def _match_post(g: _Graph, sig: Signature) -> str | None:
        node = g.peek()
        if node is None:
            return None
        if node.op_type == "Neg":
            neg = g.take("Neg", [sig.logits])
            concat = neg and g.take("Concat", [neg.output[0], sig.logits])
            if neg is None or len(neg.attribute) or concat is None or not g.attrs_are(concat, {"axis": (1, -(2**63))}):
                return None
            sigmoid = g.take("Sigmoid", [concat.output[0]])
            ok = sigmoid is not None and not len(sigmoid.attribute) and sigmoid.output[0] == sig.probabilities
            return MIRRORED if ok else None
        if node.op_type == "Softmax":
            softmax = g.take("Softmax", [sig.logits])
            ok = softmax is not None and g.attrs_are(softmax, {"axis": (1, -1)})
            return SOFTMAX if ok and softmax.output[0] == sig.probabilities else None
        if node.op_type in ("Identity", "Sigmoid"):
            is_sigmoid = node.op_type == "Sigmoid"
            t = g.take(node.op_type, [sig.logits])
            if t is None or len(t.attribute):
                return None
            if t.output[0] == sig.probabilities:
                return SIGMOID if is_sigmoid else IDENTITY
            abs_ = g.take("Abs", [t.output[0]])
            node = g.peek()
            if abs_ is None or len(abs_.attribute) or node is None or len(node.input) != 2:
                return None
            reduce = g.take("ReduceSum", [abs_.output[0], node.input[1]])
            if reduce is None or g.ints(node.input[1]) != [1] or not g.attrs_are(reduce, {"keepdims": (1, 1)}):
                return None
            div = g.take("Div", [t.output[0], reduce.output[0]])
            if div is None or len(div.attribute) or div.output[0] != sig.probabilities:
                return None
            return SIGMOID_L1 if is_sigmoid else IDENTITY_L1
        return None

    def logits(self, indices: np.ndarray, values: np.ndarray) -> np.ndarray:
        """float64 products summed in ascending column order, plus the bias, rounded once to float32."""
        return np.array(self.logits_of(indices.tolist(), values.tolist()), dtype=np.float32)

    def logits_of(self, columns: list[int], values: list[float]) -> list[float]:
        """``logits`` of ascending ``columns`` and their float32 ``values``, as Python floats."""
        # In ascending column order, as the spec orders the sum. One column is summed in
        # Python (numpy would sum a contiguous run pairwise); for several, numpy reduces
        # axis 0 of a C-ordered [n, width] array row after row.
        if not columns:
            return _rounded(self._bias)
        if self.width == 1:
            column = self._column
            total = 0.0
            for j, v in zip(columns, values, strict=True):
                total += v * column[j]
            return _rounded([total + self._bias[0]])
        rows = self.weights.take(columns, axis=0)  # [n, width], a copy
        if rows.dtype != np.float64:
            rows = rows.astype(np.float64)
        by_class = rows.T
        by_class *= np.array(values)  # row k times value k, in place: exact float64 products
        return _rounded([a + b for a, b in zip(rows.sum(axis=0).tolist(), self._bias, strict=True)])

    @functools.cached_property
    def _column(self) -> list[float]:
        return self.weights[:, 0].tolist()

    @functools.cached_property
    def _bias(self) -> list[float]:
        return self.bias.tolist()

    def scores(self, logits: np.ndarray) -> np.ndarray:
        """Scores from float32 logits, computed in float64 and rounded once to float32."""
        return np.array(self.scores_of(logits.tolist()), dtype=np.float32)

    def top_of(self, z: list[float]) -> int | None:
        """The index of the top score of float32 logits ``z`` when the logits alone settle it, else None.

        Softmax and the mirrored sigmoid keep the logits' order, and a top logit ahead of the
        rest by more than ``DECISIVE`` gives a score that stays strictly ahead after rounding to
        float32 (the ratio of the two scores is at least e^DECISIVE, far beyond two float32 ulps),
        so the first maximum of the scores is that index and they need not be computed.
        """
        if self.post == MIRRORED:
            return 1 if z[0] > DECISIVE else 0 if z[0] < -DECISIVE else None
        if self.post != SOFTMAX or not math.isfinite(sum(z)):
            return None
        top = max(z)
        i = z.index(top)
        rest = z[:i] + z[i + 1 :]
        return i if not rest or top - max(rest) > DECISIVE else None

    def scores_of(self, z: list[float]) -> list[float]:
        """``scores`` of float32 logits given as Python floats, as Python floats."""
        # math.exp is the C library's exp, as in the Rust runtime (numpy's own may differ by an ulp)
        post = self.post
        if post == IDENTITY:
            return list(z)
        if post == MIRRORED:
            return _rounded([_sigmoid(-z[0]), _sigmoid(z[0])])
        if post == SIGMOID:
            return _rounded([_sigmoid(v) for v in z])
        if post == SOFTMAX:
            top = max(z)
            exps = [math.exp(v - top) for v in z]
            total = 0.0
            for e in exps:
                total += e
            return _rounded([e / total for e in exps])
        t = [_sigmoid(v) for v in z] if post == SIGMOID_L1 else z
        total = 0.0
        for v in t:
            total += abs(v)
        return _rounded([v / total for v in t])


def _rounded(values: list[float]) -> list[float]:
    """Each value rounded to the nearest float32 (ties to even; beyond range to infinity)."""
    return array("f", values).tolist()


def _sigmoid(z: float) -> float:
    try:
        return 1.0 / (1.0 + math.exp(-z))
    except OverflowError:  # exp(-z) beyond float64: C's exp gives infinity, and 1 / inf = 0
        return 0.0
