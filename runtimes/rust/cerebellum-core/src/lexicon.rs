//! Word-lexicon ids of a tagger (spec section 7, feature `tagger-lexicon`).
//!
//! A Bloom filter of words of 2 to 4 CJK ideographs; each unit's id is 1 + an 8-bit
//! pattern of the words found around it. Integer arithmetic only, so every runtime
//! finds the same words.

use alloc::vec::Vec;

use crate::error::{BundleFile, Error, Result};
use crate::proto;
use crate::tokenizer::Token;

/// The feature name of a word lexicon in a tagger.
pub const TAGGER_LEXICON: &str = "tagger-lexicon";

/// Number of lexicon ids: the patterns 0..=255, plus 1 (0 is padding).
pub(crate) const LEXICON_IDS: usize = 257;
const MAX_HASHES: u32 = 32;
/// The (begin, inside, end) bits of a word of 2, 3 and 4 units.
const BITS: [(usize, i64, i64, i64); 3] = [(2, 1, 0, 2), (3, 4, 8, 16), (4, 32, 64, 128)];
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// A tagger's Bloom filter of words.
#[derive(Clone, Debug)]
pub(crate) struct Lexicon {
    bloom: Vec<u8>,
    hashes: u32,
}

impl Lexicon {
    /// The preprocessor's lexicon, taken out of its tagger section (`lexicon`) so that its
    /// filter is held once: `None` without the feature, an error when it is set without the
    /// feature, listed without one, or malformed.
    pub(crate) fn of(pre: &proto::Preprocessor, lexicon: Option<proto::Lexicon>) -> Result<Option<Self>> {
        let file = BundleFile::Preprocessor;
        let listed = pre.required_features.iter().any(|f| f == TAGGER_LEXICON);
        match (lexicon, listed) {
            (None, false) => Ok(None),
            (Some(_), false) => Err(Error::corrupt(
                file,
                alloc::format!("lexicon is set but required_features does not list '{TAGGER_LEXICON}'"),
            )),
            (None, true) => Err(Error::corrupt(
                file,
                alloc::format!("required_features lists '{TAGGER_LEXICON}' but there is no lexicon"),
            )),
            (Some(lexicon), true) => {
                if lexicon.bloom.is_empty() || !(1..=MAX_HASHES).contains(&lexicon.hashes) {
                    return Err(Error::corrupt(
                        file,
                        alloc::format!("a lexicon needs a non-empty filter and 1 to {MAX_HASHES} hashes"),
                    ));
                }
                Ok(Some(Lexicon {
                    bloom: lexicon.bloom,
                    hashes: lexicon.hashes,
                }))
            }
        }
    }

    /// The lexicon as the preprocessor stores it.
    pub(crate) fn to_proto(&self) -> proto::Lexicon {
        proto::Lexicon {
            bloom: self.bloom.clone(),
            hashes: self.hashes,
        }
    }

    /// Whether the filter holds the word whose FNV-1a 64 hash is `h`.
    fn holds(&self, h: u64) -> bool {
        let bits = 8 * self.bloom.len() as u64;
        let (low, high) = (h & 0xffff_ffff, (h >> 32) | 1);
        // i < 32 and both halves < 2^32: no sum overflows
        (0..u64::from(self.hashes)).all(|i| {
            let b = (low + i * high) % bits;
            usize::try_from(b >> 3)
                .ok()
                .and_then(|byte| self.bloom.get(byte))
                .is_some_and(|byte| byte >> (b & 7) & 1 == 1)
        })
    }

    /// Per unit, its lexicon id: 1 + the pattern of the words found around it.
    pub(crate) fn ids_into(&self, units: &[Token], out: &mut Vec<i64>) {
        // the patterns are built in `out` (the caller's buffer, reused from call to call)
        out.clear();
        out.resize(units.len(), 0);
        let ideograph = |t: &Token| {
            let mut chars = t.text.chars();
            matches!((chars.next(), chars.next()), (Some(c), None) if ('\u{4e00}'..='\u{9fff}').contains(&c))
        };
        for &(length, begin, inside, end) in &BITS {
            for (i, window) in units.windows(length).enumerate() {
                if !window.iter().all(ideograph) {
                    continue;
                }
                let h = window
                    .iter()
                    .flat_map(|t| t.text.bytes())
                    .fold(FNV_OFFSET, |h, byte| (h ^ u64::from(byte)).wrapping_mul(FNV_PRIME));
                if !self.holds(h) {
                    continue;
                }
                for (j, pattern) in out.iter_mut().skip(i).take(length).enumerate() {
                    *pattern |= match j {
                        0 => begin,
                        _ if j + 1 == length => end,
                        _ => inside,
                    };
                }
            }
        }
        for pattern in out.iter_mut() {
            *pattern += 1;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn bloom_of(words: &[&str], bits: u64, hashes: u32) -> Lexicon {
        let mut bloom = alloc::vec![0u8; usize::try_from(bits / 8).unwrap()];
        for w in words {
            let h = w
                .bytes()
                .fold(FNV_OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(FNV_PRIME));
            let (low, high) = (h & 0xffff_ffff, (h >> 32) | 1);
            for i in 0..u64::from(hashes) {
                let b = (low + i * high) % bits;
                bloom[usize::try_from(b >> 3).unwrap()] |= 1 << (b & 7);
            }
        }
        Lexicon { bloom, hashes }
    }

    fn units(text: &str) -> Vec<Token> {
        text.chars()
            .enumerate()
            .map(|(i, c)| Token {
                text: c.to_string(),
                start: i,
                end: i + 1,
            })
            .collect()
    }

    #[test]
    fn patterns_mark_where_words_begin_continue_and_end() {
        // the same words and text as the Python runtime's test (tests/test_tagger_lexicon.py)
        let lexicon = bloom_of(&["经理", "阿尔法计划", "人民", "中国人民"], 1 << 12, 4);
        let mut ids = Vec::new();
        lexicon.ids_into(&units("中国人民银行的经理"), &mut ids);
        assert_eq!(ids, [33, 65, 66, 131, 1, 1, 1, 2, 3]);
        lexicon.ids_into(&units("人民a经理"), &mut ids);
        assert_eq!(ids, [2, 3, 1, 2, 3]);
        lexicon.ids_into(&[], &mut ids);
        assert!(ids.is_empty());
    }
}
