//! The bundle's character table: folding and classes per code point (spec section 2).
//!
//! Folds and class runs are kept as sorted arrays searched by binary search: a table of
//! 7,400 folds then costs its entries and nothing more. The table this runtime carries for
//! `chartable-by-name` bundles is decoded at compile time into `static` arrays, so on a
//! microcontroller it stays in flash and a bundle naming it takes no RAM for it at all.

use alloc::borrow::Cow;
use alloc::format;
use alloc::vec::Vec;

use crate::error::{BundleFile, Error, Result};
use crate::exact::collect_exact;
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

/// Folding map and class runs, decoded and checked.
pub struct CharTable {
    /// Folded code points, strictly ascending.
    froms: Cow<'static, [u32]>,
    /// `targets[ends[i - 1]..ends[i]]` is what `froms[i]` folds to (from 0 for the first).
    ends: Cow<'static, [u32]>,
    targets: Cow<'static, [char]>,
    /// Run starts, strictly ascending from 0, and the class of each run.
    run_starts: Cow<'static, [u32]>,
    run_classes: Cow<'static, [CharClass]>,
    /// Code points below 128 that fold to exactly one code point, folded and classified
    /// ahead (most chat text is ASCII); `None` sends the code point down the slow path.
    ascii: [Option<(char, CharClass)>; 128],
}

/// A summary: the table's sizes, not its entries.
impl core::fmt::Debug for CharTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CharTable")
            .field("folds", &self.froms.len())
            .field("fold_targets", &self.targets.len())
            .field("class_runs", &self.run_starts.len())
            .field("builtin", &matches!(self.froms, Cow::Borrowed(_)))
            .finish()
    }
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

const fn class_of_code(code: u32) -> Option<CharClass> {
    // proto::CharClass: SEPARATOR = 0, WORD = 1, SINGLE = 2
    match code {
        0 => Some(CharClass::Separator),
        1 => Some(CharClass::Word),
        2 => Some(CharClass::Single),
        _ => None,
    }
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
        // The sum is the length of a Vec of u32, so each running end fits in a u32 too.
        let mut end = 0u32;
        let ends: Vec<u32> = lengths
            .iter()
            .map(|&n| {
                end = end.saturating_add(n);
                end
            })
            .collect();
        let targets = collect_exact(table.fold_to.iter().map(|&t| char::from_u32(t))).ok_or_else(|| {
            Error::corrupt(
                BundleFile::Preprocessor,
                "char table: a fold target is not a Unicode scalar value",
            )
        })?;
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
        let run_classes = collect_exact(
            table
                .class_of_run
                .iter()
                .map(|&c| u32::try_from(c).ok().and_then(class_of_code)),
        )
        .ok_or_else(|| Error::corrupt(BundleFile::Preprocessor, "char table: unknown character class"))?;
        // A surrogate "from" can never occur in valid text: it stays in `froms`, never found.
        Ok(Self::with_ascii(CharTable {
            froms: Cow::Owned(froms),
            ends: Cow::Owned(ends),
            targets: Cow::Owned(targets),
            run_starts: Cow::Owned(run_starts),
            run_classes: Cow::Owned(run_classes),
            ascii: [None; 128],
        }))
    }

    /// The table of a bundle's preprocessor as the bundle stores it (checked): the carried
    /// table, or the one a `chartable-by-name` bundle names, straight from flash.
    pub(crate) fn of_preprocessor(pre: &proto::Preprocessor) -> Result<Self> {
        if crate::packed::names_builtin_table(pre) {
            return Ok(Self::builtin());
        }
        match &pre.char_table {
            Some(table) => Self::decode(table),
            None => Self::decode(&proto::CharTable::default()),
        }
    }

    /// The table this runtime carries (`CARRIED_CHAR_TABLE`), from its arrays in flash.
    pub(crate) fn builtin() -> Self {
        Self::with_ascii(CharTable {
            froms: Cow::Borrowed(&builtin::FROMS),
            ends: Cow::Borrowed(&builtin::ENDS),
            targets: Cow::Borrowed(&builtin::TARGETS),
            run_starts: Cow::Borrowed(&builtin::RUN_STARTS),
            run_classes: Cow::Borrowed(&builtin::RUN_CLASSES),
            ascii: [None; 128],
        })
    }

    fn with_ascii(mut table: CharTable) -> Self {
        let mut ascii = [None; 128];
        for (code, slot) in (0u8..128).zip(ascii.iter_mut()) {
            let (mut first, mut count) = (None, 0);
            table.fold_and_classify_slow(char::from(code), |t, class| {
                first = Some((t, class));
                count += 1;
            });
            *slot = if count == 1 { first } else { None };
        }
        table.ascii = ascii;
        table
    }

    /// The class of a code point.
    pub fn class_of(&self, c: char) -> CharClass {
        let cp = c as u32;
        // run_starts is non-empty and starts at 0, so the index is at least 1.
        let index = self.run_starts.partition_point(|&start| start <= cp);
        self.run_classes
            .get(index.saturating_sub(1))
            .copied()
            .unwrap_or(CharClass::Separator)
    }

    /// Calls `f` with each folded code point of `c` and its class.
    #[inline]
    pub fn fold_and_classify(&self, c: char, mut f: impl FnMut(char, CharClass)) {
        if let Some(Some((t, class))) = self.ascii.get(c as usize) {
            f(*t, *class);
            return;
        }
        self.fold_and_classify_slow(c, f);
    }

    fn fold_and_classify_slow(&self, c: char, mut f: impl FnMut(char, CharClass)) {
        match self.froms.binary_search(&(c as u32)) {
            Ok(i) => {
                let start = match i.checked_sub(1) {
                    Some(previous) => self.ends.get(previous).copied().unwrap_or(0),
                    None => 0,
                };
                let end = self.ends.get(i).copied().unwrap_or(start);
                if let Some(targets) = self.targets.get(start as usize..end as usize) {
                    for &t in targets {
                        f(t, self.class_of(t));
                    }
                }
            }
            Err(_) => f(c, self.class_of(c)),
        }
    }
}

/// The carried table decoded by `const fn`s at compile time: a malformed table fails the build.
#[allow(clippy::indexing_slicing, clippy::panic, clippy::cast_possible_truncation)]
mod builtin {
    use super::{class_of_code, CharClass, MAX_CODE_POINT};

    const TABLE: &[u8] = crate::packed::BUILTIN_TABLES[0].1;
    const FOLD_FROM_DELTA: u32 = 2;
    const FOLD_TO_LEN: u32 = 3;
    const FOLD_TO: u32 = 4;
    const CLASS_START_DELTA: u32 = 5;
    const CLASS_OF_RUN: u32 = 6;

    /// The varint at `at` and the position after it.
    const fn varint(data: &[u8], mut at: usize) -> (u64, usize) {
        let (mut value, mut shift) = (0u64, 0);
        loop {
            let byte = data[at];
            at += 1;
            value |= ((byte & 0x7f) as u64) << shift;
            if byte < 0x80 {
                return (value, at);
            }
            shift += 7;
            if shift > 63 {
                panic!("the carried char table has an overlong varint");
            }
        }
    }

    /// Where the packed field `number` lies in the table: (start, end); (0, 0) when absent.
    const fn field(number: u32) -> (usize, usize) {
        let mut at = 0;
        let mut found = (0, 0);
        while at < TABLE.len() {
            let (key, next) = varint(TABLE, at);
            at = next;
            match key & 7 {
                0 => at = varint(TABLE, at).1,
                2 => {
                    let (length, next) = varint(TABLE, at);
                    let end = next + length as usize;
                    if (key >> 3) as u32 == number {
                        if found.1 != 0 {
                            panic!("the carried char table repeats a field");
                        }
                        found = (next, end);
                    }
                    at = end;
                }
                _ => panic!("the carried char table has an unexpected wire type"),
            }
            if key & 7 == 0 && (key >> 3) as u32 == number {
                panic!("the carried char table has an unpacked repeated field");
            }
        }
        found
    }

    const fn count(number: u32) -> usize {
        let (mut at, end) = field(number);
        let mut n = 0;
        while at < end {
            at = varint(TABLE, at).1;
            n += 1;
        }
        n
    }

    /// The field's values, delta-decoded when `delta`, summed up when `running`.
    const fn values<const N: usize>(number: u32, delta: bool, running: bool) -> [u32; N] {
        let (mut at, end) = field(number);
        let mut out = [0u32; N];
        let (mut i, mut total) = (0, 0u64);
        while at < end {
            let (value, next) = varint(TABLE, at);
            at = next;
            if delta && i > 0 && value == 0 {
                panic!("the carried char table is not strictly ascending");
            }
            total = if delta || running { total + value } else { value };
            if delta && total > MAX_CODE_POINT as u64 {
                panic!("the carried char table leaves the Unicode range");
            }
            out[i] = total as u32;
            i += 1;
        }
        out
    }

    const N_FOLDS: usize = count(FOLD_FROM_DELTA);
    const N_TARGETS: usize = count(FOLD_TO);
    const N_RUNS: usize = count(CLASS_START_DELTA);

    pub(super) static FROMS: [u32; N_FOLDS] = values(FOLD_FROM_DELTA, true, false);
    pub(super) static ENDS: [u32; N_FOLDS] = {
        let ends = values::<N_FOLDS>(FOLD_TO_LEN, false, true);
        if count(FOLD_TO_LEN) != N_FOLDS || (N_FOLDS > 0 && ends[N_FOLDS - 1] as usize != N_TARGETS) {
            panic!("the carried char table's fold lengths do not match its targets");
        }
        ends
    };
    pub(super) static TARGETS: [char; N_TARGETS] = {
        let codes = values::<N_TARGETS>(FOLD_TO, false, false);
        let mut out = ['\0'; N_TARGETS];
        let mut i = 0;
        while i < N_TARGETS {
            out[i] = match char::from_u32(codes[i]) {
                Some(c) => c,
                None => panic!("the carried char table folds to a non-scalar value"),
            };
            i += 1;
        }
        out
    };
    pub(super) static RUN_STARTS: [u32; N_RUNS] = {
        let starts = values::<N_RUNS>(CLASS_START_DELTA, true, false);
        if N_RUNS == 0 || starts[0] != 0 {
            panic!("the carried char table's class runs do not start at U+0000");
        }
        starts
    };
    pub(super) static RUN_CLASSES: [CharClass; N_RUNS] = {
        if count(CLASS_OF_RUN) != N_RUNS {
            panic!("the carried char table's runs and classes differ in length");
        }
        let codes = values::<N_RUNS>(CLASS_OF_RUN, false, false);
        let mut out = [CharClass::Separator; N_RUNS];
        let mut i = 0;
        while i < N_RUNS {
            out[i] = match class_of_code(codes[i]) {
                Some(class) => class,
                None => panic!("the carried char table has an unknown class"),
            };
            i += 1;
        }
        out
    };
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use prost::Message;

    /// The compile-time decoding of the carried table agrees with decoding it at run time.
    #[test]
    fn the_builtin_arrays_are_the_carried_table() {
        let proto = proto::CharTable::decode(crate::packed::BUILTIN_TABLES[0].1).expect("parses");
        let decoded = CharTable::decode(&proto).expect("decodes");
        let builtin = CharTable::builtin();
        assert_eq!(decoded.froms, builtin.froms);
        assert_eq!(decoded.ends, builtin.ends);
        assert_eq!(decoded.targets, builtin.targets);
        assert_eq!(decoded.run_starts, builtin.run_starts);
        assert_eq!(decoded.run_classes, builtin.run_classes);
        assert_eq!(decoded.ascii, builtin.ascii);
        assert!(builtin.froms.len() > 1000, "{builtin:?}");
    }

    #[test]
    fn folds_and_classes_are_looked_up() {
        let table = CharTable::decode(&proto::CharTable {
            fold_from_delta: alloc::vec![0x41, 1, 0xDF - 0x42],
            fold_to_len: alloc::vec![1, 0, 2],
            fold_to: alloc::vec![0x61, 0x73, 0x73],
            class_start_delta: alloc::vec![0, 0x30, 0x80 - 0x30],
            class_of_run: alloc::vec![0, 1, 2],
            ..Default::default()
        })
        .expect("decodes");
        let fold = |c| {
            let mut out = Vec::new();
            table.fold_and_classify(c, |t, class| out.push((t, class)));
            out
        };
        assert_eq!(fold('A'), [('a', CharClass::Word)]);
        assert_eq!(fold('B'), []);
        assert_eq!(fold('ß'), [('s', CharClass::Word), ('s', CharClass::Word)]);
        assert_eq!(fold('c'), [('c', CharClass::Word)]);
        assert_eq!(fold(' '), [(' ', CharClass::Separator)]);
        assert_eq!(fold('é'), [('é', CharClass::Single)]);
    }
}
