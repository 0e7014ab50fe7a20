//! Compact forms of a preprocessor's largest fields (spec sections 2 and 5), checked at load
//! and read in place.
//!
//! A bundle listing `chartable-by-name` names a character table the runtime carries instead of
//! carrying its 34 KB; one listing `tfidf-packed` front-codes its terms and stores each distinct
//! idf value once, and one listing `tfidf-token-trie` stores its terms as a trie of token ids (an
//! n-gram costs a byte or two instead of its text) with the same idf palette. The classifier reads
//! the terms straight from either form ([`for_each_packed_term`]) and computes the same bits as
//! from the plain fields.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use prost::Message;
use sha2::{Digest, Sha256};

use crate::bundle::hex;
use crate::error::{BundleFile, Error, Result};
use crate::limits::{self, over, Limits};
use crate::proto;

/// The feature name of a character table given by name (spec section 2).
pub const CHARTABLE_BY_NAME: &str = "chartable-by-name";
/// The feature name of a front-coded vocabulary with an idf palette (spec section 5).
pub const TFIDF_PACKED: &str = "tfidf-packed";
/// The feature name of a vocabulary stored as a trie of token ids, with an idf palette (spec section 5).
pub const TFIDF_TOKEN_TRIE: &str = "tfidf-token-trie";

/// How a preprocessor's packed vocabulary is coded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Coding {
    FrontCoded,
    TokenTrie,
}

/// Character tables this runtime carries: (id, serialized `CharTable`).
pub(crate) const BUILTIN_TABLES: &[(&str, &[u8])] = &[(
    "unicode-14.0.0/fold-v1",
    include_bytes!("../tables/unicode-14.0.0-fold-v1.chartable"),
)];

/// How a preprocessor's vocabulary is stored, from its required features; checks that at
/// most one packed coding is listed.
fn coding_of(pre: &proto::Preprocessor) -> Result<Option<Coding>> {
    let has = |name: &str| pre.required_features.iter().any(|f| f == name);
    match (has(TFIDF_PACKED), has(TFIDF_TOKEN_TRIE)) {
        (true, true) => Err(Error::corrupt(
            BundleFile::Preprocessor,
            format!("tfidf: required_features lists both '{TFIDF_PACKED}' and '{TFIDF_TOKEN_TRIE}'"),
        )),
        (true, false) => Ok(Some(Coding::FrontCoded)),
        (false, true) => Ok(Some(Coding::TokenTrie)),
        (false, false) => Ok(None),
    }
}

fn by_name(pre: &proto::Preprocessor) -> bool {
    pre.required_features.iter().any(|f| f == CHARTABLE_BY_NAME)
}

/// Check the compact fields of `pre` without expanding them: a bundle keeps its compact
/// form, and a classifier reads its vocabulary straight from it.
pub(crate) fn check(pre: &proto::Preprocessor, limits: &Limits) -> Result<()> {
    let file = BundleFile::Preprocessor;
    let coding = coding_of(pre)?;
    if let Some(table) = pre.char_table.as_ref() {
        check_char_table(table, by_name(pre), file)?;
    } else if by_name(pre) {
        return Err(Error::corrupt(
            file,
            "char table: required_features names a table but none is given",
        ));
    }
    if let Some(tfidf) = pre.tfidf.as_ref() {
        check_tfidf(tfidf, coding, file)?;
        if let Some(coding) = coding {
            if tfidf.hash_buckets == 0 {
                for_each_packed_term(tfidf, coding, limits, |_| Ok(()))?;
            }
        }
    }
    Ok(())
}

/// The built-in character table a checked preprocessor names, if it names one.
pub(crate) fn names_builtin_table(pre: &proto::Preprocessor) -> bool {
    by_name(pre) && pre.char_table.is_some()
}

/// The character table this runtime carries, as its message.
pub(crate) fn builtin_table_message() -> Result<proto::CharTable> {
    proto::CharTable::decode(BUILTIN_TABLES[0].1).map_err(|e| {
        Error::corrupt(
            BundleFile::Preprocessor,
            format!("the runtime's character table does not parse: {e}"),
        )
    })
}

/// The vocabulary coding of a checked preprocessor.
pub(crate) fn vocabulary_coding(pre: &proto::Preprocessor) -> Result<Option<Coding>> {
    coding_of(pre)
}

fn check_char_table(table: &proto::CharTable, by_name: bool, file: BundleFile) -> Result<()> {
    if !by_name {
        if !table.sha256.is_empty() {
            return Err(Error::corrupt(
                file,
                format!("char table: sha256 is set but required_features does not list '{CHARTABLE_BY_NAME}'"),
            ));
        }
        return Ok(());
    }
    if !(table.fold_from_delta.is_empty()
        && table.fold_to_len.is_empty()
        && table.fold_to.is_empty()
        && table.class_start_delta.is_empty()
        && table.class_of_run.is_empty())
    {
        return Err(Error::corrupt(
            file,
            "char table: a table given by name carries no entries",
        ));
    }
    let shown: String = table.id.chars().take(80).collect();
    let Some((_, data)) = BUILTIN_TABLES.iter().find(|(id, _)| *id == table.id) else {
        let carried: Vec<&str> = BUILTIN_TABLES.iter().map(|(id, _)| *id).collect();
        return Err(Error::Unsupported {
            file,
            problem: format!(
                "bundle names character table {shown:?}, which this runtime does not carry (it carries {}); \
                 upgrade the runtime",
                carried.join(", ")
            ),
        });
    };
    let digest = Sha256::digest(data);
    if digest.as_slice() != table.sha256.as_slice() {
        return Err(Error::Unsupported {
            file,
            problem: format!(
                "bundle names character table {shown:?} with SHA-256 {}, but this runtime's table of that name \
                 hashes to {}",
                hex(&table.sha256),
                hex(&digest)
            ),
        });
    }
    Ok(())
}

/// The field checks of a packed tfidf section, before its terms are read.
fn check_tfidf(spec: &proto::TfidfSpec, coding: Option<Coding>, file: BundleFile) -> Result<()> {
    if coding.is_none() {
        if !(spec.packed_vocabulary.is_empty() && spec.idf_palette.is_empty() && spec.idf_index.is_empty()) {
            return Err(Error::corrupt(
                file,
                format!(
                    "tfidf: packed fields are set but required_features does not list '{TFIDF_PACKED}' or \
                     '{TFIDF_TOKEN_TRIE}'"
                ),
            ));
        }
        return Ok(());
    }
    if !(spec.vocabulary.is_empty() && spec.idf.is_empty()) {
        return Err(Error::corrupt(
            file,
            "tfidf: a packed vocabulary leaves vocabulary and idf empty",
        ));
    }
    let palette = spec.idf_palette.len();
    if spec.idf_index.iter().any(|&i| i as usize >= palette) {
        return Err(Error::corrupt(
            file,
            format!("tfidf: an idf_index entry is beyond the {palette} palette values"),
        ));
    }
    if spec.hash_buckets > 0 && !spec.packed_vocabulary.is_empty() {
        return Err(Error::corrupt(file, "tfidf: a hashed vocabulary lists no terms"));
    }
    Ok(())
}

/// Calls `f` with each term of a packed vocabulary (not hashed), in column order: as many
/// as `idf_index` counts, strictly ascending by UTF-8 bytes.
pub(crate) fn for_each_packed_term(
    spec: &proto::TfidfSpec,
    coding: Coding,
    limits: &Limits,
    f: impl FnMut(&str) -> Result<()>,
) -> Result<()> {
    let file = BundleFile::Preprocessor;
    let (data, count) = (spec.packed_vocabulary.as_slice(), spec.idf_index.len());
    match coding {
        Coding::FrontCoded => unpack_terms(data, count, file, limits, f),
        Coding::TokenTrie => unpack_trie(data, count, file, limits, f),
    }
}

/// `count` front-coded terms; each must sort strictly after the previous one by UTF-8 bytes.
fn unpack_terms(
    data: &[u8],
    count: usize,
    file: BundleFile,
    limits: &Limits,
    f: impl FnMut(&str) -> Result<()>,
) -> Result<()> {
    let mut at = 0;
    front_coded(data, &mut at, count, file, limits, f)?;
    if at != data.len() {
        return Err(Error::corrupt(
            file,
            format!("tfidf: packed vocabulary holds more than the {count} terms idf_index counts"),
        ));
    }
    Ok(())
}

/// An open trie node while reading: children still to read, the last child's token id, and
/// the length of the term text up to the node.
struct Open {
    children: usize,
    last: Option<usize>,
    prefix: usize,
}

/// `count` terms stored as a trie of token ids, in column (pre-)order; see spec section 5.
fn unpack_trie(
    data: &[u8],
    count: usize,
    file: BundleFile,
    limits: &Limits,
    mut f: impl FnMut(&str) -> Result<()>,
) -> Result<()> {
    let mut at = 0;
    let depth = varint(data, &mut at, file)?;
    if depth < 1 {
        return Err(Error::corrupt(
            file,
            "tfidf: a token trie must allow terms of at least one token",
        ));
    }
    let token_count = varint(data, &mut at, file)?;
    // The tokens in one arena: `text[ends[i - 1]..ends[i]]` is token i.
    // Sized exactly in a first pass: growing by doubling would hold up to three times the tokens.
    let mut size = 0usize;
    front_coded(data, &mut at.clone(), token_count, file, limits, |token| {
        size = size.saturating_add(token.len());
        Ok(())
    })?;
    let mut text = String::with_capacity(size);
    let mut ends: Vec<usize> = Vec::with_capacity(token_count);
    let mut malformed = false;
    front_coded(data, &mut at, token_count, file, limits, |token| {
        malformed |= token.is_empty() || token.contains(' ');
        text.push_str(token);
        ends.push(text.len());
        Ok(())
    })?;
    if malformed {
        return Err(Error::corrupt(file, "tfidf: a trie token is empty or holds a space"));
    }
    let token = |i: usize| -> Option<&str> {
        let start = match i.checked_sub(1) {
            Some(previous) => *ends.get(previous)?,
            None => 0,
        };
        text.get(start..*ends.get(i)?)
    };
    let mut expanded = text.len();
    let header = varint(data, &mut at, file)?;
    if header & 1 == 1 {
        return Err(Error::corrupt(file, "tfidf: the root of a token trie is not a term"));
    }
    let mut terms = 0usize;
    // The term from the root to the node being read, and its previous term for the order check.
    let mut term = String::new();
    let mut previous: Vec<u8> = Vec::new();
    let mut pending = vec![Open {
        children: header >> 1,
        last: None,
        prefix: 0,
    }];
    while let Some(node) = pending.last_mut() {
        if node.children == 0 {
            pending.pop();
            continue;
        }
        node.children -= 1;
        let gap = varint(data, &mut at, file)?;
        let id = match node.last {
            None => Some(gap),
            Some(last) => last.checked_add(gap).and_then(|v| v.checked_add(1)),
        };
        let Some(piece) = id.and_then(token) else {
            return Err(Error::corrupt(
                file,
                format!("tfidf: a trie node names a token beyond the {token_count} listed"),
            ));
        };
        node.last = id;
        term.truncate(node.prefix);
        if !term.is_empty() {
            term.push(' ');
        }
        term.push_str(piece);
        let depth_here = pending.len();
        let (is_term, children) = if depth_here == depth {
            (true, 0)
        } else {
            let header = varint(data, &mut at, file)?;
            if header == 0 {
                return Err(Error::corrupt(
                    file,
                    "tfidf: a trie node is neither a term nor has children",
                ));
            }
            (header & 1 == 1, header >> 1)
        };
        if is_term {
            if terms == count {
                return Err(Error::corrupt(
                    file,
                    format!("tfidf: packed vocabulary holds more than the {count} terms idf_index counts"),
                ));
            }
            if terms > 0 && term.as_bytes() <= previous.as_slice() {
                return Err(Error::corrupt(
                    file,
                    "tfidf: packed terms are not in strictly ascending byte order",
                ));
            }
            expanded = expanded.saturating_add(term.len());
            bound(expanded, file, limits)?;
            f(&term)?;
            previous.clear();
            previous.extend_from_slice(term.as_bytes());
            terms += 1;
        }
        if children > 0 {
            let prefix = term.len();
            pending.push(Open {
                children,
                last: None,
                prefix,
            });
        }
    }
    if at != data.len() {
        return Err(Error::corrupt(
            file,
            "tfidf: packed vocabulary has data after its last trie node",
        ));
    }
    if terms != count {
        return Err(Error::corrupt(
            file,
            format!("tfidf: packed vocabulary holds {terms} terms, idf_index counts {count}"),
        ));
    }
    Ok(())
}

/// `count` front-coded UTF-8 strings from `at`, strictly ascending by bytes, each passed to
/// `f`; `at` moves past them.
fn front_coded(
    data: &[u8],
    at: &mut usize,
    count: usize,
    file: BundleFile,
    limits: &Limits,
    mut f: impl FnMut(&str) -> Result<()>,
) -> Result<()> {
    let truncated = || Error::corrupt(file, "tfidf: packed vocabulary is truncated");
    let mut term: Vec<u8> = Vec::new();
    let mut expanded = 0usize;
    for i in 0..count {
        let shared = varint(data, at, file)?;
        let length = varint(data, at, file)?;
        if shared > term.len() {
            return Err(Error::corrupt(
                file,
                "tfidf: a packed term shares more bytes than the previous term has",
            ));
        }
        let end = at
            .checked_add(length)
            .filter(|&e| e <= data.len())
            .ok_or_else(truncated)?;
        let suffix = data.get(*at..end).ok_or_else(truncated)?;
        *at = end;
        // Ascending: the new term is greater than the previous one exactly when its suffix
        // is greater than the previous term's bytes after the shared prefix.
        let ascending = i == 0 || suffix > &term[shared..];
        term.truncate(shared);
        term.extend_from_slice(suffix);
        expanded = expanded.saturating_add(term.len());
        bound(expanded, file, limits)?;
        if !ascending {
            return Err(Error::corrupt(
                file,
                "tfidf: packed terms are not in strictly ascending byte order",
            ));
        }
        let text =
            core::str::from_utf8(&term).map_err(|_| Error::corrupt(file, "tfidf: a packed term is not valid UTF-8"))?;
        f(text)?;
    }
    Ok(())
}

/// A packed list can state terms far longer than itself: bound what it expands to.
fn bound(expanded: usize, file: BundleFile, limits: &Limits) -> Result<()> {
    if expanded > limits.max_preprocessor_bytes {
        return Err(over(
            file,
            "packed vocabulary",
            format!("more than {} bytes expanded", limits.max_preprocessor_bytes),
            "max_preprocessor_bytes",
        ));
    }
    Ok(())
}

/// A uint32 varint at `at`: at most 5 bytes and below 2^32.
fn varint(data: &[u8], at: &mut usize, file: BundleFile) -> Result<usize> {
    match data.get(*at..).map(limits::varint) {
        Some(Ok((value, used))) if used <= 5 && value < 1 << 32 => {
            *at += used;
            usize::try_from(value).map_err(|_| Error::corrupt(file, "tfidf: packed length too large"))
        }
        _ => Err(Error::corrupt(
            file,
            "tfidf: packed vocabulary has a truncated or overlong varint",
        )),
    }
}

/// The carried character table a bundle names (`chartable-by-name`), put in place of the
/// name: what `preprocessor_bytes` shows of a compact bundle.
pub(crate) fn expand_builtin_table(preprocessor: &mut proto::Preprocessor) {
    if names_builtin_table(preprocessor) {
        if let (Some(table), Ok(builtin)) = (preprocessor.char_table.as_mut(), builtin_table_message()) {
            *table = builtin;
        }
    }
}
