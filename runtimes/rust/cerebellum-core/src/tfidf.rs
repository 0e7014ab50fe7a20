//! TF-IDF vectors with the arithmetic pinned by spec section 5.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{BundleFile, Error, Result};
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

/// FNV-1a, 64 bits: the hash of a hashed vocabulary (spec section 5).
pub(crate) fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in data {
        h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// FNV-1a as a `Hasher`: terms are short, and SipHash's flood resistance buys nothing for a
/// read-only table built from the bundle.
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl core::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for &byte in bytes {
            h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type TermMap = hashbrown::HashMap<String, u32, core::hash::BuildHasherDefault<Fnv>>;

#[derive(Debug)]
enum Columns {
    Terms(TermMap),
    Hashed(u32),
}

/// Vocabulary and idf of a classification bundle.
#[derive(Debug)]
pub struct Tfidf {
    columns: Columns,
    idf: Vec<f32>,
    l2: bool,
}

impl Tfidf {
    pub(crate) fn new(spec: &proto::TfidfSpec, hashed_allowed: bool) -> Result<Self> {
        let file = BundleFile::Preprocessor;
        if spec.sublinear_tf {
            return Err(Error::corrupt(file, "tfidf: sublinear_tf is not part of format v1"));
        }
        let l2 = match proto::Norm::try_from(spec.norm) {
            Ok(proto::Norm::L2) => true,
            Ok(proto::Norm::None) => false,
            Err(_) => return Err(Error::corrupt(file, format!("tfidf: unknown norm {}", spec.norm))),
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
            if spec.idf.len() != buckets as usize {
                return Err(Error::corrupt(
                    file,
                    format!("tfidf: {buckets} hash buckets but {} idf values", spec.idf.len()),
                ));
            }
        } else if spec.vocabulary.len() != spec.idf.len() {
            return Err(Error::corrupt(
                file,
                format!(
                    "tfidf: {} vocabulary terms but {} idf values",
                    spec.vocabulary.len(),
                    spec.idf.len()
                ),
            ));
        }
        if spec.idf.iter().any(|v| !v.is_finite() || *v <= 0.0) {
            return Err(Error::corrupt(file, "tfidf: idf values must be finite and positive"));
        }
        let columns = if buckets > 0 {
            Columns::Hashed(buckets)
        } else {
            let columns_len = u32::try_from(spec.vocabulary.len())
                .map_err(|_| Error::corrupt(file, "tfidf: vocabulary too large"))?;
            let mut columns = TermMap::with_capacity_and_hasher(spec.vocabulary.len(), Default::default());
            for (j, term) in (0..columns_len).zip(&spec.vocabulary) {
                if columns.insert(term.clone(), j).is_some() {
                    return Err(Error::corrupt(file, "tfidf: the vocabulary holds a term twice"));
                }
            }
            Columns::Terms(columns)
        };
        Ok(Tfidf {
            columns,
            idf: spec.idf.clone(),
            l2,
        })
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
            Columns::Terms(columns) => columns.get(term).copied(),
            // the remainder is below `buckets`, a u32
            Columns::Hashed(buckets) => u32::try_from(fnv1a64(term.as_bytes()) % u64::from(*buckets)).ok(),
        }
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
                .map(|&(j, n)| (f64::from(n) * f64::from(self.idf.get(j as usize).copied().unwrap_or(0.0))) as f32),
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
