//! Resource limits on what a bundle may claim (spec section 1, resource limits).
//!
//! A bundle is a file people download and share: a small file must not be
//! able to make the runtime allocate gigabytes, and a large one must not
//! exhaust a small device. Every count is checked against [`Limits`] before
//! the structures it sizes are built: file sizes before reading, the
//! preprocessor's counts right after parsing, and the element counts the
//! ONNX initializers declare before the engine sees the model.

use alloc::format;
use alloc::vec::Vec;

use crate::error::{BundleFile, Error, Result};
use crate::proto;

/// The largest bundle a runtime agrees to load. [`Limits::default`] fits a phone;
/// [`Limits::MICROCONTROLLER`] fits the MCU tier.
///
/// ```
/// let tight = cerebellum_core::Limits { max_vocabulary: 10, ..cerebellum_core::Limits::default() };
/// assert!(tight.max_vocabulary < cerebellum_core::Limits::default().max_vocabulary);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of `preprocessor.bin`.
    pub max_preprocessor_bytes: usize,
    /// Bytes of `model.onnx`.
    pub max_model_bytes: usize,
    /// TF-IDF terms, or tagger units.
    pub max_vocabulary: usize,
    /// Labels of a classifier, or tags of a tagger.
    pub max_labels: usize,
    /// Entries of the character table (fold entries plus class runs).
    pub max_char_table_entries: usize,
    /// Elements of all ONNX initializers and constants together.
    pub max_initializer_elements: u64,
}

impl Limits {
    /// For phones and desktops: 64 MiB files, a million terms, 10,000 labels.
    pub const PHONE: Limits = Limits {
        max_preprocessor_bytes: 64 << 20,
        max_model_bytes: 64 << 20,
        max_vocabulary: 1_000_000,
        max_labels: 10_000,
        max_char_table_entries: 300_000,
        max_initializer_elements: 16_000_000,
    };

    /// For microcontrollers: a bundle that fits in about 1 MiB of flash.
    pub const MICROCONTROLLER: Limits = Limits {
        max_preprocessor_bytes: 1 << 20,
        max_model_bytes: 1 << 20,
        max_vocabulary: 50_000,
        max_labels: 256,
        max_char_table_entries: 40_000,
        max_initializer_elements: 250_000,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::PHONE
    }
}

pub(crate) fn over(
    file: BundleFile,
    what: &str,
    found: impl core::fmt::Display,
    limit: impl core::fmt::Display,
) -> Error {
    Error::Limit {
        file,
        problem: format!("{what}: {found}, over the limit of {limit} (raise it with Limits if you trust this bundle)"),
    }
}

/// `bytes` against `limit`, for a file of the bundle (before reading it, when it is a file).
#[doc(hidden)]
pub fn check_size(file: BundleFile, what: &str, bytes: usize, limit: usize) -> Result<()> {
    if bytes > limit {
        return Err(over(file, what, format!("{bytes} bytes"), format!("{limit} bytes")));
    }
    Ok(())
}

/// The preprocessor's counts, before anything is built from them.
pub(crate) fn check_preprocessor(pre: &proto::Preprocessor, limits: &Limits) -> Result<()> {
    let file = BundleFile::Preprocessor;
    if pre.labels.len() > limits.max_labels {
        return Err(over(file, "labels", pre.labels.len(), limits.max_labels));
    }
    let vocabulary = pre
        .tfidf
        .as_ref()
        .map_or(0, |t| t.vocabulary.len().max(t.idf.len()).max(t.idf_index.len()))
        + pre.tagger.as_ref().map_or(0, |t| t.vocabulary.len());
    if vocabulary > limits.max_vocabulary {
        return Err(over(file, "vocabulary", vocabulary, limits.max_vocabulary));
    }
    if let Some(t) = &pre.tagger {
        // Tags x tags transitions: the tag count is bounded like labels.
        let tags = t.start.len().max(t.end.len());
        if tags > limits.max_labels || t.transitions.len() > limits.max_labels.saturating_mul(limits.max_labels) {
            return Err(over(file, "tags", tags, limits.max_labels));
        }
    }
    if let Some(c) = &pre.char_table {
        let entries = c.fold_from_delta.len() + c.fold_to.len() + c.class_start_delta.len();
        if entries > limits.max_char_table_entries {
            return Err(over(
                file,
                "character table entries",
                entries,
                limits.max_char_table_entries,
            ));
        }
    }
    Ok(())
}

/// The elements the ONNX initializers and Constant tensors declare, read from the
/// protobuf wire format without building the model.
pub(crate) fn check_model(model: &[u8], limits: &Limits) -> Result<()> {
    let file = BundleFile::Model;
    let mut total: u64 = 0;
    let corrupt = |what: &str| Error::corrupt(file, format!("not an ONNX model: {what}"));
    for (field, graph) in fields(model).map_err(&corrupt)? {
        if field != 7 {
            continue; // ModelProto.graph
        }
        let WireValue::Bytes(graph) = graph else { continue };
        for (field, item) in fields(graph).map_err(&corrupt)? {
            let WireValue::Bytes(item) = item else { continue };
            let elements = match field {
                5 => tensor_elements(item),      // GraphProto.initializer
                1 => node_tensor_elements(item), // NodeProto: Constant values in attributes
                _ => continue,
            }
            .map_err(&corrupt)?;
            total = total.saturating_add(elements);
            if total > limits.max_initializer_elements {
                return Err(over(
                    file,
                    "ONNX weight elements",
                    format!("{total}+ elements"),
                    limits.max_initializer_elements,
                ));
            }
        }
    }
    Ok(())
}

fn node_tensor_elements(node: &[u8]) -> core::result::Result<u64, &'static str> {
    let mut total: u64 = 0;
    for (field, attribute) in fields(node)? {
        let (5, WireValue::Bytes(attribute)) = (field, attribute) else {
            continue;
        }; // NodeProto.attribute
        for (field, value) in fields(attribute)? {
            // AttributeProto.t (5) and .tensors (10)
            if let (5 | 10, WireValue::Bytes(tensor)) = (field, value) {
                total = total.saturating_add(tensor_elements(tensor)?);
            }
        }
    }
    Ok(total)
}

fn tensor_elements(tensor: &[u8]) -> core::result::Result<u64, &'static str> {
    let mut product: u64 = 1;
    for (field, value) in fields(tensor)? {
        if field != 1 {
            continue; // TensorProto.dims
        }
        match value {
            WireValue::Varint(dim) => product = multiply(product, dim)?,
            WireValue::Bytes(packed) => {
                let mut rest = packed;
                while !rest.is_empty() {
                    let (dim, used) = varint(rest)?;
                    product = multiply(product, dim)?;
                    rest = &rest[used..];
                }
            }
            WireValue::Fixed => return Err("tensor dims are not varints"),
        }
    }
    Ok(product)
}

fn multiply(product: u64, dim: u64) -> core::result::Result<u64, &'static str> {
    if dim > i64::MAX as u64 {
        return Err("a tensor has a negative dimension");
    }
    Ok(product.saturating_mul(dim))
}

enum WireValue<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The (field number, value) pairs of one protobuf message.
fn fields(mut data: &[u8]) -> core::result::Result<Vec<(u64, WireValue<'_>)>, &'static str> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let (key, used) = varint(data)?;
        data = &data[used..];
        let value = match key & 7 {
            0 => {
                let (v, used) = varint(data)?;
                data = &data[used..];
                WireValue::Varint(v)
            }
            1 | 5 => {
                let width = if key & 7 == 1 { 8 } else { 4 };
                data = data.get(width..).ok_or("truncated fixed-width field")?;
                WireValue::Fixed
            }
            2 => {
                let (len, used) = varint(data)?;
                let len = usize::try_from(len).map_err(|_| "length out of range")?;
                let body = data.get(used..).and_then(|d| d.get(..len)).ok_or("truncated field")?;
                data = &data[used + len..];
                WireValue::Bytes(body)
            }
            _ => return Err("unsupported protobuf wire type"),
        };
        out.push((key >> 3, value));
    }
    Ok(out)
}

/// A protobuf varint at the start of `data`: its value and the bytes it took.
pub(crate) fn varint(data: &[u8]) -> core::result::Result<(u64, usize), &'static str> {
    let mut value: u64 = 0;
    for (i, byte) in data.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err("truncated or overlong varint")
}
