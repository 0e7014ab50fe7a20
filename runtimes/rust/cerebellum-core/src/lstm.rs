//! The native evaluator of the tagger's emission network: embedding lookup,
//! bidirectional LSTM, linear layer (spec: "Native evaluation of the BiLSTM
//! emissions" in `docs/preprocessing-spec.md`).
//!
//! At load, the ONNX graph is recognised by structure, not by names: a
//! `Gather` of an embedding initializer by the ids (an initializer itself, or
//! one stored as int8 with a scale per row and decoded by `Cast` + `Mul` at the
//! front of the graph, which run once at load), data-movement nodes
//! (`Transpose`, `Reshape`, `Squeeze`, `Unsqueeze`, `Identity`) that must
//! leave the values in the order the next layer reads them, one
//! `LSTM(direction=bidirectional)` with default activations (or an ensemble's
//! several, reading the same input, whose outputs a `Concat` joins), more data
//! movement, `Gemm` (or `MatMul` + `Add`), and data movement to `[1, n, tags]`.
//! LSTM weights may be stored as float16 and widened by a `Cast` at the front.
//! The data-movement nodes are checked by running them on index tensors for a
//! few sequence lengths. Any other graph is "not recognised" (`None`) and the
//! caller keeps tract for it.
//!
//! The arithmetic is pinned so that every machine computes the same bits:
//! float32 only, sums in a fixed order (each output's products added one at a
//! time, in ascending input order, after its bias), no fused multiply-add, and
//! an exponential of our own made of `+ - * /` and bit operations, which IEEE 754
//! rounds the same way on x86_64, aarch64, Cortex-M4 and RISC-V soft float.
//! The loops run over independent outputs, so the compiler may vectorise them
//! without changing any sum's order.
//!
//! Only `core` and `alloc` (and the crate's ONNX subset), so this file can move
//! into a `no_std` crate unchanged.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;
use core::ops::Range;

use prost::Message;

use crate::initializers::{floats, int64s, int8s, FLOAT, FLOAT16};
use crate::linear::{f16_to_f32, float16s};
use crate::onnx;

/// Gates computed together: a tile of outputs whose accumulators stay in registers.
const GATE_TILE: usize = 32;
/// Gate tiles whose recurrent weights are stored interleaved, row by row, so that the
/// widest path reads one stream per group (see [`grouped`]).
const GROUP_TILES: usize = 2;
/// Emission columns computed together.
const TAG_TILE: usize = 8;
/// Sequence lengths the data-movement nodes are checked with.
const SAMPLE_LENGTHS: [usize; 3] = [1, 2, 3];
/// The LSTM activations ONNX takes when the attribute is absent, per direction.
const DEFAULT_ACTIVATIONS: [&[u8]; 6] = [b"Sigmoid", b"Tanh", b"Tanh", b"Sigmoid", b"Tanh", b"Tanh"];

const ATTRIBUTE_FLOAT: i32 = 1;
const ATTRIBUTE_INT: i32 = 2;
const ATTRIBUTE_STRING: i32 = 3;
const ATTRIBUTE_INTS: i32 = 7;
const ATTRIBUTE_STRINGS: i32 = 8;
/// `Squeeze` and `Unsqueeze` take their axes as an input from opset 13 on.
const MIN_OPSET: i64 = 13;

/// The pinned exponential's constants, as bits (the spec's table), decimal values beside.
mod exp_constants {
    /// Inputs are clamped to `[MIN, MAX]`, so that `2^k` below is a normal float.
    pub const MIN: f32 = -87.0;
    pub const MAX: f32 = 88.0;
    /// log2(e), 1.442695.
    pub const LOG2_E: f32 = f32::from_bits(0x3fb8_aa3b);
    /// 1.5 * 2^23: adding it rounds a float of magnitude below 2^22 to an integer.
    pub const ROUNDER: f32 = 12_582_912.0;
    /// ln 2 in two parts (Cody and Waite), 0.693359375 and -2.1219444e-4:
    /// `k * LN2_HI` is exact for |k| <= 127.
    pub const LN2_HI: f32 = f32::from_bits(0x3f31_8000);
    pub const LN2_LO: f32 = f32::from_bits(0xb95e_8083);
    /// The polynomial of (e^r - 1 - r) / r^2 on |r| <= ln(2)/2 (Cephes `expf`):
    /// 1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
    /// 1.6666665459e-1, 0.5.
    pub const P0: f32 = f32::from_bits(0x3950_6967);
    pub const P1: f32 = f32::from_bits(0x3ab7_43ce);
    pub const P2: f32 = f32::from_bits(0x3c08_8908);
    pub const P3: f32 = f32::from_bits(0x3d2a_a9c1);
    pub const P4: f32 = f32::from_bits(0x3e2a_aaaa);
    pub const P5: f32 = 0.5;
}

/// e^x in float32, every operation in the order written (spec: the pinned exponential).
#[inline(always)]
fn exp(x: f32) -> f32 {
    use exp_constants::*;
    // a NaN stays NaN (and so does the result)
    let x = if x < MIN { MIN } else { x };
    let x = if x > MAX { MAX } else { x };
    let shifted = x * LOG2_E + ROUNDER;
    let kf = shifted - ROUNDER;
    // |k| <= 127: the difference of the bit patterns is k itself
    let k = shifted.to_bits().wrapping_sub(ROUNDER.to_bits());
    let r = (x - kf * LN2_HI) - kf * LN2_LO;
    let z = r * r;
    let p = ((((P0 * r + P1) * r + P2) * r + P3) * r + P4) * r + P5;
    let y = p * z + r + 1.0;
    // 2^k: k + 127 is in 1..=254, a normal exponent
    y * f32::from_bits(k.wrapping_add(127) << 23)
}

/// The argument of tanh is clamped to `[-TANH_LIMIT, TANH_LIMIT]`: tanh is 1 in float32
/// long before, and the products of the cell stay far from overflow.
const TANH_LIMIT: f32 = 15.0;

/// `e^(2x)` for tanh, `x` clamped to `[-TANH_LIMIT, TANH_LIMIT]` (a NaN stays NaN).
#[inline(always)]
fn exp_twice(x: f32) -> f32 {
    let x = if x < -TANH_LIMIT { -TANH_LIMIT } else { x };
    let x = if x > TANH_LIMIT { TANH_LIMIT } else { x };
    exp(2.0 * x)
}

/// One LSTM cell: gate pre-activations `i, o, f, g` (ONNX's i, o, f, c) and the previous
/// cell state give the new cell state and output. Sigmoid and tanh are written out so
/// that a cell needs five exponentials and three divisions, with `σ(a) = 1 / (1 + e^-a)`
/// and `tanh(a) = (e^2a - 1) / (e^2a + 1)`:
/// `c' = c / (1 + e^-f) + (e^2g - 1) / ((1 + e^-i) * (e^2g + 1))`,
/// `h = (e^2c' - 1) / ((1 + e^-o) * (e^2c' + 1))`.
#[inline(always)]
fn cell(i: f32, o: f32, f: f32, g: f32, c: f32) -> (f32, f32) {
    let (ei, eo, ef, eg) = (exp(-i), exp(-o), exp(-f), exp_twice(g));
    let c = c / (1.0 + ef) + (eg - 1.0) / ((1.0 + ei) * (eg + 1.0));
    let ec = exp_twice(c);
    (c, (ec - 1.0) / ((1.0 + eo) * (ec + 1.0)))
}

/// `acc[l] += xs[k] * tile[k][l]` for `k` ascending: every lane's sum runs in the order of `xs`.
#[inline(always)]
fn accumulate<const W: usize>(acc: &mut [f32; W], xs: &[f32], tile: &[f32]) {
    for (&x, row) in xs.iter().zip(tile.chunks_exact(W)) {
        if let Some(row) = row.first_chunk::<W>() {
            multiply_add(acc, x, row);
        }
    }
}

/// `acc[i][l] += xs[k] * group[k][first + i][l]` for `k` ascending, with `group` laid out
/// `[k][GROUP_TILES][lane]` (see [`grouped`]).
#[inline(always)]
fn accumulate_grouped<const W: usize, const N: usize>(
    acc: &mut [[f32; W]; N],
    xs: &[f32],
    group: &[f32],
    first: usize,
) {
    for (&x, rows) in xs.iter().zip(group.chunks_exact(GROUP_TILES * W)) {
        for (i, acc) in acc.iter_mut().enumerate() {
            if let Some(row) = rows.get((first + i) * W..).and_then(<[f32]>::first_chunk::<W>) {
                multiply_add(acc, x, row);
            }
        }
    }
}

/// `acc[b][l] += xs[k][b] * tile[k][l]` for `k` ascending, with `xs` laid out `[k][B]`:
/// the sums of `B` inputs through one tile, each weight read once for all of them.
#[inline(always)]
fn accumulate_block<const W: usize, const B: usize>(acc: &mut [[f32; W]; B], xs: &[f32], tile: &[f32]) {
    for (xs, row) in xs.chunks_exact(B).zip(tile.chunks_exact(W)) {
        let (Some(xs), Some(row)) = (xs.first_chunk::<B>(), row.first_chunk::<W>()) else {
            return;
        };
        for b in 0..B {
            multiply_add(&mut acc[b], xs[b], row);
        }
    }
}

/// `acc[l] += x * row[l]` for every lane.
#[inline(always)]
fn multiply_add<const W: usize>(acc: &mut [f32; W], x: f32, row: &[f32; W]) {
    for (a, &w) in acc.iter_mut().zip(row) {
        *a += x * w;
    }
}

/// `rows x cols` row-major `m` as tiles of `W` rows, `[tile][col][lane]`, padding rows zero:
/// the layout [`accumulate`] reads contiguously.
fn tiled<const W: usize>(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; rows.div_ceil(W) * cols * W];
    for (g, row) in m.chunks_exact(cols).take(rows).enumerate() {
        for (k, &v) in row.iter().enumerate() {
            out[((g / W) * cols + k) * W + g % W] = v;
        }
    }
    out
}

/// `rows x cols` row-major `m` as groups of [`GROUP_TILES`] tiles of `W` rows, interleaved
/// column by column: `[group][col][tile in group][lane]`, padding rows zero.
fn grouped<const W: usize>(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let group = GROUP_TILES * W;
    let mut out = vec![0.0; rows.div_ceil(group) * cols * group];
    for (g, row) in m.chunks_exact(cols).take(rows).enumerate() {
        for (k, &v) in row.iter().enumerate() {
            out[((g / group) * cols + k) * group + g % group] = v;
        }
    }
    out
}

/// `values` padded with zeros to a multiple of `W`.
fn padded<const W: usize>(values: &[f32]) -> Vec<f32> {
    let mut out = values.to_vec();
    out.resize(values.len().div_ceil(W) * W, 0.0);
    out
}

/// One direction's LSTM weights, ready for [`accumulate`].
struct Direction {
    /// `Wb[g] + Rb[g]` per gate (ONNX order i, o, f, c), zero in the padding up to whole groups.
    bias: Vec<f32>,
    /// `W[g][k]` tiled by [`GATE_TILE`] gates: `[tile][input][lane]`.
    input: Vec<f32>,
    /// `R[g][k]` in groups of [`GROUP_TILES`] tiles of [`GATE_TILE`] gates:
    /// `[group][hidden][tile in group][lane]`.
    recurrent: Vec<f32>,
}

/// An id the embedding has no row for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdOutOfRange {
    /// The id.
    pub id: i64,
    /// The embedding's rows.
    pub rows: usize,
}

impl fmt::Debug for Scratch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scratch")
            .field("capacity", &self.states.capacity())
            .finish()
    }
}

impl fmt::Display for IdOutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unit id {} is outside the embedding's {} rows", self.id, self.rows)
    }
}

/// The row of `id` in a table of `rows` rows; negative ids count from the end, as in ONNX
/// `Gather`.
fn row_of(id: i64, rows: usize) -> Result<usize, IdOutOfRange> {
    let row = if id < 0 {
        i64::try_from(rows).ok().map(|r| id + r)
    } else {
        Some(id)
    };
    row.and_then(|r| usize::try_from(r).ok())
        .filter(|&r| r < rows)
        .ok_or(IdOutOfRange { id, rows })
}

/// The buffers one evaluation needs, reused from call to call.
#[derive(Default)]
pub struct Scratch {
    /// Each step's embedding row.
    rows: Vec<usize>,
    /// With bigrams, each step's whole input, `[step][input]`.
    inputs: Vec<f32>,
    /// The embedding rows of one block of steps, `[input][step]`.
    block: Vec<f32>,
    /// The input projections (with biases) of one block of steps, `[step][gate]`.
    projected: Vec<f32>,
    /// The LSTM output, `[step][forward h, backward h]`.
    states: Vec<f32>,
    /// One step's gate sums.
    gates: Vec<f32>,
    h: Vec<f32>,
    c: Vec<f32>,
}

/// Where [`BiLstmEmitter::project`] starts each sum.
#[derive(Clone, Copy)]
enum Sums {
    /// The gate biases.
    Bias,
    /// The sums already in its output (a projection table's, over earlier columns).
    Projected,
}

/// An embedding read beside the units': a tagger's bigram embedding (`[rows][width]`,
/// read twice per unit, for the bigram that ends at it, then the one that starts at it)
/// or its lexicon embedding (read once per unit).
struct BigramTable {
    values: Vec<f32>,
    rows: usize,
    width: usize,
}

/// The embedding, BiLSTM and linear layer of a recognised tagger graph.
pub struct BiLstmEmitter {
    /// `[rows][input]`, as stored (`[rows][input - 2 * bigram width]` with bigrams).
    embedding: Vec<f32>,
    rows: usize,
    /// The LSTM's input width: the unit embedding, then the two bigram embeddings and the
    /// lexicon embedding, if any.
    input: usize,
    bigrams: Option<BigramTable>,
    lexicon: Option<BigramTable>,
    hidden: usize,
    tags: usize,
    /// Forward, then reverse, for each BiLSTM (one, or an ensemble's).
    directions: Vec<Direction>,
    /// `Wout[k][j]` (`emission = y · Wout + bias`, `y` the BiLSTMs' outputs side by side)
    /// tiled by [`TAG_TILE`] columns: `[tile][k][lane]`.
    output: Vec<f32>,
    /// The emission bias, zero in the padding.
    output_bias: Vec<f32>,
    /// Whether this CPU runs AVX instructions (the same arithmetic, twice as wide).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    avx: bool,
    /// Whether this CPU runs AVX-512F instructions (the same arithmetic, twice as wide again).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    avx512: bool,
    /// The input projection (bias, then W·x over the unit embedding's columns) of every
    /// embedding row, `[row][direction][gate]`, once [`BiLstmEmitter::tabulate_projections`]
    /// made it. With bigrams, each step's sums continue from it over the bigram columns.
    projections: Option<Vec<f32>>,
}

impl fmt::Debug for BiLstmEmitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BiLstmEmitter")
            .field("rows", &self.rows)
            .field("input", &self.input)
            .field("hidden", &self.hidden)
            .field("tags", &self.tags)
            .finish_non_exhaustive()
    }
}

/// The order of a tensor's values after data movement: `order[i]` is the index,
/// in the tensor the movement started from, of the value now at `i`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Layout {
    shape: Vec<usize>,
    order: Vec<usize>,
}

impl Layout {
    fn identity(shape: &[usize]) -> Self {
        Layout {
            shape: shape.to_vec(),
            order: (0..shape.iter().product()).collect(),
        }
    }

    fn is_identity(&self, shape: &[usize]) -> bool {
        self.shape == shape && self.order.iter().enumerate().all(|(i, &o)| i == o)
    }

    fn reshaped(self, shape: Vec<usize>) -> Option<Self> {
        (shape.iter().product::<usize>() == self.order.len()).then_some(Layout {
            shape,
            order: self.order,
        })
    }

    fn transpose(&self, perm: &[usize]) -> Option<Self> {
        let rank = self.shape.len();
        if perm.len() != rank {
            return None;
        }
        let mut seen = vec![false; rank];
        for &p in perm {
            if p >= rank || core::mem::replace(&mut seen[p], true) {
                return None;
            }
        }
        let mut strides = vec![1usize; rank];
        for i in (0..rank.saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * self.shape[i + 1];
        }
        let shape: Vec<usize> = perm.iter().map(|&p| self.shape[p]).collect();
        let mut index = vec![0usize; rank];
        let mut order = Vec::with_capacity(self.order.len());
        for _ in 0..self.order.len() {
            let source: usize = index.iter().zip(perm).map(|(&i, &p)| i * strides[p]).sum();
            order.push(self.order[source]);
            for axis in (0..rank).rev() {
                index[axis] += 1;
                if index[axis] < shape[axis] {
                    break;
                }
                index[axis] = 0;
            }
        }
        Some(Layout { shape, order })
    }
}

/// An axis in `-rank..rank` as an index.
fn axis(a: i64, rank: usize) -> Option<usize> {
    let rank = i64::try_from(rank).ok()?;
    let a = if a < 0 { a + rank } else { a };
    usize::try_from(a)
        .ok()
        .filter(|&a| i64::try_from(a).is_ok_and(|a| a < rank))
}

fn attribute<'a>(node: &'a onnx::NodeProto, name: &str) -> Option<&'a onnx::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

/// Only attributes named in `allowed`.
fn attributes_within(node: &onnx::NodeProto, allowed: &[&str]) -> bool {
    node.attribute.iter().all(|a| allowed.contains(&a.name.as_str()))
}

/// An integer attribute's value, `default` when absent; `None` when it is not an integer.
fn int_attribute(node: &onnx::NodeProto, name: &str, default: i64) -> Option<i64> {
    match attribute(node, name) {
        None => Some(default),
        Some(a) if a.r#type == ATTRIBUTE_INT => Some(a.i),
        Some(_) => None,
    }
}

/// A float attribute's value, `default` when absent; `None` when it is not a float.
fn float_attribute(node: &onnx::NodeProto, name: &str, default: f32) -> Option<f32> {
    match attribute(node, name) {
        None => Some(default),
        Some(a) if a.r#type == ATTRIBUTE_FLOAT => Some(a.f),
        Some(_) => None,
    }
}

/// Float32 tables with their dimensions, by name.
type Tables = BTreeMap<String, (Vec<f32>, Vec<i64>)>;

/// The graph's nodes as one chain: each node reads the value the one before it produced.
struct Chain<'a> {
    nodes: &'a [onnx::NodeProto],
    tensors: BTreeMap<&'a str, &'a onnx::TensorProto>,
    /// Tables decoded at the front of the graph (see [`decoded_tables`]), by name: each
    /// moves to the one layer that reads it, so a table is never held twice.
    decoded: RefCell<Tables>,
    at: usize,
    current: &'a str,
}

impl<'a> Chain<'a> {
    /// The next node if it has operator `op` and reads the current value first.
    fn take(&mut self, op: &str) -> Option<&'a onnx::NodeProto> {
        let nodes = self.nodes;
        let node = nodes.get(self.at)?;
        let domain_ok = node.domain.is_empty() || node.domain == "ai.onnx";
        if node.op_type != op || !domain_ok || node.input.first().map(String::as_str) != Some(self.current) {
            return None;
        }
        self.at += 1;
        self.current = node.output.first().map(String::as_str).filter(|o| !o.is_empty())?;
        Some(node)
    }

    /// The data-movement nodes that follow.
    fn movements(&mut self) -> Vec<&'a onnx::NodeProto> {
        let nodes = self.nodes;
        let mut moves = Vec::new();
        while let Some(node) = nodes.get(self.at) {
            if !matches!(
                node.op_type.as_str(),
                "Transpose" | "Reshape" | "Squeeze" | "Unsqueeze" | "Identity"
            ) {
                break;
            }
            match self.take(&node.op_type) {
                Some(node) => moves.push(node),
                None => break,
            }
        }
        moves
    }

    /// A float32 initializer (or decoded table) with these dimensions, all finite.
    fn floats(&self, name: &str, dims: Option<&[i64]>) -> Option<(Vec<f32>, Vec<i64>)> {
        let decoded = self.decoded.borrow_mut().remove(name);
        let (values, found) = match decoded {
            Some(table) => table,
            None => {
                let t = self.tensors.get(name)?;
                if dims.is_some_and(|d| t.dims != d) {
                    return None;
                }
                (floats(t)?, t.dims.clone())
            }
        };
        if dims.is_some_and(|d| found != d) {
            return None;
        }
        values.iter().all(|v| v.is_finite()).then_some((values, found))
    }

    /// An int64 initializer's values.
    fn int64s(&self, name: &str) -> Option<Vec<i64>> {
        int64s(self.tensors.get(name)?)
    }

    /// `node`'s effect on the order of the values.
    fn apply(&self, node: &onnx::NodeProto, layout: Layout) -> Option<Layout> {
        let rank = layout.shape.len();
        match (node.op_type.as_str(), node.input.as_slice()) {
            ("Identity", [_]) if node.attribute.is_empty() => Some(layout),
            ("Transpose", [_]) if attributes_within(node, &["perm"]) => {
                let perm: Vec<usize> = match attribute(node, "perm") {
                    None => (0..rank).rev().collect(),
                    Some(a) if a.r#type == ATTRIBUTE_INTS => {
                        a.ints.iter().map(|&p| usize::try_from(p).ok()).collect::<Option<_>>()?
                    }
                    Some(_) => return None,
                };
                layout.transpose(&perm)
            }
            ("Reshape", [_, shape]) if attributes_within(node, &["allowzero"]) => {
                let allow_zero = int_attribute(node, "allowzero", 0)?;
                let wanted = self.int64s(shape)?;
                let mut dims = Vec::with_capacity(wanted.len());
                let mut inferred = None;
                for (i, &d) in wanted.iter().enumerate() {
                    dims.push(match d {
                        0 if allow_zero == 0 => *layout.shape.get(i)?,
                        -1 if inferred.is_none() => {
                            inferred = Some(i);
                            1
                        }
                        d => usize::try_from(d).ok()?,
                    });
                }
                if let Some(i) = inferred {
                    let known: usize = dims.iter().product();
                    if known == 0 || !layout.order.len().is_multiple_of(known) {
                        return None;
                    }
                    dims[i] = layout.order.len() / known;
                }
                layout.reshaped(dims)
            }
            ("Squeeze", [_, axes]) if node.attribute.is_empty() => {
                let axes: Vec<usize> = self
                    .int64s(axes)?
                    .iter()
                    .map(|&a| axis(a, rank))
                    .collect::<Option<_>>()?;
                if axes.iter().any(|&a| layout.shape[a] != 1) {
                    return None;
                }
                let dims = (0..rank)
                    .filter(|a| !axes.contains(a))
                    .map(|a| layout.shape[a])
                    .collect();
                layout.reshaped(dims)
            }
            ("Unsqueeze", [_, axes]) if node.attribute.is_empty() => {
                let axes = self.int64s(axes)?;
                let out_rank = rank + axes.len();
                let axes: Vec<usize> = axes.iter().map(|&a| axis(a, out_rank)).collect::<Option<_>>()?;
                let mut rest = layout.shape.iter();
                let dims = (0..out_rank)
                    .map(|a| {
                        if axes.contains(&a) {
                            Some(1)
                        } else {
                            rest.next().copied()
                        }
                    })
                    .collect::<Option<Vec<usize>>>()?;
                (rest.next().is_none()).then_some(())?;
                layout.reshaped(dims)
            }
            _ => None,
        }
    }

    /// Whether `moves` take values of shape `from(n)` in order to shape `to(n)` in the same
    /// order, for every sample sequence length `n`.
    fn moves_keep_order(
        &self,
        moves: &[&onnx::NodeProto],
        from: impl Fn(usize) -> Vec<usize>,
        to: impl Fn(usize) -> Vec<usize>,
    ) -> bool {
        SAMPLE_LENGTHS.iter().all(|&n| {
            moves
                .iter()
                .try_fold(Layout::identity(&from(n)), |layout, node| self.apply(node, layout))
                .is_some_and(|layout| layout.is_identity(&to(n)))
        })
    }
}

/// Rows of `n` steps for a linear layer, `[n, width]`, the width left 0 for [`with_last`].
fn flat_rows(n: usize) -> Vec<usize> {
    vec![n, 0]
}

/// Rows of `n` steps for a linear layer, `[1, n, width]`, the width left 0 for [`with_last`].
fn batched_rows(n: usize) -> Vec<usize> {
    vec![1, n, 0]
}

/// `shape` with its last dimension set to `last`.
fn with_last(mut shape: Vec<usize>, last: usize) -> Vec<usize> {
    if let Some(end) = shape.last_mut() {
        *end = last;
    }
    shape
}

/// One default-domain opset, recent enough; the ids the only input; the emissions an output;
/// every value produced once and by one node.
fn graph_fits(model: &onnx::ModelProto, graph: &onnx::GraphProto, inputs_wanted: &[&str], emissions: &str) -> bool {
    let mut opsets = model
        .opset_import
        .iter()
        .filter(|o| o.domain.is_empty() || o.domain == "ai.onnx");
    match (opsets.next(), opsets.next()) {
        (Some(opset), None) if opset.version >= MIN_OPSET => {}
        _ => return false,
    }
    let initializers: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut inputs: Vec<&str> = graph
        .input
        .iter()
        .map(|i| i.name.as_str())
        .filter(|n| !initializers.contains(n))
        .collect();
    let mut wanted = inputs_wanted.to_vec();
    inputs.sort_unstable();
    wanted.sort_unstable();
    if inputs != wanted {
        return false;
    }
    if !graph.output.iter().any(|o| o.name == emissions) {
        return false;
    }
    let mut produced: Vec<&str> = graph
        .node
        .iter()
        .flat_map(|n| &n.output)
        .map(String::as_str)
        .filter(|o| !o.is_empty())
        .collect();
    if produced
        .iter()
        .any(|o| inputs_wanted.contains(o) || initializers.contains(o))
    {
        return false;
    }
    let count = produced.len();
    produced.sort_unstable();
    produced.dedup();
    produced.len() == count
}

/// The tables the graph decodes in front of everything else: an int8 initializer `[rows,
/// width]` widened by `Cast(to = float)` and multiplied by a float32 initializer `[rows, 1]`
/// of scales, one per row, or a float16 initializer widened by `Cast(to = float)` alone
/// (an ensemble's LSTM weights). They are evaluated once, as ONNX defines the nodes:
/// `float32(q) * scale[row]`, one rounding, and float16 widened exactly, so every machine
/// gets the same bits. The tables come back with their dimensions, named by the last
/// node's output, with the number of nodes they take; `None` when such nodes have
/// another form.
fn decoded_tables(graph: &onnx::GraphProto) -> Option<(Tables, usize)> {
    let initializer = |name: &str| graph.initializer.iter().find(|t| t.name == name);
    let domain_ok = |n: &onnx::NodeProto| n.domain.is_empty() || n.domain == "ai.onnx";
    let mut decoded = BTreeMap::new();
    let mut taken = 0;
    let mut nodes = graph.node.iter().peekable();
    while let Some(cast) = nodes.next_if(|n| n.op_type == "Cast") {
        let ([stored], [widened]) = (cast.input.as_slice(), cast.output.as_slice()) else {
            return None;
        };
        let cast_fits =
            domain_ok(cast) && attributes_within(cast, &["to"]) && int_attribute(cast, "to", 0)? == i64::from(FLOAT);
        let stored = initializer(stored)?;
        if !cast_fits {
            return None;
        }
        if stored.data_type == FLOAT16 {
            let values: Vec<f32> = float16s(stored)?.into_iter().map(f16_to_f32).collect();
            taken += 1;
            if decoded.insert(widened.clone(), (values, stored.dims.clone())).is_some() {
                return None;
            }
            continue;
        }
        let mul = nodes.next()?;
        let ([read, scale], [out]) = (mul.input.as_slice(), mul.output.as_slice()) else {
            return None;
        };
        let fits = domain_ok(mul) && mul.op_type == "Mul" && read == widened && mul.attribute.is_empty();
        let scale_t = initializer(scale)?;
        let [rows, width] = stored.dims.as_slice() else {
            return None;
        };
        if !fits || scale_t.dims != [*rows, 1] {
            return None;
        }
        let width = usize::try_from(*width).ok().filter(|&w| w > 0)?;
        let (q, scale) = (int8s(stored)?, floats(scale_t)?);
        let mut values = Vec::with_capacity(q.len());
        for (row, &s) in q.chunks_exact(width).zip(&scale) {
            values.extend(row.iter().map(|&v| f32::from(v) * s));
        }
        taken += 2;
        if decoded.insert(out.clone(), (values, stored.dims.clone())).is_some() {
            return None;
        }
    }
    Some((decoded, taken))
}

/// One bidirectional LSTM's weights as ONNX stores them: `W [2, 4H, E]`, `R [2, 4H, H]`,
/// `B [2, 8H]`, gates in the order i, o, f, c.
#[cfg_attr(test, derive(Clone))]
struct LstmWeights {
    w: Vec<f32>,
    r: Vec<f32>,
    b: Vec<f32>,
}

/// The weights of a recognised graph: the tables, the BiLSTMs (one, or an ensemble's, in
/// the order the linear layer reads their outputs), the linear layer's as `[tags][2H x lstms]`.
struct OnnxWeights {
    embedding: Vec<f32>,
    bigrams: Option<BigramTable>,
    lexicon: Option<BigramTable>,
    input: usize,
    hidden: usize,
    lstms: Vec<LstmWeights>,
    output_by_tag: Vec<f32>,
    output_bias: Vec<f32>,
}

/// The LSTM's hidden size and `W`, `R`, `B`, checked against the ONNX defaults this evaluator implements.
fn lstm_weights(chain: &Chain<'_>, lstm: &onnx::NodeProto, input: usize) -> Option<(usize, LstmWeights)> {
    let allowed = ["hidden_size", "direction", "activations", "input_forget", "layout"];
    if !attributes_within(lstm, &allowed)
        || int_attribute(lstm, "input_forget", 0)? != 0
        || int_attribute(lstm, "layout", 0)? != 0
    {
        return None;
    }
    let direction = attribute(lstm, "direction")?;
    if direction.r#type != ATTRIBUTE_STRING || direction.s != b"bidirectional" {
        return None;
    }
    if let Some(a) = attribute(lstm, "activations") {
        if a.r#type != ATTRIBUTE_STRINGS || !a.strings.iter().map(Vec::as_slice).eq(DEFAULT_ACTIVATIONS) {
            return None;
        }
    }
    // X, W, R, then B or nothing; no sequence lengths, initial states or peepholes
    let (w, r, b) = match lstm.input.as_slice() {
        [_, w, r] => (w, r, None),
        [_, w, r, b, rest @ ..] if rest.iter().all(String::is_empty) => (w, r, Some(b).filter(|b| !b.is_empty())),
        _ => return None,
    };
    let (w, w_dims) = chain.floats(w, None)?;
    let [2, gates, e] = w_dims.as_slice() else { return None };
    let gates = usize::try_from(*gates).ok()?;
    if usize::try_from(*e).ok()? != input || gates == 0 || gates % 4 != 0 {
        return None;
    }
    let hidden = gates / 4;
    if int_attribute(lstm, "hidden_size", i64::try_from(hidden).ok()?)? != i64::try_from(hidden).ok()? {
        return None;
    }
    let dims = |d: &[usize]| d.iter().map(|&v| i64::try_from(v).ok()).collect::<Option<Vec<i64>>>();
    let (r, _) = chain.floats(r, Some(&dims(&[2, gates, hidden])?))?;
    let b = match b {
        Some(b) => chain.floats(b, Some(&dims(&[2, 2 * gates])?))?.0,
        None => vec![0.0; 2 * 2 * gates],
    };
    Some((hidden, LstmWeights { w, r, b }))
}

impl BiLstmEmitter {
    /// The emission network of `model`, or `None` when the graph is not the form this evaluator knows.
    ///
    /// `bigrams` names the inputs of the bigrams that end and start at each unit, for a
    /// tagger with character bigrams: their `Gather`s from one bigram embedding follow the
    /// unit `Gather`, and a `Concat` on the last axis joins the three. `lexicon` names the
    /// input of lexicon ids of a tagger with a word lexicon (and bigrams): its `Gather`
    /// follows the bigrams', and the `Concat` joins it last.
    pub fn recognize(
        model: &[u8],
        ids: &str,
        bigrams: Option<(&str, &str)>,
        lexicon: Option<&str>,
        emissions: &str,
    ) -> Option<Self> {
        let parsed = onnx::ModelProto::decode(model).ok()?;
        let graph = parsed.graph.as_ref()?;
        let wanted: Vec<&str> = match (bigrams, lexicon) {
            (Some((before, after)), None) => vec![ids, before, after],
            (Some((before, after)), Some(words)) => vec![ids, before, after, words],
            (None, None) => vec![ids],
            (None, Some(_)) => return None,
        };
        if !graph_fits(&parsed, graph, &wanted, emissions) {
            return None;
        }
        let (decoded, taken) = decoded_tables(graph)?;
        let nodes = graph.node.get(taken..)?;
        let mut chain = Chain {
            nodes,
            tensors: graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect(),
            decoded: RefCell::new(decoded),
            at: 0,
            current: ids,
        };

        // Gather(embedding, ids): [1, n] ids give [1, n, input] rows.
        let gather = nodes.first()?;
        let [embedding_name, ids_name] = gather.input.as_slice() else {
            return None;
        };
        let domain_ok = gather.domain.is_empty() || gather.domain == "ai.onnx";
        if gather.op_type != "Gather"
            || !domain_ok
            || ids_name != ids
            || gather.output.len() != 1
            || !attributes_within(gather, &["axis"])
            || int_attribute(gather, "axis", 0)? != 0
        {
            return None;
        }
        let (embedding, embedding_dims) = chain.floats(embedding_name, None)?;
        let [rows, input] = embedding_dims.as_slice() else {
            return None;
        };
        let (rows, mut input) = (usize::try_from(*rows).ok()?, usize::try_from(*input).ok()?);
        if rows == 0 || input == 0 {
            return None;
        }
        chain.at = 1;
        chain.current = gather.output.first().map(String::as_str)?;
        let (bigrams, lexicon) = match bigrams {
            None => (None, None),
            Some((before, after)) => {
                let (table, words, joined) = Self::bigram_inputs(&chain, nodes, before, after, lexicon)?;
                input += 2 * table.width + words.as_ref().map_or(0, |w| w.width);
                chain.at = if words.is_some() { 5 } else { 4 };
                chain.current = joined;
                (Some(table), words)
            }
        };

        // ... moved to the LSTM's [n, 1, input] ...
        let joined = chain.current;
        let moves = chain.movements();
        if !chain.moves_keep_order(&moves, |n| vec![1, n, input], |n| vec![n, 1, input]) {
            return None;
        }
        let moved = chain.current;
        let lstm = chain.take("LSTM")?;
        let (hidden, first) = lstm_weights(&chain, lstm, input)?;
        let mut lstms = vec![first];

        // ... whose [n, 2, 1, hidden] output is read as [n, 2 * hidden] rows; an ensemble's
        // other LSTMs read the same input (moved again, or not), and a Concat on the last
        // axis joins their outputs, each [n, 2 * hidden] or [1, n, 2 * hidden] rows.
        let mut moves = chain.movements();
        let mut outputs = Vec::new();
        let lstm_out = |n: usize| vec![n, 2, 1, hidden];
        let another_lstm = |n: &&onnx::NodeProto| {
            let reads = n.input.first().map(String::as_str);
            (n.op_type == "LSTM" && reads == Some(moved)) || (n.op_type == "Transpose" && reads == Some(joined))
        };
        while let Some(next) = chain.nodes.get(chain.at).filter(another_lstm) {
            let ends_rows = [flat_rows, batched_rows]
                .into_iter()
                .find(|&shape| chain.moves_keep_order(&moves, lstm_out, |n| with_last(shape(n), 2 * hidden)))?;
            outputs.push((chain.current, ends_rows));
            if next.input.first().map(String::as_str) == Some(moved) {
                chain.current = moved;
            } else {
                chain.current = joined;
                let moves = chain.movements();
                if !chain.moves_keep_order(&moves, |n| vec![1, n, input], |n| vec![n, 1, input]) {
                    return None;
                }
            }
            let lstm = chain.take("LSTM")?;
            let (same_hidden, weights) = lstm_weights(&chain, lstm, input)?;
            if same_hidden != hidden {
                return None;
            }
            lstms.push(weights);
            moves = chain.movements();
        }
        let joined_rows: Option<fn(usize) -> Vec<usize>> = if outputs.is_empty() {
            None
        } else {
            let ends_rows = [flat_rows, batched_rows]
                .into_iter()
                .find(|&shape| chain.moves_keep_order(&moves, lstm_out, |n| with_last(shape(n), 2 * hidden)))?;
            outputs.push((chain.current, ends_rows));
            let concat = chain.nodes.get(chain.at)?;
            let [concatenated] = concat.output.as_slice() else {
                return None;
            };
            let rank = ends_rows(1).len();
            let axis = int_attribute(concat, "axis", 0)?;
            let fits = (concat.domain.is_empty() || concat.domain == "ai.onnx")
                && attributes_within(concat, &["axis"])
                && (axis == -1 || usize::try_from(axis).ok() == Some(rank - 1))
                && outputs.iter().all(|&(_, shape)| shape(1) == ends_rows(1))
                && concat
                    .input
                    .iter()
                    .map(String::as_str)
                    .eq(outputs.iter().map(|&(name, _)| name));
            if !fits {
                return None;
            }
            chain.at += 1;
            chain.current = concatenated.as_str();
            moves = chain.movements();
            Some(ends_rows)
        };
        let width = 2 * hidden * lstms.len();
        let from = |n: usize| match joined_rows {
            None => lstm_out(n),
            Some(shape) => with_last(shape(n), width),
        };
        let (output_by_tag, output_bias, tags, rows_shape) = Self::linear(&mut chain, &from, width, &moves)?;

        // ... and whose emissions end as [1, n, tags].
        let moves = chain.movements();
        let from = |n: usize| with_last(rows_shape(n), tags);
        if !chain.moves_keep_order(&moves, from, |n| vec![1, n, tags]) {
            return None;
        }
        if chain.current != emissions || chain.at != nodes.len() {
            return None;
        }
        Self::new(OnnxWeights {
            embedding,
            bigrams,
            lexicon,
            input,
            hidden,
            lstms,
            output_by_tag,
            output_bias,
        })
    }

    /// After the unit `Gather` (node 0): `Gather(B, before)`, `Gather(B, after)`, with a
    /// lexicon `Gather(L, lexicon)`, and `Concat(units, before, after[, lexicon])` on the
    /// last axis. Gives the bigram table, the lexicon table and the name of the joined input.
    fn bigram_inputs<'g>(
        chain: &Chain<'g>,
        nodes: &'g [onnx::NodeProto],
        before: &str,
        after: &str,
        lexicon: Option<&str>,
    ) -> Option<(BigramTable, Option<BigramTable>, &'g str)> {
        let [units, first, second, rest @ ..] = nodes else {
            return None;
        };
        let domain_ok = |n: &onnx::NodeProto| n.domain.is_empty() || n.domain == "ai.onnx";
        let gather_of = |n: &'g onnx::NodeProto, ids: &str| -> Option<(&'g str, &'g str)> {
            let [table, read] = n.input.as_slice() else { return None };
            let [out] = n.output.as_slice() else { return None };
            let fits = n.op_type == "Gather"
                && domain_ok(n)
                && read == ids
                && attributes_within(n, &["axis"])
                && int_attribute(n, "axis", 0)? == 0;
            fits.then_some((table.as_str(), out.as_str()))
        };
        let table_of = |name: &str| -> Option<BigramTable> {
            let (values, dims) = chain.floats(name, None)?;
            let [rows, width] = dims.as_slice() else { return None };
            let (rows, width) = (usize::try_from(*rows).ok()?, usize::try_from(*width).ok()?);
            (rows > 0 && width > 0).then_some(BigramTable { values, rows, width })
        };
        let (table, before_out) = gather_of(first, before)?;
        let (same_table, after_out) = gather_of(second, after)?;
        let bigram_table = table_of(table)?;
        let (words, words_out, concat) = match (lexicon, rest) {
            (None, [concat, ..]) => (None, None, concat),
            (Some(lexicon), [third, concat, ..]) => {
                let (words, words_out) = gather_of(third, lexicon)?;
                (Some(table_of(words)?), Some(words_out), concat)
            }
            _ => return None,
        };
        let [joined] = concat.output.as_slice() else {
            return None;
        };
        let axis = int_attribute(concat, "axis", 0)?;
        let units_out = units.output.first()?;
        let joins = [Some(units_out.as_str()), Some(before_out), Some(after_out), words_out];
        let fits = same_table == table
            && concat.op_type == "Concat"
            && domain_ok(concat)
            && attributes_within(concat, &["axis"])
            && (axis == -1 || axis == 2)
            && concat.input.iter().map(String::as_str).eq(joins.into_iter().flatten());
        fits.then_some((bigram_table, words, joined.as_str()))
    }

    /// The evaluator of these weights, laid out for [`accumulate`]; `None` when their sizes disagree.
    fn new(weights: OnnxWeights) -> Option<Self> {
        let OnnxWeights {
            embedding,
            bigrams,
            lexicon,
            input,
            hidden,
            lstms,
            output_by_tag,
            output_bias,
        } = weights;
        let gates = 4 * hidden;
        let tags = output_bias.len();
        let extra = bigrams.as_ref().map_or(0, |b| 2 * b.width) + lexicon.as_ref().map_or(0, |w| w.width);
        let unit_width = input.checked_sub(extra)?;
        if input == 0
            || unit_width == 0
            || hidden == 0
            || tags == 0
            || embedding.len() % unit_width != 0
            || bigrams.as_ref().is_some_and(|b| b.values.len() != b.rows * b.width)
            || lexicon.as_ref().is_some_and(|w| w.values.len() != w.rows * w.width)
            || (lexicon.is_some() && bigrams.is_none())
            || lstms.is_empty()
            || lstms.iter().any(|l| {
                l.w.len() != 2 * gates * input || l.r.len() != 2 * gates * hidden || l.b.len() != 2 * 2 * gates
            })
            || output_by_tag.len() != tags * 2 * hidden * lstms.len()
        {
            return None;
        }
        let direction = |LstmWeights { w, r, b }: &LstmWeights, d: usize| -> Option<Direction> {
            let wb = b.get(d * 2 * gates..d * 2 * gates + gates)?;
            let rb = b.get(d * 2 * gates + gates..(d + 1) * 2 * gates)?;
            let bias: Vec<f32> = wb.iter().zip(rb).map(|(&w, &r)| w + r).collect();
            Some(Direction {
                bias: padded::<{ GROUP_TILES * GATE_TILE }>(&bias),
                input: tiled::<GATE_TILE>(
                    w.get(d * gates * input..(d + 1) * gates * input)?,
                    gates.next_multiple_of(GROUP_TILES * GATE_TILE),
                    input,
                ),
                recurrent: grouped::<GATE_TILE>(r.get(d * gates * hidden..(d + 1) * gates * hidden)?, gates, hidden),
            })
        };
        let mut directions = Vec::with_capacity(2 * lstms.len());
        for lstm in &lstms {
            directions.push(direction(lstm, 0)?);
            directions.push(direction(lstm, 1)?);
        }
        Some(BiLstmEmitter {
            rows: embedding.len() / unit_width,
            embedding,
            input,
            bigrams,
            lexicon,
            hidden,
            tags,
            directions,
            output: tiled::<TAG_TILE>(&output_by_tag, tags, 2 * hidden * lstms.len()),
            output_bias: padded::<TAG_TILE>(&output_bias),
            avx: avx_usable(),
            avx512: avx512_usable(),
            projections: None,
        })
    }

    /// The linear layer: `Gemm(y, W, bias)` on `[n, 2 * hidden]` rows, or `MatMul(y, W)` on
    /// `[n, 2 * hidden]` or `[1, n, 2 * hidden]` rows then `Add` of the bias. Gives `Wout`
    /// transposed to `[tags][2 * hidden]`, the bias, the number of tags and the rows' shape.
    #[allow(clippy::type_complexity)]
    fn linear(
        chain: &mut Chain<'_>,
        lstm_out: &dyn Fn(usize) -> Vec<usize>,
        width: usize,
        moves: &[&onnx::NodeProto],
    ) -> Option<(Vec<f32>, Vec<f32>, usize, fn(usize) -> Vec<usize>)> {
        let (flat, batched): (fn(usize) -> Vec<usize>, fn(usize) -> Vec<usize>) = (flat_rows, batched_rows);
        let with_width = |shape: fn(usize) -> Vec<usize>| move |n: usize| with_last(shape(n), width);
        let node = chain.nodes.get(chain.at)?;
        let (weights, transposed, bias, rows_shape) = match node.op_type.as_str() {
            "Gemm" => {
                if !chain.moves_keep_order(moves, lstm_out, with_width(flat)) {
                    return None;
                }
                let gemm = chain.take("Gemm")?;
                let allowed = ["alpha", "beta", "transA", "transB"];
                if !attributes_within(gemm, &allowed)
                    || float_attribute(gemm, "alpha", 1.0)? != 1.0
                    || float_attribute(gemm, "beta", 1.0)? != 1.0
                    || int_attribute(gemm, "transA", 0)? != 0
                {
                    return None;
                }
                let transposed = match int_attribute(gemm, "transB", 0)? {
                    0 => false,
                    1 => true,
                    _ => return None,
                };
                let (weights, bias) = match gemm.input.as_slice() {
                    [_, w] => (w, None),
                    [_, w, b] if b.is_empty() => (w, None),
                    [_, w, b] => (w, Some(b)),
                    _ => return None,
                };
                (weights, transposed, bias, flat)
            }
            "MatMul" => {
                let rows_shape = if chain.moves_keep_order(moves, lstm_out, with_width(flat)) {
                    flat
                } else if chain.moves_keep_order(moves, lstm_out, with_width(batched)) {
                    batched
                } else {
                    return None;
                };
                let matmul = chain.take("MatMul")?;
                let [_, weights] = matmul.input.as_slice() else {
                    return None;
                };
                if !matmul.attribute.is_empty() {
                    return None;
                }
                let product = chain.current;
                let add = chain.nodes.get(chain.at)?;
                let bias = match add.input.as_slice() {
                    [a, b] if a == product => b,
                    [b, a] if a == product => b,
                    _ => return None,
                };
                if add.op_type != "Add" || !add.attribute.is_empty() || add.output.len() != 1 {
                    return None;
                }
                // the chain continues from the sum, whichever side the product was on
                chain.at += 1;
                chain.current = add.output.first().map(String::as_str)?;
                (weights, false, Some(bias), rows_shape)
            }
            _ => return None,
        };
        let (w, w_dims) = chain.floats(weights, None)?;
        let (k, tags) = match (w_dims.as_slice(), transposed) {
            ([k, t], false) | ([t, k], true) => (usize::try_from(*k).ok()?, usize::try_from(*t).ok()?),
            _ => return None,
        };
        if k != width || tags == 0 {
            return None;
        }
        let bias = match bias {
            Some(b) => {
                let (values, dims) = chain.floats(b, None)?;
                // [tags] or [1, .., 1, tags]: the same row added to every step
                let (last, ones) = dims.split_last()?;
                if usize::try_from(*last).ok()? != tags || ones.iter().any(|&d| d != 1) {
                    return None;
                }
                values
            }
            None => vec![0.0; tags],
        };
        // Wout as [tags][width]: row j holds the weights of emission column j.
        let by_tag = if transposed {
            w
        } else {
            let mut t = vec![0.0; tags * width];
            for (kk, row) in w.chunks_exact(tags).enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    t[j * width + kk] = v;
                }
            }
            t
        };
        Some((by_tag, bias, tags, rows_shape))
    }

    /// Computes the input projection of every embedding row once, so that evaluations
    /// start each step from a table row instead of the `input x 4 * hidden` products (the
    /// same sums, so the same bits). Costs `rows x 8 x hidden x 4` bytes: for the forge's
    /// tagger (4,337 rows, 64 hidden units), 8.9 MB.
    ///
    /// With bigrams the table holds the sums over the unit embedding's columns, which come
    /// first in each step's input; an evaluation continues them over the bigram columns,
    /// in the same ascending order, so the bits are again those of the whole sum.
    pub fn tabulate_projections(&mut self) {
        #[cfg(target_arch = "x86_64")]
        if self.avx512 {
            // SAFETY: `avx512` is true only when the CPU and the OS support AVX-512F.
            self.projections = Some(unsafe { self.projection_table_avx512() });
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if self.avx {
            // SAFETY: `avx` is true only when the CPU and the OS support AVX.
            self.projections = Some(unsafe { self.projection_table_avx() });
            return;
        }
        self.projections = Some(self.projection_table::<2>());
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    fn projection_table_avx(&self) -> Vec<f32> {
        self.projection_table::<2>()
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn projection_table_avx512(&self) -> Vec<f32> {
        self.projection_table::<2>()
    }

    /// The input projections of every embedding row, `ROWS` rows at a time.
    #[inline(always)]
    fn projection_table<const ROWS: usize>(&self) -> Vec<f32> {
        let width = self.directions[0].bias.len();
        let units = self.unit_width();
        let directions = self.directions.len();
        let mut table = vec![0.0; self.rows * directions * width];
        let (mut block, mut projected) = (Vec::new(), vec![0.0; ROWS * width]);
        for (first, chunk) in (0..self.rows)
            .step_by(ROWS)
            .zip(table.chunks_mut(ROWS * directions * width))
        {
            for (d, direction) in self.directions.iter().enumerate() {
                let rows = first..self.rows.min(first + ROWS);
                let from = Sums::Bias;
                self.project::<ROWS>(
                    direction,
                    (&self.embedding, units),
                    rows,
                    0..units,
                    from,
                    &mut block,
                    &mut projected,
                );
                for (row, sums) in chunk
                    .chunks_exact_mut(directions * width)
                    .zip(projected.chunks_exact(width))
                {
                    if let Some(target) = row.get_mut(d * width..(d + 1) * width) {
                        target.copy_from_slice(sums);
                    }
                }
            }
        }
        table
    }

    /// The width of an embedding row: the LSTM's input without the bigram and lexicon embeddings.
    fn unit_width(&self) -> usize {
        self.input - self.bigrams.as_ref().map_or(0, |b| 2 * b.width) - self.lexicon.as_ref().map_or(0, |w| w.width)
    }

    /// Bytes of the table [`Self::tabulate_projections`] made, 0 without one.
    pub fn projection_table_bytes(&self) -> usize {
        self.projections
            .as_ref()
            .map_or(0, |t| t.len() * core::mem::size_of::<f32>())
    }

    /// Number of emission columns (tags).
    pub fn tags(&self) -> usize {
        self.tags
    }

    /// Emission scores of `ids`, row-major `[ids.len(), tags]`, into `out` (spec: "Native
    /// evaluation of the BiLSTM emissions"). Negative ids count from the end of the
    /// embedding, as in ONNX `Gather`.
    ///
    /// A tagger with character bigrams also reads `bigrams`: the ids of the bigram that ends
    /// and of the one that starts at each unit (as many as `ids`); one without ignores them.
    /// One with a word lexicon reads each unit's lexicon id from `lexicon` likewise.
    pub fn emissions_into(
        &self,
        ids: &[i64],
        bigrams: Option<(&[i64], &[i64])>,
        lexicon: Option<&[i64]>,
        scratch: &mut Scratch,
        out: &mut Vec<f32>,
    ) -> Result<(), IdOutOfRange> {
        scratch.rows.clear();
        for &id in ids {
            scratch.rows.push(row_of(id, self.rows)?);
        }
        if let Some(table) = &self.bigrams {
            // each step's input, [unit embedding, bigram before, bigram after(, lexicon)], in `inputs`
            let (before, after) = bigrams.unwrap_or((&[], &[]));
            let words = self.lexicon.as_ref().map(|w| (w, lexicon.unwrap_or(&[])));
            scratch.inputs.clear();
            scratch.inputs.reserve(ids.len() * self.input);
            let unit_width = self.unit_width();
            for (step, &row) in scratch.rows.iter().enumerate() {
                scratch.inputs.extend_from_slice(
                    self.embedding
                        .get(row * unit_width..(row + 1) * unit_width)
                        .unwrap_or(&[]),
                );
                let sides = [Some((table, before)), Some((table, after)), words];
                for (table, side) in sides.into_iter().flatten() {
                    let id = side.get(step).copied().ok_or(IdOutOfRange {
                        id: -1,
                        rows: table.rows,
                    })?;
                    let b = row_of(id, table.rows)?;
                    scratch
                        .inputs
                        .extend_from_slice(table.values.get(b * table.width..(b + 1) * table.width).unwrap_or(&[]));
                }
            }
        }
        #[cfg(target_arch = "x86_64")]
        if self.avx512 {
            // SAFETY: `avx512` is true only when the CPU and the OS support AVX-512F.
            unsafe { self.evaluate_avx512(scratch, out) };
            return Ok(());
        }
        #[cfg(target_arch = "x86_64")]
        if self.avx {
            // SAFETY: `avx` is true only when the CPU and the OS support AVX (`avx_usable`).
            unsafe { self.evaluate_avx(scratch, out) };
            return Ok(());
        }
        self.evaluate::<1, 2>(scratch, out);
        Ok(())
    }

    /// [`Self::evaluate`] compiled for AVX: wider registers, the same operations on each value.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    fn evaluate_avx(&self, scratch: &mut Scratch, out: &mut Vec<f32>) {
        self.evaluate::<2, 2>(scratch, out);
    }

    /// [`Self::evaluate`] compiled for AVX-512F.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn evaluate_avx512(&self, scratch: &mut Scratch, out: &mut Vec<f32>) {
        self.evaluate::<2, 2>(scratch, out);
    }

    /// The emissions of `scratch.rows` (embedding rows; with bigrams, `scratch.inputs`)
    /// into `out`: the recurrence sums `N` gate tiles at once (`N` divides [`GROUP_TILES`])
    /// and the input projections of `B` steps are summed together (all of them, or with
    /// bigrams and a projection table, their bigram columns), so that each weight is read
    /// once for all of them. The sums and their order are the same for every `N` and `B`.
    #[inline(always)]
    fn evaluate<const N: usize, const B: usize>(&self, scratch: &mut Scratch, out: &mut Vec<f32>) {
        let Scratch {
            rows,
            inputs,
            block,
            projected,
            states,
            gates,
            h,
            c,
        } = scratch;
        let (n, hidden, directions) = (rows.len(), self.hidden, self.directions.len());
        let (units, bigrams) = (self.unit_width(), self.bigrams.is_some());
        let width = self.directions.first().map_or(0, |d| d.bias.len());
        projected.clear();
        projected.resize(B * width, 0.0);
        states.clear();
        states.resize(n * directions * hidden, 0.0);
        gates.clear();
        gates.resize(width, 0.0);
        for (d, direction) in self.directions.iter().enumerate() {
            // forward from the first step, reverse from the last
            let order = |step: usize| if d % 2 == 0 { step } else { n - 1 - step };
            h.clear();
            h.resize(hidden, 0.0);
            c.clear();
            c.resize(hidden, 0.0);
            for step in 0..n {
                let table_row = |t: usize| {
                    let at = (rows.get(order(t)).copied().unwrap_or(0) * directions + d) * width;
                    self.projections.as_ref().and_then(|table| table.get(at..at + width))
                };
                let init = match (table_row(step), bigrams) {
                    (Some(sums), false) => sums,
                    (tabulated, _) => {
                        let slot = step % B;
                        if slot == 0 {
                            let steps = step..n.min(step + B);
                            if !bigrams {
                                let block_rows = steps.map(|t| rows.get(order(t)).copied().unwrap_or(0));
                                let (source, from) = ((self.embedding.as_slice(), units), Sums::Bias);
                                self.project::<B>(direction, source, block_rows, 0..units, from, block, projected);
                            } else if tabulated.is_some() {
                                for (b, t) in steps.clone().enumerate() {
                                    let (Some(target), Some(sums)) =
                                        (projected.get_mut(b * width..(b + 1) * width), table_row(t))
                                    else {
                                        continue;
                                    };
                                    target.copy_from_slice(sums);
                                }
                                let (source, from) = ((inputs.as_slice(), self.input), Sums::Projected);
                                let columns = units..self.input;
                                self.project::<B>(direction, source, steps.map(order), columns, from, block, projected);
                            } else {
                                let (source, from) = ((inputs.as_slice(), self.input), Sums::Bias);
                                let columns = 0..self.input;
                                self.project::<B>(direction, source, steps.map(order), columns, from, block, projected);
                            }
                        }
                        projected.get(slot * width..(slot + 1) * width).unwrap_or(&[])
                    }
                };
                // Every other step walks the groups backwards: the weights read last are
                // still in the cache when the next step starts.
                Self::recur::<N>(direction, init, h, gates, hidden, step % 2 == 1);
                let (i, rest) = gates.split_at(hidden);
                let (o, rest) = rest.split_at(hidden);
                let (f, rest) = rest.split_at(hidden);
                let g = &rest[..hidden];
                for (((((h, c), &i), &o), &f), &g) in h.iter_mut().zip(c.iter_mut()).zip(i).zip(o).zip(f).zip(g) {
                    (*c, *h) = cell(i, o, f, g, *c);
                }
                let at = (order(step) * directions + d) * hidden;
                if let Some(state) = states.get_mut(at..at + hidden) {
                    state.copy_from_slice(h);
                }
            }
        }
        // Emissions: bias, then y·Wout in ascending order of y = [forward h, backward h] of
        // each BiLSTM in turn.
        out.clear();
        out.reserve(n * self.tags);
        for y in states.chunks_exact(directions * hidden) {
            for (tile, (weights, bias)) in self
                .output
                .chunks_exact(directions * hidden * TAG_TILE)
                .zip(self.output_bias.chunks_exact(TAG_TILE))
                .enumerate()
            {
                let mut acc = [0.0; TAG_TILE];
                acc.copy_from_slice(bias);
                accumulate(&mut acc, y, weights);
                let take = (self.tags - tile * TAG_TILE).min(TAG_TILE);
                out.extend_from_slice(&acc[..take]);
            }
        }
    }

    /// The input projections of up to `B` steps into `projected` (`[step][gate]`): from
    /// the bias, or from the sums already in `projected`, add W·x over input `columns` in
    /// ascending order. Step `b`'s input is row `rows[b]` of `source`, a table of
    /// `(values, row width)`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn project<const B: usize>(
        &self,
        direction: &Direction,
        (source, stride): (&[f32], usize),
        rows: impl Iterator<Item = usize>,
        columns: Range<usize>,
        from: Sums,
        block: &mut Vec<f32>,
        projected: &mut [f32],
    ) {
        let input = self.input;
        let width = direction.bias.len();
        // the inputs as `[k][step]`; a short last block repeats its last step, whose
        // extra sums are not stored
        block.clear();
        block.resize(columns.len() * B, 0.0);
        let mut count = 0;
        for (b, row) in rows.take(B).enumerate() {
            let at = row * stride;
            for (k, &x) in source
                .get(at + columns.start..at + columns.end)
                .unwrap_or(&[])
                .iter()
                .enumerate()
            {
                for slot in b..B {
                    if let Some(v) = block.get_mut(k * B + slot) {
                        *v = x;
                    }
                }
            }
            count = b + 1;
        }
        for (tile, (weights, bias)) in direction
            .input
            .chunks_exact(input * GATE_TILE)
            .zip(direction.bias.chunks_exact(GATE_TILE))
            .enumerate()
        {
            let mut acc = [[0.0; GATE_TILE]; B];
            for (b, a) in acc.iter_mut().enumerate() {
                let start = match from {
                    Sums::Bias => Some(bias),
                    Sums::Projected => projected.get(b * width + tile * GATE_TILE..b * width + (tile + 1) * GATE_TILE),
                };
                if let Some(start) = start {
                    a.copy_from_slice(start);
                }
            }
            let weights = weights
                .get(columns.start * GATE_TILE..columns.end * GATE_TILE)
                .unwrap_or(&[]);
            accumulate_block(&mut acc, block, weights);
            for (b, sums) in acc.iter().take(count).enumerate() {
                let at = b * width + tile * GATE_TILE;
                if let Some(target) = projected.get_mut(at..at + GATE_TILE) {
                    target.copy_from_slice(sums);
                }
            }
        }
    }

    /// One step's gate sums: `init` (the input projection), then R·h in ascending order,
    /// into `gates`, `N` tiles at a time, the groups in reverse when `backwards`.
    #[inline(always)]
    fn recur<const N: usize>(
        direction: &Direction,
        init: &[f32],
        h: &[f32],
        gates: &mut [f32],
        hidden: usize,
        backwards: bool,
    ) {
        // no closures here: they would not inherit the caller's target features
        let group = GROUP_TILES * GATE_TILE;
        let count = gates.len() / group;
        for g in 0..count {
            let g = if backwards { count - 1 - g } else { g };
            let (Some(weights), Some(init), Some(gates)) = (
                direction.recurrent.get(g * hidden * group..(g + 1) * hidden * group),
                init.get(g * group..(g + 1) * group),
                gates.get_mut(g * group..(g + 1) * group),
            ) else {
                return;
            };
            for first in (0..GROUP_TILES).step_by(N) {
                let mut acc = [[0.0; GATE_TILE]; N];
                for (i, a) in acc.iter_mut().enumerate() {
                    if let Some(init) = init
                        .get((first + i) * GATE_TILE..)
                        .and_then(<[f32]>::first_chunk::<GATE_TILE>)
                    {
                        *a = *init;
                    }
                }
                accumulate_grouped(&mut acc, h, weights, first);
                for (i, sums) in acc.iter().enumerate() {
                    if let Some(target) = gates.get_mut((first + i) * GATE_TILE..(first + i + 1) * GATE_TILE) {
                        target.copy_from_slice(sums);
                    }
                }
            }
        }
    }
}

/// XCR0, the register that says which register states the operating system saves; 0 when
/// the CPU lacks `xgetbv` (OSXSAVE clear).
#[cfg(target_arch = "x86_64")]
fn xcr0() -> u64 {
    use core::arch::x86_64::__cpuid;
    #[target_feature(enable = "xsave")]
    fn xgetbv() -> u64 {
        // SAFETY: `xgetbv` is available: the caller checked the OSXSAVE bit.
        unsafe { core::arch::x86_64::_xgetbv(0) }
    }
    // SAFETY: every x86_64 CPU has `cpuid` (a safe function from Rust 1.94 on; unsafe for
    // the crate's minimum Rust version).
    #[allow(unused_unsafe)]
    let osxsave = unsafe { __cpuid(1) }.ecx & (1 << 27) != 0;
    // SAFETY: OSXSAVE set means the OS enabled XSAVE and `xgetbv` runs.
    if osxsave {
        unsafe { xgetbv() }
    } else {
        0
    }
}

/// Whether the CPU has AVX and the operating system saves its registers (what
/// `is_x86_feature_detected!("avx")` checks, without `std`).
#[cfg(target_arch = "x86_64")]
fn avx_usable() -> bool {
    // SAFETY: as in `xcr0`
    #[allow(unused_unsafe)]
    let avx = unsafe { core::arch::x86_64::__cpuid(1) }.ecx & (1 << 28) != 0;
    avx && xcr0() & 0b110 == 0b110
}

/// Whether the CPU has AVX-512F and the operating system saves the vector, upper-ZMM and
/// mask registers (what `is_x86_feature_detected!("avx512f")` checks, without `std`).
#[cfg(target_arch = "x86_64")]
fn avx512_usable() -> bool {
    use core::arch::x86_64::__cpuid_count;
    // SAFETY: as in `xcr0`; leaf 7 exists when leaf 0 says so.
    #[allow(unused_unsafe)]
    let max_leaf = unsafe { core::arch::x86_64::__cpuid(0) }.eax;
    #[allow(unused_unsafe)]
    let avx512f = max_leaf >= 7 && unsafe { __cpuid_count(7, 0) }.ebx & (1 << 16) != 0;
    avx512f && avx_usable() && xcr0() & 0b1110_0110 == 0b1110_0110
}

#[cfg(not(target_arch = "x86_64"))]
fn avx_usable() -> bool {
    false
}

#[cfg(not(target_arch = "x86_64"))]
fn avx512_usable() -> bool {
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{cell, exp, BiLstmEmitter, BigramTable, IdOutOfRange, Layout, LstmWeights, OnnxWeights, Scratch};
    use alloc::vec;
    use alloc::vec::Vec;

    #[test]
    fn the_pinned_exponential_is_close_to_the_true_one() {
        let mut x = -87.0f32;
        while x <= 88.0 {
            let (got, want) = (f64::from(exp(x)), f64::from(x).exp());
            assert!(((got - want) / want).abs() < 3e-7, "exp({x}) = {got}, want {want}");
            x += 0.0137;
        }
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(1000.0), exp(88.0));
        assert_eq!(exp(f32::NEG_INFINITY), exp(-87.0));
        assert!(exp(f32::NAN).is_nan());
    }

    /// The cell in float64 with the textbook sigmoid and tanh.
    fn reference_cell(i: f64, o: f64, f: f64, g: f64, c: f64) -> (f64, f64) {
        let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
        let c = sigmoid(f) * c + sigmoid(i) * g.tanh();
        (c, sigmoid(o) * c.tanh())
    }

    #[test]
    fn the_cell_saturates_and_stays_close_to_the_textbook_one() {
        let mut rng = 0x1234_5678_u32;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            (f64::from(rng) / f64::from(u32::MAX) - 0.5) * 20.0
        };
        for k in 0..200_000 {
            // moderate values, then saturating ones (e^88 and beyond)
            let scale = if k % 2 == 0 { 1.0 } else { 10.0 };
            let (i, o, f, g, c) = (next(), next(), next() * scale, next() * scale, next() * scale / 4.0);
            let (c32, h32) = cell(i as f32, o as f32, f as f32, g as f32, c as f32);
            let (c64, h64) = reference_cell(
                f64::from(i as f32),
                f64::from(o as f32),
                f64::from(f as f32),
                f64::from(g as f32),
                f64::from(c as f32),
            );
            // the state grows: a few units in its last place
            assert!(
                (f64::from(c32) - c64).abs() < 1e-6 * c64.abs().max(1.0),
                "c of {:?}",
                (i, o, f, g, c)
            );
            assert!((f64::from(h32) - h64).abs() < 1e-6, "h of {:?}", (i, o, f, g, c));
        }
        // saturated gates: the state carries over, the output is its tanh
        let (c, h) = cell(100.0, 100.0, 100.0, -100.0, 0.5);
        assert_eq!(c, -0.5);
        assert!((h - (-0.5f32).tanh()).abs() < 1e-7);
        // closed gates: (next to) nothing passes
        let (c, h) = cell(-100.0, -100.0, -100.0, 3.0, 0.5);
        assert!(c.abs() < 1e-37 && h == 0.0, "{c} {h}");
    }

    /// A model of random weights: `rows` embedding rows of `input` values, `hidden` units, `tags` tags.
    fn random_model(seed: u32, rows: usize, input: usize, hidden: usize, tags: usize) -> (OnnxWeights, BiLstmEmitter) {
        random_ensemble(seed, rows, input, hidden, tags, 1)
    }

    /// [`random_model`] with `members` BiLSTMs side by side.
    fn random_ensemble(
        seed: u32,
        rows: usize,
        input: usize,
        hidden: usize,
        tags: usize,
        members: usize,
    ) -> (OnnxWeights, BiLstmEmitter) {
        let mut state = seed;
        let mut values = |n: usize, scale: f32| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    (state as f32 / u32::MAX as f32 - 0.5) * scale
                })
                .collect()
        };
        let weights = OnnxWeights {
            embedding: values(rows * input, 2.0),
            bigrams: None,
            lexicon: None,
            input,
            hidden,
            lstms: (0..members)
                .map(|_| LstmWeights {
                    w: values(2 * 4 * hidden * input, 1.0),
                    r: values(2 * 4 * hidden * hidden, 1.0),
                    b: values(2 * 8 * hidden, 1.0),
                })
                .collect(),
            output_by_tag: values(tags * 2 * hidden * members, 1.0),
            output_bias: values(tags, 1.0),
        };
        let copy = OnnxWeights {
            embedding: weights.embedding.clone(),
            bigrams: None,
            lexicon: None,
            lstms: weights.lstms.clone(),
            output_by_tag: weights.output_by_tag.clone(),
            output_bias: weights.output_bias.clone(),
            ..weights
        };
        (copy, BiLstmEmitter::new(weights).unwrap())
    }

    /// The spec's arithmetic, written as plainly as possible from ONNX's layouts.
    #[allow(clippy::needless_range_loop)]
    fn reference(m: &OnnxWeights, ids: &[usize]) -> Vec<f32> {
        let (e, h, n) = (m.input, m.hidden, ids.len());
        let (tags, width) = (m.output_bias.len(), 2 * h * m.lstms.len());
        let mut y = vec![0.0f32; n * width];
        for (member, l) in m.lstms.iter().enumerate() {
            for d in 0..2 {
                let (mut hs, mut cs) = (vec![0.0f32; h], vec![0.0f32; h]);
                for step in 0..n {
                    let t = if d == 0 { step } else { n - 1 - step };
                    let x = &m.embedding[ids[t] * e..(ids[t] + 1) * e];
                    let mut a = vec![0.0f32; 4 * h];
                    for (g, a) in a.iter_mut().enumerate() {
                        let mut sum = l.b[d * 8 * h + g] + l.b[d * 8 * h + 4 * h + g];
                        for k in 0..e {
                            sum += x[k] * l.w[(d * 4 * h + g) * e + k];
                        }
                        for k in 0..h {
                            sum += hs[k] * l.r[(d * 4 * h + g) * h + k];
                        }
                        *a = sum;
                    }
                    for j in 0..h {
                        (cs[j], hs[j]) = cell(a[j], a[h + j], a[2 * h + j], a[3 * h + j], cs[j]);
                        y[t * width + (2 * member + d) * h + j] = hs[j];
                    }
                }
            }
        }
        let mut out = Vec::new();
        for t in 0..n {
            for j in 0..tags {
                let mut sum = m.output_bias[j];
                for k in 0..width {
                    sum += y[t * width + k] * m.output_by_tag[j * width + k];
                }
                out.push(sum);
            }
        }
        out
    }

    fn bits(values: &[f32]) -> Vec<u32> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn bigram_inputs_give_the_reference_bits_of_the_joined_vectors() {
        joined_inputs_give_the_reference_bits(0);
    }

    #[test]
    fn lexicon_inputs_give_the_reference_bits_of_the_joined_vectors() {
        joined_inputs_give_the_reference_bits(2);
    }

    /// Bigram embeddings (and with `lw` > 0 a lexicon embedding of `lw` values) joined to
    /// the units' give the bits of the reference reading the joined vectors as its embedding.
    fn joined_inputs_give_the_reference_bits(lw: usize) {
        let (e, w, rows, bigram_rows, lexicon_rows, hidden, tags) = (5, 3, 6, 4, 5, 24, 5);
        let input = e + 2 * w + lw;
        let (plain, _) = random_model(21, rows, input, hidden, tags);
        let units: Vec<f32> = (0..rows * e).map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0).collect();
        let table: Vec<f32> = (0..bigram_rows * w)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0)
            .collect();
        let words: Vec<f32> = (0..lexicon_rows * lw)
            .map(|i| ((i * 3 % 7) as f32 - 3.0) / 2.0)
            .collect();
        let lexicon = || {
            (lw > 0).then(|| BigramTable {
                values: words.clone(),
                rows: lexicon_rows,
                width: lw,
            })
        };
        let weights = |embedding: Vec<f32>, bigrams: Option<BigramTable>, lexicon: Option<BigramTable>| OnnxWeights {
            embedding,
            bigrams,
            lexicon,
            input,
            hidden,
            lstms: plain.lstms.clone(),
            output_by_tag: plain.output_by_tag.clone(),
            output_bias: plain.output_bias.clone(),
        };
        let bigrams = BigramTable {
            values: table.clone(),
            rows: bigram_rows,
            width: w,
        };
        let mut model = BiLstmEmitter::new(weights(units.clone(), Some(bigrams), lexicon())).unwrap();
        let (ids, before, after) = ([2i64, 0, 5, 1, 3], [1i64, 3, 0, 2, 1], [3i64, 0, 2, 1, -1]);
        let found = [4i64, 1, 0, 2, 3];
        let found = (lw > 0).then_some(&found[..]);
        // the reference reads each step's joined vector as an embedding row of its own
        let mut joined = Vec::new();
        for t in 0..ids.len() {
            let row = |values: &[f32], id: i64, width: usize, rows: usize| {
                let r = if id < 0 { rows as i64 + id } else { id } as usize;
                values[r * width..(r + 1) * width].to_vec()
            };
            joined.extend(row(&units, ids[t], e, rows));
            joined.extend(row(&table, before[t], w, bigram_rows));
            joined.extend(row(&table, after[t], w, bigram_rows));
            if let Some(found) = found {
                joined.extend(row(&words, found[t], lw, lexicon_rows));
            }
        }
        let expected = reference(
            &weights(joined.clone(), None, None),
            &(0..ids.len()).collect::<Vec<_>>(),
        );
        let (mut scratch, mut out) = (Scratch::default(), Vec::new());
        model
            .emissions_into(&ids, Some((&before, &after)), found, &mut scratch, &mut out)
            .unwrap();
        assert_eq!(bits(&out), bits(&expected));
        // the table holds the unit columns' sums; the bigram columns continue them
        model.tabulate_projections();
        assert!(model.projection_table_bytes() >= rows * 2 * 4 * hidden * 4); // gates padded to whole groups
        for n in 1..=ids.len() {
            let prefix = reference(
                &weights(joined[..n * input].to_vec(), None, None),
                &(0..n).collect::<Vec<_>>(),
            );
            let found = found.map(|f| &f[..n]);
            model
                .emissions_into(
                    &ids[..n],
                    Some((&before[..n], &after[..n])),
                    found,
                    &mut scratch,
                    &mut out,
                )
                .unwrap();
            assert_eq!(bits(&out), bits(&prefix), "{n} steps");
        }
        let outside = [0i64, 0, 0, 0, 4];
        assert!(model
            .emissions_into(&ids, Some((&before, &outside)), found, &mut scratch, &mut out)
            .is_err());
        assert!(model.emissions_into(&ids, None, found, &mut scratch, &mut out).is_err());
        assert!(model
            .emissions_into(&ids, Some((&before[..2], &after)), found, &mut scratch, &mut out)
            .is_err());
        if lw > 0 {
            // lexicon ids missing, too few or outside the table
            let bigrams = Some((&before[..], &after[..]));
            assert!(model
                .emissions_into(&ids, bigrams, None, &mut scratch, &mut out)
                .is_err());
            assert!(model
                .emissions_into(&ids, bigrams, Some(&[1, 1]), &mut scratch, &mut out)
                .is_err());
            let beyond = [1i64, 1, 1, 1, 5];
            assert!(model
                .emissions_into(&ids, bigrams, Some(&beyond), &mut scratch, &mut out)
                .is_err());
        }
    }

    #[test]
    fn every_code_path_computes_the_plain_reference_bits() {
        // sizes that fill whole tiles and sizes that leave padding, odd and even lengths, one
        // BiLSTM and ensembles of two and three
        let sizes = [
            (7, 11, 32, 64, 7, 1),
            (8, 5, 3, 5, 2, 1),
            (9, 4, 9, 24, 9, 1),
            (10, 6, 9, 24, 7, 2),
            (11, 5, 3, 5, 2, 3),
        ];
        for (seed, rows, input, hidden, tags, members) in sizes {
            let (weights, mut model) = random_ensemble(seed, rows, input, hidden, tags, members);
            assert_eq!(model.projection_table_bytes(), 0);
            for tabulated in [false, true] {
                if tabulated {
                    model.tabulate_projections();
                    assert_eq!(
                        model.projection_table_bytes(),
                        rows * 2 * members * (4 * hidden).next_multiple_of(super::GROUP_TILES * super::GATE_TILE) * 4
                    );
                }
                for n in [1usize, 2, 5, 8, 11, 17] {
                    let ids: Vec<usize> = (0..n).map(|t| (t * 7 + 3) % rows).collect();
                    let want = bits(&reference(&weights, &ids));
                    let mut scratch = Scratch {
                        rows: ids.clone(),
                        ..Scratch::default()
                    };
                    let mut out = Vec::new();
                    for (path, evaluate) in [
                        (
                            "one tile, one step",
                            BiLstmEmitter::evaluate::<1, 1> as fn(&_, &mut _, &mut _),
                        ),
                        (
                            "one tile, blocks of two steps (firmware)",
                            BiLstmEmitter::evaluate::<1, 2>,
                        ),
                        ("two tiles, blocks of two steps", BiLstmEmitter::evaluate::<2, 2>),
                        ("two tiles, blocks of eight steps", BiLstmEmitter::evaluate::<2, 8>),
                    ] {
                        evaluate(&model, &mut scratch, &mut out);
                        assert_eq!(bits(&out), want, "{n} steps, {path}, tabulated: {tabulated}");
                    }
                    if model.avx {
                        // SAFETY: the model found AVX usable
                        unsafe { model.evaluate_avx(&mut scratch, &mut out) };
                        assert_eq!(bits(&out), want, "{n} steps, AVX");
                    }
                    if model.avx512 {
                        // SAFETY: the model found AVX-512F usable
                        unsafe { model.evaluate_avx512(&mut scratch, &mut out) };
                        assert_eq!(bits(&out), want, "{n} steps, AVX-512");
                    }
                    let ids: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
                    model.emissions_into(&ids, None, None, &mut scratch, &mut out).unwrap();
                    assert_eq!(bits(&out), want, "{n} steps");
                }
            }
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_feature_checks_agree_with_std() {
        assert_eq!(super::avx_usable(), std::is_x86_feature_detected!("avx"));
        assert_eq!(super::avx512_usable(), std::is_x86_feature_detected!("avx512f"));
    }

    #[test]
    fn ids_outside_the_embedding_are_refused_and_negative_ones_count_from_the_end() {
        let (_, model) = random_model(3, 4, 3, 2, 2);
        let (mut scratch, mut out, mut last) = (Scratch::default(), Vec::new(), Vec::new());
        assert_eq!(
            model.emissions_into(&[0, 4], None, None, &mut scratch, &mut out),
            Err(IdOutOfRange { id: 4, rows: 4 })
        );
        assert!(model.emissions_into(&[-5], None, None, &mut scratch, &mut out).is_err());
        model.emissions_into(&[-1], None, None, &mut scratch, &mut out).unwrap();
        model.emissions_into(&[3], None, None, &mut scratch, &mut last).unwrap();
        assert_eq!(out, last);
    }

    #[test]
    fn transposes_reorder_and_reshapes_do_not() {
        let l = Layout::identity(&[2, 3]).transpose(&[1, 0]).unwrap();
        assert_eq!(l.shape, [3, 2]);
        assert_eq!(l.order, [0, 3, 1, 4, 2, 5]);
        assert!(Layout::identity(&[1, 4, 5])
            .transpose(&[1, 0, 2])
            .unwrap()
            .is_identity(&[4, 1, 5]));
        assert!(Layout::identity(&[2, 3]).transpose(&[0, 0]).is_none());
    }
}
