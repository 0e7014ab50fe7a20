//! The native evaluator of the forge's sparse linear graph (spec section 6).
//!
//! At load, the ONNX graph is matched node by node against the forms the
//! forge emits (`forge/onnx_sparse.py`): optional weight decoding
//! (`DequantizeLinear` for int8, `Cast` for float16), then
//! `Gather -> Unsqueeze -> Mul -> ReduceSum -> Add` and one post-transform.
//! A graph of any other shape is left to tract. The arithmetic is pinned so
//! the Python runtime's numpy evaluator gives the same bits: float64
//! accumulation in ascending column order, rounded once to float32.

use alloc::borrow::ToOwned;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use prost::Message;

use crate::error::{BundleFile, Error, Result};
use crate::exact::collect_exact;
use crate::initializers::{elements, floats, int64s, int8s, little_endian, FLOAT, FLOAT16};
use crate::onnx;
use crate::tfidf::SparseVector;

const ATTRIBUTE_INT: i32 = 2;
/// Two-input `Unsqueeze` and `ReduceSum` need opset 13.
const MIN_OPSET: i64 = 13;

/// What turns logits into scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Post {
    Identity,
    Sigmoid,
    Softmax,
    /// One logit z gives the scores [sigmoid(-z), sigmoid(z)].
    Mirrored,
    /// Identity, then each score divided by the sum of their magnitudes.
    IdentityL1,
    /// Sigmoid, then each score divided by the sum of their magnitudes.
    SigmoidL1,
}

/// How the weights are stored in the bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightFormat {
    /// float32 weights.
    Float32,
    /// float16 weights, widened exactly to float32.
    Float16,
    /// int8 weights times a float32 scale per class, rounded to float32.
    Int8,
}

/// The weights as the bundle stores them: row `f` (`width` values) holds the weights of
/// feature `f`. Int8 and float16 weights stay in their 1 or 2 bytes and are widened as they
/// are used, with the very arithmetic of widening them all at load (same bits).
#[derive(Debug)]
enum Weights {
    Float32(Vec<f32>),
    /// IEEE binary16 bits; widening to float32 is exact.
    Float16(Vec<u16>),
    /// DequantizeLinear's `(q - 0) * scale[class]`: one float32 multiplication.
    Int8 {
        q: Vec<i8>,
        scale: Vec<f32>,
    },
}

impl Weights {
    fn len(&self) -> usize {
        match self {
            Weights::Float32(w) => w.len(),
            Weights::Float16(w) => w.len(),
            Weights::Int8 { q, .. } => q.len(),
        }
    }

    /// Whether every weight, dequantized, is finite.
    fn all_finite(&self) -> bool {
        match self {
            Weights::Float32(w) => w.iter().all(|w| w.is_finite()),
            Weights::Float16(w) => w.iter().all(|&h| f16_to_f32(h).is_finite()),
            Weights::Int8 { q, scale } => {
                let width = scale.len().max(1);
                q.chunks(width)
                    .all(|row| row.iter().zip(scale).all(|(&q, &s)| (f32::from(q) * s).is_finite()))
            }
        }
    }
}

/// A linear model read from the graph's initializers.
#[derive(Debug)]
pub(crate) struct LinearModel {
    weights: Weights,
    bias: Vec<f32>,
    width: usize,
    post: Post,
    format: WeightFormat,
}

/// One feature's weights, as stored.
enum Row<'a> {
    Float32(&'a [f32]),
    Float16(&'a [u16]),
    Int8(&'a [i8], &'a [f32]),
}

struct Graph<'a> {
    nodes: &'a [onnx::NodeProto],
    tensors: BTreeMap<&'a str, &'a onnx::TensorProto>,
    at: usize,
}

impl<'a> Graph<'a> {
    /// The next node if it has this operator, these inputs (any order when `commutative`) and one output.
    fn take(&mut self, op: &str, inputs: &[&str], commutative: bool) -> Option<&'a onnx::NodeProto> {
        let node = self.nodes.get(self.at)?;
        let same = node.input.iter().map(String::as_str).eq(inputs.iter().copied())
            || (commutative && node.input.iter().rev().map(String::as_str).eq(inputs.iter().copied()));
        if node.op_type != op || !node.domain.is_empty() || !same || node.output.len() != 1 {
            return None;
        }
        self.at += 1;
        Some(node)
    }

    fn int_attr(node: &onnx::NodeProto, name: &str) -> Option<i64> {
        node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
    }

    /// Only the named integer attributes, with these values (absent means `default`).
    fn attrs_are(node: &onnx::NodeProto, wanted: &[(&str, i64, i64)]) -> bool {
        node.attribute
            .iter()
            .all(|a| a.r#type == ATTRIBUTE_INT && wanted.iter().any(|(n, _, _)| a.name == *n))
            && wanted
                .iter()
                .all(|(name, value, default)| Self::int_attr(node, name).unwrap_or(*default) == *value)
    }

    /// A one-element int64 tensor's value (axes).
    fn ints(&self, name: &str) -> Option<Vec<i64>> {
        let t = self.tensors.get(name)?;
        if t.dims != [1] {
            return None;
        }
        int64s(t)
    }

    fn output(node: &onnx::NodeProto) -> &str {
        node.output.first().map_or("", String::as_str)
    }
}

/// IEEE binary16 to binary32; exact for every value, NaN and infinity included.
pub(crate) fn f16_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits >> 15) << 31;
    let exponent = u32::from((bits >> 10) & 0x1f);
    let fraction = u32::from(bits & 0x3ff);
    let magnitude = match (exponent, fraction) {
        (0, 0) => 0,
        (0, f) => {
            // subnormal: value = f * 2^-24, normalised for binary32
            let shift = f.leading_zeros() - 21; // bring the top set bit to bit 10
            let f = (f << shift) & 0x3ff;
            ((127 - 15 + 1 - shift) << 23) | (f << 13)
        }
        (0x1f, f) => 0x7f80_0000 | (f << 13),
        (e, f) => ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(sign | magnitude)
}

/// A float16 tensor's values as their bits.
pub(crate) fn float16s(t: &onnx::TensorProto) -> Option<Vec<u16>> {
    if t.data_type != FLOAT16 {
        return None;
    }
    let values: Vec<u16> = if t.raw_data.is_empty() {
        collect_exact(t.int32_data.iter().map(|&v| u16::try_from(v).ok()))?
    } else {
        little_endian(&t.raw_data, u16::from_le_bytes)?
    };
    (Some(values.len()) == elements(t)).then_some(values)
}

/// The model's names for its inputs and outputs, from the preprocessor.
pub(crate) struct Signature<'a> {
    pub indices: &'a str,
    pub values: &'a str,
    pub logits: &'a str,
    pub probabilities: &'a str,
    pub features: usize,
}

/// Declared inputs and outputs as the preprocessor names them, a recent default opset, and
/// every value produced once: what the ONNX engines would check before running.
fn signature_fits(model: &onnx::ModelProto, graph: &onnx::GraphProto, sig: &Signature<'_>) -> bool {
    let mut opsets = model
        .opset_import
        .iter()
        .filter(|o| o.domain.is_empty() || o.domain == "ai.onnx");
    let (Some(opset), None) = (opsets.next(), opsets.next()) else {
        return false;
    };
    if opset.version < MIN_OPSET {
        return false;
    }
    let initializers: BTreeSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut inputs: Vec<&str> = graph
        .input
        .iter()
        .map(|i| i.name.as_str())
        .filter(|n| !initializers.contains(n))
        .collect();
    inputs.sort_unstable();
    let mut wanted = [sig.indices, sig.values];
    wanted.sort_unstable();
    if inputs != wanted {
        return false;
    }
    let outputs: BTreeSet<&str> = graph.output.iter().map(|o| o.name.as_str()).collect();
    if !outputs.contains(sig.logits) || !outputs.contains(sig.probabilities) {
        return false;
    }
    let mut produced = BTreeSet::new();
    graph.node.iter().flat_map(|n| &n.output).all(|o| {
        let o = o.as_str();
        produced.insert(o) && !initializers.contains(o) && !inputs.contains(&o)
    })
}

/// `e^x` as spec section 6 states it: the C library's `exp` with the `std` feature (glibc's
/// agrees with the Python runtime's `math.exp`), the `libm` crate's without (bare metal).
#[cfg(feature = "std")]
fn exp(x: f64) -> f64 {
    x.exp()
}

/// See the `std` version.
#[cfg(not(feature = "std"))]
fn exp(x: f64) -> f64 {
    libm::exp(x)
}

impl LinearModel {
    /// The linear model of `model`, or `None` when the graph is not one of the forge's linear forms.
    pub(crate) fn recognize(model: &[u8], sig: &Signature<'_>) -> Result<Option<Self>> {
        let file = BundleFile::Model;
        let Ok(parsed) = onnx::ModelProto::decode(model) else {
            return Ok(None); // tract reports what is wrong with it
        };
        let Some(graph) = parsed.graph.as_ref() else {
            return Ok(None);
        };
        if !signature_fits(&parsed, graph, sig) {
            return Ok(None);
        }
        let mut g = Graph {
            nodes: &graph.node,
            tensors: graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect(),
            at: 0,
        };
        let Some((weights, format, bias, width, post)) = Self::match_graph(&mut g, sig) else {
            return Ok(None);
        };
        if sig.features == 0 || weights.len() != sig.features * width {
            return Err(Error::mismatch(
                file,
                format!(
                    "model has {} feature rows, vocabulary has {} terms",
                    weights.len() / width,
                    sig.features
                ),
            ));
        }
        if !weights.all_finite() || bias.iter().any(|w| !w.is_finite()) {
            return Err(Error::mismatch(file, "model weights are not all finite"));
        }
        Ok(Some(LinearModel {
            weights,
            bias,
            width,
            post,
            format,
        }))
    }

    #[allow(clippy::type_complexity)]
    fn match_graph(g: &mut Graph<'_>, sig: &Signature<'_>) -> Option<(Weights, WeightFormat, Vec<f32>, usize, Post)> {
        // Weight decoding, when the weights are not stored as float32.
        let first = g.nodes.first()?;
        let (weights_name, stored, format) = match first.op_type.as_str() {
            "DequantizeLinear" => {
                let [q, scale] = first.input.as_slice() else {
                    return None;
                };
                let node = g.take("DequantizeLinear", &[q, scale], false)?;
                if !Graph::attrs_are(node, &[("axis", 1, 1)]) {
                    return None;
                }
                let q_t = *g.tensors.get(q.as_str())?;
                let scale_t = *g.tensors.get(scale.as_str())?;
                let scale = floats(scale_t)?;
                let [_, k] = q_t.dims.as_slice() else { return None };
                if scale_t.dims != [*k] {
                    return None;
                }
                let q = int8s(q_t)?;
                (
                    Graph::output(node).to_owned(),
                    (Weights::Int8 { q, scale }, q_t.dims.clone()),
                    WeightFormat::Int8,
                )
            }
            "Cast" => {
                let [h] = first.input.as_slice() else { return None };
                let node = g.take("Cast", &[h], false)?;
                if !Graph::attrs_are(node, &[("to", i64::from(FLOAT), -1)]) {
                    return None;
                }
                let t = *g.tensors.get(h.as_str())?;
                (
                    Graph::output(node).to_owned(),
                    (Weights::Float16(float16s(t)?), t.dims.clone()),
                    WeightFormat::Float16,
                )
            }
            _ => {
                let name = first.input.first()?;
                let t = *g.tensors.get(name.as_str())?;
                (
                    name.clone(),
                    (Weights::Float32(floats(t)?), t.dims.clone()),
                    WeightFormat::Float32,
                )
            }
        };
        let (weights, dims) = stored;
        let [_, width] = dims.as_slice() else { return None };
        let width = usize::try_from(*width).ok().filter(|&w| w > 0)?;
        if let Weights::Int8 { scale, .. } = &weights {
            if scale.len() != width {
                return None;
            }
        }

        let gather = g.take("Gather", &[&weights_name, sig.indices], false)?;
        if !Graph::attrs_are(gather, &[("axis", 0, 0)]) {
            return None;
        }
        let rows = Graph::output(gather);
        let unsqueeze = g.nodes.get(g.at)?;
        let axes2 = unsqueeze.input.get(1)?;
        let unsqueeze = g.take("Unsqueeze", &[sig.values, axes2], false)?;
        if g.ints(axes2)? != [2] || !unsqueeze.attribute.is_empty() {
            return None;
        }
        let mul = g.take("Mul", &[rows, Graph::output(unsqueeze)], true)?;
        if !mul.attribute.is_empty() {
            return None;
        }
        let reduce = g.nodes.get(g.at)?;
        let axes1 = reduce.input.get(1)?;
        let reduce = g.take("ReduceSum", &[Graph::output(mul), axes1], false)?;
        if g.ints(axes1)? != [1] || !Graph::attrs_are(reduce, &[("keepdims", 0, 1)]) {
            return None;
        }
        let add = g.nodes.get(g.at)?;
        let bias_name = add.input.iter().find(|i| g.tensors.contains_key(i.as_str()))?.clone();
        let add = g.take("Add", &[Graph::output(reduce), &bias_name], true)?;
        if Graph::output(add) != sig.logits || !add.attribute.is_empty() {
            return None;
        }
        let bias_t = *g.tensors.get(bias_name.as_str())?;
        let bias = floats(bias_t)?;
        if bias_t.dims != [i64::try_from(width).ok()?] {
            return None;
        }
        let post = Self::match_post(g, sig)?;
        (g.at == g.nodes.len()).then_some((weights, format, bias, width, post))
    }

    fn match_post(g: &mut Graph<'_>, sig: &Signature<'_>) -> Option<Post> {
        let (logits, probabilities) = (sig.logits, sig.probabilities);
        let node = g.nodes.get(g.at)?;
        match node.op_type.as_str() {
            "Neg" => {
                let neg = g.take("Neg", &[logits], false)?;
                let concat = g.take("Concat", &[Graph::output(neg), logits], false)?;
                if !neg.attribute.is_empty() || !Graph::attrs_are(concat, &[("axis", 1, i64::MIN)]) {
                    return None;
                }
                let sigmoid = g.take("Sigmoid", &[Graph::output(concat)], false)?;
                (sigmoid.attribute.is_empty() && Graph::output(sigmoid) == probabilities).then_some(Post::Mirrored)
            }
            "Softmax" => {
                let softmax = g.take("Softmax", &[logits], false)?;
                let ok = Graph::attrs_are(softmax, &[("axis", 1, -1)]) && Graph::output(softmax) == probabilities;
                ok.then_some(Post::Softmax)
            }
            "Identity" | "Sigmoid" => {
                let op = node.op_type.clone();
                let t = g.take(&op, &[logits], false)?;
                if !t.attribute.is_empty() {
                    return None;
                }
                let sigmoid = op == "Sigmoid";
                if Graph::output(t) == probabilities {
                    return Some(if sigmoid { Post::Sigmoid } else { Post::Identity });
                }
                let transformed = Graph::output(t);
                let abs = g.take("Abs", &[transformed], false)?;
                if !abs.attribute.is_empty() {
                    return None;
                }
                let reduce = g.nodes.get(g.at)?;
                let axes = reduce.input.get(1)?;
                let reduce = g.take("ReduceSum", &[Graph::output(abs), axes], false)?;
                if g.ints(axes)? != [1] || !Graph::attrs_are(reduce, &[("keepdims", 1, 1)]) {
                    return None;
                }
                let div = g.take("Div", &[transformed, Graph::output(reduce)], false)?;
                (div.attribute.is_empty() && Graph::output(div) == probabilities).then_some(if sigmoid {
                    Post::SigmoidL1
                } else {
                    Post::IdentityL1
                })
            }
            _ => None,
        }
    }

    /// The weights of feature `j`.
    #[inline]
    fn row(&self, j: usize) -> Option<Row<'_>> {
        let span = j.checked_mul(self.width)?..j.checked_add(1)?.checked_mul(self.width)?;
        Some(match &self.weights {
            Weights::Float32(w) => Row::Float32(w.get(span)?),
            Weights::Float16(w) => Row::Float16(w.get(span)?),
            Weights::Int8 { q, scale } => Row::Int8(q.get(span)?, scale),
        })
    }

    /// Number of raw decision values per text.
    pub(crate) fn logit_width(&self) -> usize {
        self.width
    }

    /// Number of scores per text.
    pub(crate) fn score_width(&self) -> usize {
        if self.post == Post::Mirrored {
            2
        } else {
            self.width
        }
    }

    pub(crate) fn format(&self) -> WeightFormat {
        self.format
    }

    /// Raw decision values: per class, the float64 sum in ascending column order of
    /// value x weight, plus the bias, rounded once to float32 (spec section 6).
    /// `acc` is a buffer reused from call to call.
    pub(crate) fn logits_into(&self, v: &SparseVector, acc: &mut Vec<f64>, out: &mut Vec<f32>) {
        acc.clear();
        acc.resize(self.width, 0.0);
        for (&j, &x) in v.indices.iter().zip(&v.values) {
            // indices come from the vocabulary, which has exactly `features` rows
            let Some(row) = usize::try_from(j).ok().and_then(|j| self.row(j)) else {
                continue;
            };
            // each class's sum still runs in ascending column order: one row at a time
            let x = f64::from(x);
            match row {
                Row::Float32(row) => {
                    for (a, &w) in acc.iter_mut().zip(row) {
                        *a += x * f64::from(w);
                    }
                }
                Row::Float16(row) => {
                    for (a, &h) in acc.iter_mut().zip(row) {
                        *a += x * f64::from(f16_to_f32(h));
                    }
                }
                Row::Int8(row, scale) => {
                    for ((a, &q), &s) in acc.iter_mut().zip(row).zip(scale) {
                        // DequantizeLinear: (q - 0) * scale, one float32 rounding
                        *a += x * f64::from(f32::from(q) * s);
                    }
                }
            }
        }
        out.clear();
        out.extend(acc.iter().zip(&self.bias).map(|(&a, &b)| (a + f64::from(b)) as f32));
    }

    /// Scores from raw decision values, in float64, rounded once to float32.
    /// `tmp` is a buffer reused from call to call.
    pub(crate) fn scores_into(&self, logits: &[f32], tmp: &mut Vec<f64>, out: &mut Vec<f32>) {
        fn sigmoid(z: f64) -> f64 {
            1.0 / (1.0 + exp(-z))
        }
        out.clear();
        match self.post {
            Post::Identity => out.extend_from_slice(logits),
            Post::Sigmoid => out.extend(logits.iter().map(|&z| sigmoid(f64::from(z)) as f32)),
            Post::Mirrored => {
                let z = f64::from(logits.first().copied().unwrap_or(0.0));
                out.push(sigmoid(-z) as f32);
                out.push(sigmoid(z) as f32);
            }
            Post::Softmax => {
                let max = f64::from(logits.iter().copied().fold(f32::NEG_INFINITY, f32::max));
                tmp.clear();
                tmp.extend(logits.iter().map(|&z| exp(f64::from(z) - max)));
                let mut total = 0.0f64;
                for &e in tmp.iter() {
                    total += e;
                }
                out.extend(tmp.iter().map(|&e| (e / total) as f32));
            }
            Post::IdentityL1 | Post::SigmoidL1 => {
                let t: Vec<f64> = logits
                    .iter()
                    .map(|&z| {
                        if self.post == Post::SigmoidL1 {
                            sigmoid(f64::from(z))
                        } else {
                            f64::from(z)
                        }
                    })
                    .collect();
                let total: f64 = t.iter().map(|&v| libm::fabs(v)).sum();
                out.extend(t.iter().map(|v| (v / total) as f32));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::f16_to_f32;

    #[test]
    fn half_precision_widens_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x03ff), 1023.0 * 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
    }
}
