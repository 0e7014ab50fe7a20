//! The bundle's character table: folding and classes per code point (spec section 2).

use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;

use crate::error::{BundleFile, Error, Result};
use crate::proto;

/// Class of a folded code point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CharClass {
    /// Dropped; ends the current word.
    Separator,
    /// Joins neighbouring word characters into one token.
    Word,
    /// Always a token of its own.
    Single,
}

const MAX_CODE_POINT: u32 = 0x10FFFF;

type FoldMap = hashbrown::HashMap<char, Box<[char]>, core::hash::BuildHasherDefault<crate::tfidf::Fnv>>;

/// Folding map and class runs, decoded and checked.
#[derive(Debug)]
pub struct CharTable {
    fold: FoldMap,
    run_starts: Vec<u32>,
    run_classes: Vec<CharClass>,
    /// Code points below 128, folded and classified ahead: most chat text is ASCII.
    ascii: Vec<Box<[(char, CharClass)]>>,
}

fn undelta(deltas: &[u32], field: &str) -> Result<Vec<u32>> {
    let mut out = Vec::with_capacity(deltas.len());
    let mut total: u32 = 0;
    for (i, &d) in deltas.iter().enumerate() {
        if i > 0 && d == 0 {
            return Err(Error::corrupt(
                BundleFile::Preprocessor,
                format!("char table: {field} is not strictly ascending"),
            ));
        }
        total = total.checked_add(d).filter(|&t| t <= MAX_CODE_POINT).ok_or_else(|| {
            Error::corrupt(
                BundleFile::Preprocessor,
                format!("char table: {field} leaves the Unicode range"),
            )
        })?;
        out.push(total);
    }
    Ok(out)
}

impl CharTable {
    /// Decode and check the table of a preprocessor (errors name `preprocessor.bin`).
    #[doc(hidden)]
    pub fn decode(table: &proto::CharTable) -> Result<Self> {
        let froms = undelta(&table.fold_from_delta, "fold_from_delta")?;
        let lengths = &table.fold_to_len;
        let total: u64 = lengths.iter().map(|&n| u64::from(n)).sum();
        if lengths.len() != froms.len() || total != table.fold_to.len() as u64 {
            return Err(Error::corrupt(
                BundleFile::Preprocessor,
                "char table: fold lengths do not match the fold targets",
            ));
        }
        let mut fold = FoldMap::with_capacity_and_hasher(froms.len(), Default::default());
        let mut pos = 0usize;
        for (&from, &n) in froms.iter().zip(lengths) {
            let n = n as usize;
            let targets = table.fold_to[pos..pos + n]
                .iter()
                .map(|&t| char::from_u32(t))
                .collect::<Option<Box<[char]>>>()
                .ok_or_else(|| {
                    Error::corrupt(
                        BundleFile::Preprocessor,
                        "char table: a fold target is not a Unicode scalar value",
                    )
                })?;
            pos += n;
            // A surrogate "from" can never occur in valid text; ignore it rather than fail.
            if let Some(c) = char::from_u32(from) {
                fold.insert(c, targets);
            }
        }
        let run_starts = undelta(&table.class_start_delta, "class_start_delta")?;
        if run_starts.first() != Some(&0) {
            return Err(Error::corrupt(
                BundleFile::Preprocessor,
                "char table: class runs must start at U+0000",
            ));
        }
        if table.class_of_run.len() != run_starts.len() {
            return Err(Error::corrupt(
                BundleFile::Preprocessor,
                "char table: class runs and classes differ in length",
            ));
        }
        let run_classes = table
            .class_of_run
            .iter()
            .map(|&c| match proto::CharClass::try_from(c) {
                Ok(proto::CharClass::Separator) => Some(CharClass::Separator),
                Ok(proto::CharClass::Word) => Some(CharClass::Word),
                Ok(proto::CharClass::Single) => Some(CharClass::Single),
                Err(_) => None,
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Error::corrupt(BundleFile::Preprocessor, "char table: unknown character class"))?;
        let mut table = CharTable {
            fold,
            run_starts,
            run_classes,
            ascii: Vec::new(),
        };
        table.ascii = ('\0'..='\x7f')
            .map(|c| {
                let mut folded = Vec::new();
                table.fold_and_classify_slow(c, |t, class| folded.push((t, class)));
                folded.into_boxed_slice()
            })
            .collect();
        Ok(table)
    }

    /// The class of a code point.
    pub fn class_of(&self, c: char) -> CharClass {
        let cp = c as u32;
        // run_starts is non-empty and starts at 0, so the index is at least 1.
        let index = self.run_starts.partition_point(|&start| start <= cp);
        self.run_classes[index.saturating_sub(1)]
    }

    /// Calls `f` with each folded code point of `c` and its class.
    #[inline]
    pub fn fold_and_classify(&self, c: char, mut f: impl FnMut(char, CharClass)) {
        if let Some(folded) = self.ascii.get(c as usize) {
            for &(t, class) in folded.iter() {
                f(t, class);
            }
            return;
        }
        self.fold_and_classify_slow(c, f);
    }

    fn fold_and_classify_slow(&self, c: char, mut f: impl FnMut(char, CharClass)) {
        match self.fold.get(&c) {
            Some(targets) => {
                for &t in targets.iter() {
                    f(t, self.class_of(t));
                }
            }
            None => f(c, self.class_of(c)),
        }
    }
}
