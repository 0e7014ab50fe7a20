//! Character bigram ids of a tagger (spec section 7, feature `tagger-char-bigrams`).

use alloc::vec::Vec;

use crate::error::{BundleFile, Error, Result};
use crate::proto;

/// The feature name of character bigrams in a tagger.
pub const TAGGER_CHAR_BIGRAMS: &str = "tagger-char-bigrams";

/// The id standing for the start (as a first unit) and the end (as a second) of the text.
const BOUNDARY: i64 = 0;
const UNKNOWN_BIGRAM: i64 = 1;
const FIRST_BIGRAM: i64 = 2;

/// A tagger's bigram keys: `first * 2^32 + second`, strictly ascending.
#[derive(Clone, Debug)]
pub(crate) struct BigramIndex {
    keys: Vec<u64>,
}

impl BigramIndex {
    /// The preprocessor's bigrams: `None` without the feature, an error when the keys are
    /// set without it or are not strictly ascending.
    pub(crate) fn of(pre: &proto::Preprocessor, spec: &proto::TaggerSpec) -> Result<Option<Self>> {
        let file = BundleFile::Preprocessor;
        let listed = pre.required_features.iter().any(|f| f == TAGGER_CHAR_BIGRAMS);
        if !listed {
            if !spec.bigram_keys.is_empty() {
                return Err(Error::corrupt(
                    file,
                    alloc::format!("bigram_keys are set but required_features does not list '{TAGGER_CHAR_BIGRAMS}'"),
                ));
            }
            return Ok(None);
        }
        if spec.bigram_keys.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::corrupt(file, "tagger bigram_keys must be strictly ascending"));
        }
        Ok(Some(BigramIndex {
            keys: spec.bigram_keys.clone(),
        }))
    }

    /// Number of bigram ids (keys plus the padding and unknown ids).
    pub(crate) fn len(&self) -> usize {
        self.keys.len() + 2
    }

    fn id(&self, first: i64, second: i64) -> i64 {
        let key = match (u64::try_from(first), u64::try_from(second)) {
            (Ok(a), Ok(b)) if a < 1 << 32 && b < 1 << 32 => (a << 32) | b,
            _ => return UNKNOWN_BIGRAM,
        };
        match self.keys.binary_search(&key) {
            Ok(i) => i64::try_from(i).map_or(UNKNOWN_BIGRAM, |i| FIRST_BIGRAM + i),
            Err(_) => UNKNOWN_BIGRAM,
        }
    }

    /// Per unit of `ids`, the id of the bigram that ends at it and of the one that starts at it.
    pub(crate) fn ids_into(&self, ids: &[i64], before: &mut Vec<i64>, after: &mut Vec<i64>) {
        before.clear();
        after.clear();
        let unit = |t: usize| ids.get(t).copied().unwrap_or(BOUNDARY);
        for t in 0..ids.len() {
            let previous = if t == 0 { BOUNDARY } else { unit(t - 1) };
            before.push(self.id(previous, unit(t)));
            after.push(self.id(unit(t), unit(t + 1)));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bigram_ids_read_the_pairs_around_each_unit() {
        let key = |a: u64, b: u64| (a << 32) | b;
        let mut keys = alloc::vec![key(0, 5), key(5, 6), key(6, 0)];
        keys.sort_unstable();
        let index = BigramIndex { keys: keys.clone() };
        let id_of = |k: u64| 2 + keys.iter().position(|&x| x == k).unwrap() as i64;
        let (mut before, mut after) = (Vec::new(), Vec::new());
        index.ids_into(&[5, 6], &mut before, &mut after);
        assert_eq!(before, [id_of(key(0, 5)), id_of(key(5, 6))]);
        assert_eq!(after, [id_of(key(5, 6)), id_of(key(6, 0))]);
        index.ids_into(&[6, 5, 1], &mut before, &mut after);
        assert_eq!((before.as_slice(), after.as_slice()), (&[1, 1, 1][..], &[1, 1, 1][..]));
        index.ids_into(&[], &mut before, &mut after);
        assert!(before.is_empty() && after.is_empty());
    }
}
