//! Compact forms of a preprocessor's largest fields, expanded at load (spec sections 2 and 5).
//!
//! A bundle listing `chartable-by-name` names a character table the runtime carries instead of
//! carrying its 34 KB; one listing `tfidf-packed` front-codes its terms and stores each distinct
//! idf value once, and one listing `tfidf-token-trie` stores its terms as a trie of token ids (an
//! n-gram costs a byte or two instead of its text) with the same idf palette. [`expand`] turns both into the plain fields, so everything after loading sees
//! one form and computes the same bits.

use alloc::borrow::ToOwned;
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
#[derive(Clone, Copy, PartialEq, Eq)]
enum Coding {
    FrontCoded,
    TokenTrie,
}

/// Character tables this runtime carries: (id, serialized `CharTable`).
pub(crate) const BUILTIN_TABLES: &[(&str, &[u8])] = &[(
    "unicode-14.0.0/fold-v1",
    include_bytes!("../tables/unicode-14.0.0-fold-v1.chartable"),
)];

/// Replace the compact fields of `pre` by the plain ones they stand for.
pub(crate) fn expand(pre: &mut proto::Preprocessor, limits: &Limits) -> Result<()> {
    let file = BundleFile::Preprocessor;
    let has = |name: &str| pre.required_features.iter().any(|f| f == name);
    let by_name = has(CHARTABLE_BY_NAME);
    let coding = match (has(TFIDF_PACKED), has(TFIDF_TOKEN_TRIE)) {
        (true, true) => {
            return Err(Error::corrupt(
                file,
                format!("tfidf: required_features lists both '{TFIDF_PACKED}' and '{TFIDF_TOKEN_TRIE}'"),
            ))
        }
        (true, false) => Some(Coding::FrontCoded),
        (false, true) => Some(Coding::TokenTrie),
        (false, false) => None,
    };
    if let Some(table) = pre.char_table.as_mut() {
        expand_char_table(table, by_name, file)?;
    } else if by_name {
        return Err(Error::corrupt(
            file,
            "char table: required_features names a table but none is given",
        ));
    }
    if let Some(tfidf) = pre.tfidf.as_mut() {
        expand_tfidf(tfidf, coding, file, limits)?;
    }
    Ok(())
}

fn expand_char_table(table: &mut proto::CharTable, by_name: bool, file: BundleFile) -> Result<()> {
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
    *table = proto::CharTable::decode(*data)
        .map_err(|e| Error::corrupt(file, format!("the runtime's character table does not parse: {e}")))?;
    Ok(())
}

fn expand_tfidf(spec: &mut proto::TfidfSpec, coding: Option<Coding>, file: BundleFile, limits: &Limits) -> Result<()> {
    let Some(coding) = coding else {
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
    };
    if !(spec.vocabulary.is_empty() && spec.idf.is_empty()) {
        return Err(Error::corrupt(
            file,
            "tfidf: a packed vocabulary leaves vocabulary and idf empty",
        ));
    }
    let palette = core::mem::take(&mut spec.idf_palette);
    let index = core::mem::take(&mut spec.idf_index);
    let mut idf = Vec::with_capacity(index.len());
    for &i in &index {
        let value = palette.get(i as usize).ok_or_else(|| {
            Error::corrupt(
                file,
                format!(
                    "tfidf: an idf_index entry is beyond the {} palette values",
                    palette.len()
                ),
            )
        })?;
        idf.push(*value);
    }
    let data = core::mem::take(&mut spec.packed_vocabulary);
    if spec.hash_buckets > 0 {
        if !data.is_empty() {
            return Err(Error::corrupt(file, "tfidf: a hashed vocabulary lists no terms"));
        }
    } else {
        spec.vocabulary = match coding {
            Coding::FrontCoded => unpack_terms(&data, index.len(), file, limits)?,
            Coding::TokenTrie => unpack_trie(&data, index.len(), file, limits)?,
        };
    }
    spec.idf = idf;
    Ok(())
}

/// `count` front-coded terms; each must sort strictly after the previous one by UTF-8 bytes.
fn unpack_terms(data: &[u8], count: usize, file: BundleFile, limits: &Limits) -> Result<Vec<String>> {
    let mut at = 0;
    let terms = front_coded(data, &mut at, count, file, limits)?;
    if at != data.len() {
        return Err(Error::corrupt(
            file,
            format!("tfidf: packed vocabulary holds more than the {count} terms idf_index counts"),
        ));
    }
    Ok(terms)
}

/// An open trie node while reading: children still to read, and the last child's token id.
struct Open {
    children: usize,
    last: Option<usize>,
}

/// `count` terms stored as a trie of token ids, in column (pre-)order; see spec section 5.
fn unpack_trie(data: &[u8], count: usize, file: BundleFile, limits: &Limits) -> Result<Vec<String>> {
    let mut at = 0;
    let depth = varint(data, &mut at, file)?;
    if depth < 1 {
        return Err(Error::corrupt(
            file,
            "tfidf: a token trie must allow terms of at least one token",
        ));
    }
    let token_count = varint(data, &mut at, file)?;
    let tokens = front_coded(data, &mut at, token_count, file, limits)?;
    if tokens.iter().any(|t| t.is_empty() || t.contains(' ')) {
        return Err(Error::corrupt(file, "tfidf: a trie token is empty or holds a space"));
    }
    let mut expanded = tokens.iter().map(String::len).sum::<usize>();
    let header = varint(data, &mut at, file)?;
    if header & 1 == 1 {
        return Err(Error::corrupt(file, "tfidf: the root of a token trie is not a term"));
    }
    let mut terms: Vec<String> = Vec::with_capacity(count);
    // The tokens from the root to the node being read; one open node per level, the root first.
    let mut trail: Vec<&str> = Vec::new();
    let mut pending = vec![Open {
        children: header >> 1,
        last: None,
    }];
    while let Some(node) = pending.last_mut() {
        if node.children == 0 {
            pending.pop();
            trail.pop();
            continue;
        }
        node.children -= 1;
        let gap = varint(data, &mut at, file)?;
        let id = match node.last {
            None => Some(gap),
            Some(last) => last.checked_add(gap).and_then(|v| v.checked_add(1)),
        };
        let Some(token) = id.and_then(|i| tokens.get(i)) else {
            return Err(Error::corrupt(
                file,
                format!("tfidf: a trie node names a token beyond the {token_count} listed"),
            ));
        };
        node.last = id;
        trail.push(token);
        let (is_term, children) = if trail.len() == depth {
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
            let term = trail.join(" ");
            if terms.len() == count {
                return Err(Error::corrupt(
                    file,
                    format!("tfidf: packed vocabulary holds more than the {count} terms idf_index counts"),
                ));
            }
            if terms
                .last()
                .is_some_and(|previous| term.as_bytes() <= previous.as_bytes())
            {
                return Err(Error::corrupt(
                    file,
                    "tfidf: packed terms are not in strictly ascending byte order",
                ));
            }
            expanded = expanded.saturating_add(term.len());
            bound(expanded, file, limits)?;
            terms.push(term);
        }
        if children > 0 {
            pending.push(Open { children, last: None });
        } else {
            trail.pop();
        }
    }
    if at != data.len() {
        return Err(Error::corrupt(
            file,
            "tfidf: packed vocabulary has data after its last trie node",
        ));
    }
    if terms.len() != count {
        return Err(Error::corrupt(
            file,
            format!(
                "tfidf: packed vocabulary holds {} terms, idf_index counts {count}",
                terms.len()
            ),
        ));
    }
    Ok(terms)
}

/// `count` front-coded UTF-8 strings from `at`, strictly ascending by bytes; `at` moves past them.
fn front_coded(data: &[u8], at: &mut usize, count: usize, file: BundleFile, limits: &Limits) -> Result<Vec<String>> {
    let truncated = || Error::corrupt(file, "tfidf: packed vocabulary is truncated");
    // `count` comes from the data: reserve no more than the data could hold (two bytes per string).
    let mut terms: Vec<String> = Vec::with_capacity(count.min(data.len() / 2));
    let mut previous: Vec<u8> = Vec::new();
    let mut expanded = 0usize;
    for _ in 0..count {
        let shared = varint(data, at, file)?;
        let length = varint(data, at, file)?;
        if shared > previous.len() {
            return Err(Error::corrupt(
                file,
                "tfidf: a packed term shares more bytes than the previous term has",
            ));
        }
        let end = at
            .checked_add(length)
            .filter(|&e| e <= data.len())
            .ok_or_else(truncated)?;
        let mut term = previous.get(..shared).ok_or_else(truncated)?.to_vec();
        term.extend_from_slice(data.get(*at..end).ok_or_else(truncated)?);
        *at = end;
        expanded = expanded.saturating_add(term.len());
        bound(expanded, file, limits)?;
        if !terms.is_empty() && term <= previous {
            return Err(Error::corrupt(
                file,
                "tfidf: packed terms are not in strictly ascending byte order",
            ));
        }
        let text =
            core::str::from_utf8(&term).map_err(|_| Error::corrupt(file, "tfidf: a packed term is not valid UTF-8"))?;
        terms.push(text.to_owned());
        previous = term;
    }
    Ok(terms)
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
