//! Reading ONNX initializers (`TensorProto`): values stored in the typed
//! fields or as little-endian `raw_data`. Only `core` and `alloc`, so the
//! native evaluators that use it can move into a `no_std` crate unchanged.

use alloc::vec::Vec;

use crate::exact::collect_exact;
use crate::onnx;

/// ONNX `TensorProto.DataType` codes the native evaluators read.
pub(crate) const FLOAT: i32 = 1;
/// See [`FLOAT`].
pub(crate) const INT8: i32 = 3;
/// See [`FLOAT`].
pub(crate) const INT64: i32 = 7;
/// See [`FLOAT`].
pub(crate) const FLOAT16: i32 = 10;

/// `raw_data` as little-endian values of `N` bytes each; `None` when its length does not divide.
pub(crate) fn little_endian<T, const N: usize>(raw: &[u8], decode: fn([u8; N]) -> T) -> Option<Vec<T>> {
    let chunks = raw.chunks_exact(N);
    if !chunks.remainder().is_empty() {
        return None;
    }
    collect_exact(chunks.map(|c| <[u8; N]>::try_from(c).ok().map(decode)))
}

/// The number of elements the dimensions declare; `None` for a negative dimension or an overflow.
pub(crate) fn elements(t: &onnx::TensorProto) -> Option<usize> {
    t.dims
        .iter()
        .try_fold(1usize, |n, &d| usize::try_from(d).ok().and_then(|d| n.checked_mul(d)))
}

/// A float32 tensor's values in row-major order, as many as its dimensions declare.
pub(crate) fn floats(t: &onnx::TensorProto) -> Option<Vec<f32>> {
    if t.data_type != FLOAT {
        return None;
    }
    let values: Vec<f32> = if t.raw_data.is_empty() {
        t.float_data.clone()
    } else {
        little_endian(&t.raw_data, f32::from_le_bytes)?
    };
    (Some(values.len()) == elements(t)).then_some(values)
}

/// An int8 tensor's values in row-major order, as many as its dimensions declare.
pub(crate) fn int8s(t: &onnx::TensorProto) -> Option<Vec<i8>> {
    if t.data_type != INT8 {
        return None;
    }
    let values: Vec<i8> = if t.raw_data.is_empty() {
        collect_exact(t.int32_data.iter().map(|&v| i8::try_from(v).ok()))?
    } else {
        t.raw_data.iter().map(|&b| b as i8).collect()
    };
    (Some(values.len()) == elements(t)).then_some(values)
}

/// An int64 tensor's values in row-major order, as many as its dimensions declare.
pub(crate) fn int64s(t: &onnx::TensorProto) -> Option<Vec<i64>> {
    if t.data_type != INT64 {
        return None;
    }
    let values: Vec<i64> = if t.raw_data.is_empty() {
        t.int64_data.clone()
    } else {
        little_endian(&t.raw_data, i64::from_le_bytes)?
    };
    (Some(values.len()) == elements(t)).then_some(values)
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn little_endian_allocates_what_it_returns() {
        // 138,784 floats: the built-in tagger's embedding, just past a power of two.
        let raw: Vec<u8> = (0..138_784u32).flat_map(|i| (i as f32).to_le_bytes()).collect();
        let values = little_endian(&raw, f32::from_le_bytes).expect("whole values");
        assert_eq!(values.len(), 138_784);
        assert_eq!(values.capacity(), values.len());
        assert_eq!(values[138_783], 138_783.0);
    }

    #[test]
    fn little_endian_refuses_a_partial_value() {
        assert!(little_endian(&[0u8; 7], f32::from_le_bytes).is_none());
    }
}
