//! TF-IDF vectors with the arithmetic pinned by spec section 5.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use alloc::borrow::ToOwned;

use crate::error::{BundleFile, Error, Result};
use crate::exact::collect_exact;
use crate::limits::Limits;
use crate::packed::Coding;
use crate::proto;

/// Non-zero features: ascending column indices and their float32 values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseVector {
    /// Column indices, ascending.
    pub indices: Vec<i64>,
    /// Values, one per index.
    pub values: Vec<f32>,
}

impl SparseVector {
    /// Number of non-zero features.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// True when no vocabulary term occurs in the text.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

/// FNV-1a's 64-bit offset basis: the hash of no bytes.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, 64 bits, continued from `h` over `data`.
fn fnv1a64_extend(mut h: u64, data: &[u8]) -> u64 {
    for &byte in data {
        h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// FNV-1a, 64 bits: the hash of a hashed vocabulary (spec section 5).
pub(crate) fn fnv1a64(data: &[u8]) -> u64 {
    fnv1a64_extend(FNV_OFFSET, data)
}

/// FNV-1a as a `Hasher`: terms are short, and SipHash's flood resistance buys nothing for a
/// read-only table built from the bundle (the tagger's unit ids).
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(FNV_OFFSET)
    }
}

impl core::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = fnv1a64_extend(self.0, bytes);
    }
}

/// Terms per block of the vocabulary: a lookup binary-searches the blocks' first terms, then
/// reads at most this many terms of one block.
const BLOCK: usize = 16;

/// A vocabulary in sorted blocks: each term stored as its length (a varint) and its bytes,
/// in ascending byte order, and the offset of every [`BLOCK`]-th term. About one byte per term
/// beyond the text, where a hash map of `String`s costs some forty.
#[derive(Debug)]
struct Terms {
    data: Vec<u8>,
    block_starts: Vec<u32>,
    len: usize,
    /// The column of each term in sorted order; `None` when sorted order is column order
    /// (always for packed vocabularies, which store their terms sorted).
    columns: Option<Vec<u32>>,
}

impl Terms {
    /// Terms in ascending byte order, strictly (checked by the caller).
    fn builder(bytes: usize, count: usize) -> TermsBuilder {
        TermsBuilder {
            terms: Terms {
                data: Vec::with_capacity(bytes),
                block_starts: Vec::with_capacity(count.div_ceil(BLOCK)),
                len: 0,
                columns: None,
            },
        }
    }

    /// The term at `at` in `data` and the position after it.
    #[inline]
    fn read(&self, at: usize) -> Option<(&[u8], usize)> {
        let (length, used) = read_length(self.data.get(at..)?)?;
        let start = at + used;
        let end = start.checked_add(length)?;
        Some((self.data.get(start..end)?, end))
    }

    /// Position in sorted order of `term`.
    fn position(&self, term: &[u8]) -> Option<usize> {
        // The last block whose first term is <= term.
        let block = self
            .block_starts
            .partition_point(|&start| self.read(start as usize).is_some_and(|(first, _)| first <= term));
        let block = block.checked_sub(1)?;
        let mut at = *self.block_starts.get(block)? as usize;
        let end = self
            .block_starts
            .get(block + 1)
            .map_or(self.data.len(), |&e| e as usize);
        let mut position = block * BLOCK;
        while at < end {
            let (candidate, next) = self.read(at)?;
            match candidate.cmp(term) {
                core::cmp::Ordering::Less => {}
                core::cmp::Ordering::Equal => return Some(position),
                core::cmp::Ordering::Greater => return None,
            }
            at = next;
            position += 1;
        }
        None
    }

    fn column(&self, term: &str) -> Option<u32> {
        let position = self.position(term.as_bytes())?;
        match &self.columns {
            None => u32::try_from(position).ok(),
            Some(columns) => columns.get(position).copied(),
        }
    }

    /// Every term with its column, in sorted order.
    fn for_each(&self, mut f: impl FnMut(u32, &str)) {
        let mut at = 0;
        let mut position = 0usize;
        while let Some((term, next)) = self.read(at) {
            let column = match &self.columns {
                None => u32::try_from(position).ok(),
                Some(columns) => columns.get(position).copied(),
            };
            if let (Some(column), Ok(term)) = (column, core::str::from_utf8(term)) {
                f(column, term);
            }
            at = next;
            position += 1;
        }
    }
}

/// The bytes of `length` as a LEB128 varint.
fn length_bytes(length: usize) -> usize {
    let mut bytes = 1;
    let mut rest = length >> 7;
    while rest > 0 {
        bytes += 1;
        rest >>= 7;
    }
    bytes
}

/// A length as a LEB128 varint; terms are short, so nearly always one byte.
fn read_length(data: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for (i, &byte) in data.iter().enumerate().take(5) {
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Some((value, i + 1));
        }
    }
    None
}

struct TermsBuilder {
    terms: Terms,
}

impl TermsBuilder {
    fn push(&mut self, term: &str) -> Result<()> {
        let t = &mut self.terms;
        if t.len.is_multiple_of(BLOCK) {
            let start = u32::try_from(t.data.len())
                .map_err(|_| Error::corrupt(BundleFile::Preprocessor, "tfidf: vocabulary too large"))?;
            t.block_starts.push(start);
        }
        let mut length = term.len();
        loop {
            let byte = (length & 0x7f) as u8;
            length >>= 7;
            if length == 0 {
                t.data.push(byte);
                break;
            }
            t.data.push(byte | 0x80);
        }
        t.data.extend_from_slice(term.as_bytes());
        t.len += 1;
        Ok(())
    }

    fn finish(self) -> Terms {
        let mut terms = self.terms;
        terms.data.shrink_to_fit();
        terms.block_starts.shrink_to_fit();
        terms
    }
}

#[derive(Debug)]
enum Columns {
    Terms(Terms),
    Hashed(u32),
}

/// The idf value of each column: as stored, or as an index into a palette of distinct values.
#[derive(Debug)]
enum Idf {
    Plain(Vec<f32>),
    Palette { palette: Vec<f32>, index: Vec<u16> },
}

impl Idf {
    fn len(&self) -> usize {
        match self {
            Idf::Plain(values) => values.len(),
            Idf::Palette { index, .. } => index.len(),
        }
    }

    #[inline]
    fn get(&self, column: usize) -> Option<f32> {
        match self {
            Idf::Plain(values) => values.get(column).copied(),
            Idf::Palette { palette, index } => palette.get(usize::from(*index.get(column)?)).copied(),
        }
    }
}

/// Vocabulary and idf of a classification bundle.
#[derive(Debug)]
pub struct Tfidf {
    columns: Columns,
    idf: Idf,
    l2: bool,
}

impl Tfidf {
    /// The TF-IDF section of a preprocessor checked by the bundle, its vocabulary plain or
    /// packed (`coding`), read into the compact form without expanding it first.
    pub(crate) fn new(
        spec: &proto::TfidfSpec,
        coding: Option<Coding>,
        hashed_allowed: bool,
        limits: &Limits,
    ) -> Result<Self> {
        let file = BundleFile::Preprocessor;
        if spec.sublinear_tf {
            return Err(Error::corrupt(file, "tfidf: sublinear_tf is not part of format v1"));
        }
        let l2 = match proto::Norm::try_from(spec.norm) {
            Ok(proto::Norm::L2) => true,
            Ok(proto::Norm::None) => false,
            Err(_) => return Err(Error::corrupt(file, format!("tfidf: unknown norm {}", spec.norm))),
        };
        let idf = match coding {
            None => Idf::Plain(spec.idf.clone()),
            Some(_) => match collect_exact(spec.idf_index.iter().map(|&i| u16::try_from(i).ok())) {
                Some(index) if spec.idf_palette.len() <= usize::from(u16::MAX) + 1 => Idf::Palette {
                    palette: spec.idf_palette.clone(),
                    index,
                },
                _ => Idf::Plain(
                    spec.idf_index
                        .iter()
                        .map(|&i| spec.idf_palette.get(i as usize).copied().unwrap_or(f32::NAN))
                        .collect(),
                ),
            },
        };
        // A packed vocabulary has as many terms as idf values (the bundle checked it).
        let terms_len = if coding.is_some() {
            idf.len()
        } else {
            spec.vocabulary.len()
        };
        let buckets = spec.hash_buckets;
        if buckets > 0 {
            if !hashed_allowed {
                return Err(Error::corrupt(
                    file,
                    "tfidf: hash_buckets is set but required_features does not list 'tfidf-hashed-fnv1a64'",
                ));
            }
            if !spec.vocabulary.is_empty() {
                return Err(Error::corrupt(file, "tfidf: a hashed vocabulary lists no terms"));
            }
            if idf.len() != buckets as usize {
                return Err(Error::corrupt(
                    file,
                    format!("tfidf: {buckets} hash buckets but {} idf values", idf.len()),
                ));
            }
        } else if terms_len != idf.len() {
            return Err(Error::corrupt(
                file,
                format!("tfidf: {terms_len} vocabulary terms but {} idf values", idf.len()),
            ));
        }
        if (0..idf.len()).any(|j| idf.get(j).is_none_or(|v| !v.is_finite() || v <= 0.0)) {
            return Err(Error::corrupt(file, "tfidf: idf values must be finite and positive"));
        }
        let columns = if buckets > 0 {
            Columns::Hashed(buckets)
        } else {
            u32::try_from(terms_len).map_err(|_| Error::corrupt(file, "tfidf: vocabulary too large"))?;
            Columns::Terms(match coding {
                Some(coding) => {
                    // Sized exactly in a first pass: growing by doubling would hold up to
                    // three times the vocabulary for a moment.
                    let mut size = 0usize;
                    crate::packed::for_each_packed_term(spec, coding, limits, |term| {
                        size = size.saturating_add(length_bytes(term.len()) + term.len());
                        Ok(())
                    })?;
                    let mut builder = Terms::builder(size, terms_len);
                    crate::packed::for_each_packed_term(spec, coding, limits, |term| builder.push(term))?;
                    builder.finish()
                }
                None => Self::plain_terms(&spec.vocabulary)?,
            })
        };
        Ok(Tfidf { columns, idf, l2 })
    }

    /// A plain vocabulary (column order any) in sorted blocks, with the column of each term.
    fn plain_terms(vocabulary: &[String]) -> Result<Terms> {
        let mut order: Vec<u32> = (0..vocabulary.len()).filter_map(|j| u32::try_from(j).ok()).collect();
        let term = |j: u32| vocabulary.get(j as usize).map_or(&[][..], |t| t.as_bytes());
        order.sort_unstable_by(|&a, &b| term(a).cmp(term(b)));
        if order.windows(2).any(|w| term(w[0]) == term(w[1])) {
            return Err(Error::corrupt(
                BundleFile::Preprocessor,
                "tfidf: the vocabulary holds a term twice",
            ));
        }
        let sorted = order.iter().enumerate().all(|(i, &j)| i == j as usize);
        let size = vocabulary.iter().map(|t| length_bytes(t.len()) + t.len()).sum();
        let mut builder = Terms::builder(size, vocabulary.len());
        for &j in &order {
            builder.push(vocabulary.get(j as usize).map_or("", String::as_str))?;
        }
        let mut terms = builder.finish();
        terms.columns = (!sorted).then_some(order);
        Ok(terms)
    }

    /// Number of columns.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.idf.len()
    }

    /// Column of a term, if it is in the vocabulary.
    #[inline]
    pub fn column(&self, term: &str) -> Option<u32> {
        match &self.columns {
            Columns::Terms(terms) => terms.column(term),
            // the remainder is below `buckets`, a u32
            Columns::Hashed(buckets) => u32::try_from(fnv1a64(term.as_bytes()) % u64::from(*buckets)).ok(),
        }
    }

    /// The plain vocabulary (terms in column order; none when hashed) and idf values.
    pub(crate) fn expanded(&self) -> (Vec<String>, Vec<f32>) {
        let mut vocabulary = Vec::new();
        if let Columns::Terms(terms) = &self.columns {
            vocabulary.resize(terms.len, String::new());
            terms.for_each(|column, term| {
                if let Some(slot) = vocabulary.get_mut(column as usize) {
                    term.clone_into(slot);
                }
            });
        }
        let idf = (0..self.idf.len()).map(|j| self.idf.get(j).unwrap_or(0.0)).collect();
        (vocabulary, idf)
    }

    /// The vector of counted columns (`(column, count)` pairs in any order), into a reused
    /// vector; `counts` is left sorted and merged.
    pub(crate) fn vector_into(&self, counts: &mut Vec<(u32, u32)>, out: &mut SparseVector) {
        out.indices.clear();
        out.values.clear();
        if counts.is_empty() {
            return;
        }
        counts.sort_unstable_by_key(|&(j, _)| j);
        counts.dedup_by(|next, kept| {
            let same = next.0 == kept.0;
            if same {
                kept.1 += next.1;
            }
            same
        });
        // tf x idf is exact in float64 for any u32 count: one rounding to float32 (spec section 5)
        out.values.extend(
            counts
                .iter()
                .map(|&(j, n)| (f64::from(n) * f64::from(self.idf.get(j as usize).unwrap_or(0.0))) as f32),
        );
        out.indices.extend(counts.iter().map(|&(j, _)| i64::from(j)));
        if !self.l2 {
            return;
        }
        // float64 sum of exact squares, ascending column order; then sqrt and divide.
        let mut total = 0.0f64;
        for &w in &out.values {
            let w = f64::from(w);
            total += w * w;
        }
        let norm = libm::sqrt(total); // correctly rounded, as IEEE 754 requires of every sqrt
        for w in &mut out.values {
            *w = (f64::from(*w) / norm) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fnv1a64;

    #[test]
    fn fnv1a64_matches_the_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
