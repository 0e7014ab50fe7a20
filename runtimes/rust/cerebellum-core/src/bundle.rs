//! Reads and checks bundle files: envelope, version, checksums (spec section 1).

use alloc::borrow::{Cow, ToOwned};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use prost::Message;
use sha2::{Digest, Sha256};

use crate::error::{BundleFile, Error, Result};
use crate::limits::{self, Limits};
use crate::proto;

/// The format version this runtime reads.
pub const FORMAT_VERSION: u32 = 1;
/// The feature name of a hashed TF-IDF vocabulary (spec section 5).
pub const HASHED_VOCABULARY: &str = "tfidf-hashed-fnv1a64";
/// Capabilities beyond format v1's base that this runtime implements (spec section 1, "Format evolution").
pub const FEATURES: &[&str] = &[
    HASHED_VOCABULARY,
    crate::packed::CHARTABLE_BY_NAME,
    crate::packed::TFIDF_PACKED,
    crate::packed::TFIDF_TOKEN_TRIE,
    crate::defer::DEFER_RULE,
    crate::bigrams::TAGGER_CHAR_BIGRAMS,
    crate::lexicon::TAGGER_LEXICON,
];
/// Magic string of `preprocessor.bin`.
pub const MAGIC: &str = "cerebellum.preprocessor";
/// File names inside a bundle directory.
pub const MODEL_FILE: &str = "model.onnx";
/// See [`MODEL_FILE`].
pub const PREPROCESSOR_FILE: &str = "preprocessor.bin";

/// What a bundle does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundleKind {
    /// A text classifier ([`crate::TextClassifier`]).
    Classifier,
    /// A sequence tagger ([`crate::TextTagger`]).
    Tagger,
}

/// A checked bundle: its preprocessor parsed and verified against the [`Limits`] (its
/// compact sections checked, not expanded: a classifier reads them as they are), and the
/// ONNX bytes whose checksum it records.
///
/// ```
/// use cerebellum_core::{Bundle, BundleKind, Limits};
///
/// let bundle = Bundle::parse(
///     include_bytes!("../bundles/tiny_is_question/preprocessor.bin"),
///     include_bytes!("../bundles/tiny_is_question/model.onnx"),
///     &Limits::MICROCONTROLLER,
/// )?;
/// assert_eq!(bundle.task(), "tiny_is_question");
/// assert_eq!(bundle.kind(), BundleKind::Classifier);
/// # Ok::<(), cerebellum_core::Error>(())
/// ```
pub struct Bundle<'a> {
    /// Packed sections as stored (see [`crate::packed`]), checked.
    preprocessor: proto::Preprocessor,
    model: Cow<'a, [u8]>,
    kind: BundleKind,
    limits: Limits,
}

/// A summary, never the vocabulary or the weights.
impl core::fmt::Debug for Bundle<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Bundle")
            .field("task", &self.preprocessor.task)
            .field("kind", &self.kind)
            .field("model_bytes", &self.model.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Bundle<'a> {
    /// Check the contents of a bundle's two files, in the spec's order: sizes, the
    /// preprocessor's envelope, version, checksum, features and task name, the model's
    /// checksum, then the counts the preprocessor and the model claim.
    pub fn parse(preprocessor: &[u8], model: &'a [u8], limits: &Limits) -> Result<Self> {
        limits::check_size(
            BundleFile::Preprocessor,
            "file size",
            preprocessor.len(),
            limits.max_preprocessor_bytes,
        )?;
        limits::check_size(BundleFile::Model, "file size", model.len(), limits.max_model_bytes)?;
        let parsed = unwrap_preprocessor(preprocessor)?;
        check_model_checksum(model, &parsed)?;
        Self::checked(parsed, Cow::Borrowed(model), limits)
    }

    /// The rest of [`Bundle::parse`] for a preprocessor from [`unwrap_preprocessor`] and a
    /// model that passed [`check_model_checksum`] (files read one at a time by a caller).
    #[doc(hidden)]
    pub fn checked(preprocessor: proto::Preprocessor, model: Cow<'a, [u8]>, limits: &Limits) -> Result<Self> {
        limits::check_preprocessor(&preprocessor, limits)?;
        limits::check_model(&model, limits)?;
        crate::packed::check(&preprocessor, limits)?;
        let kind = match proto::TaskKind::try_from(preprocessor.kind) {
            Ok(proto::TaskKind::TextClassification) => BundleKind::Classifier,
            Ok(proto::TaskKind::SequenceTagging) => BundleKind::Tagger,
            _ => {
                return Err(Error::corrupt(
                    BundleFile::Preprocessor,
                    format!("unsupported task kind {}", preprocessor.kind),
                ))
            }
        };
        Ok(Bundle {
            preprocessor,
            model,
            kind,
            limits: *limits,
        })
    }

    /// Task name (checked: safe as a file name, see [`valid_task_name`]).
    pub fn task(&self) -> &str {
        &self.preprocessor.task
    }

    /// What the bundle does.
    pub fn kind(&self) -> BundleKind {
        self.kind
    }

    /// The bytes of `model.onnx`.
    pub fn model(&self) -> &[u8] {
        &self.model
    }

    /// The preprocessor with its packed sections as stored (checked: read them through
    /// [`crate::packed`]), the model bytes, and the limits the bundle was checked against
    /// (they bound what packed sections expand to).
    pub(crate) fn into_compact_parts(self) -> (proto::Preprocessor, Cow<'a, [u8]>, Limits) {
        (self.preprocessor, self.model, self.limits)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "(none)".to_owned();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Check the envelope of `preprocessor.bin` and parse what it holds.
#[doc(hidden)]
pub fn unwrap_preprocessor(data: &[u8]) -> Result<proto::Preprocessor> {
    let file = BundleFile::Preprocessor;
    let envelope = proto::PreprocessorFile::decode(data)
        .map_err(|e| Error::corrupt(file, format!("not a preprocessor file (truncated or corrupted?): {e}")))?;
    if envelope.magic != MAGIC {
        return Err(Error::corrupt(
            file,
            "not a preprocessor file: magic string missing or wrong",
        ));
    }
    if envelope.format_version != FORMAT_VERSION {
        return Err(Error::Version {
            file,
            found: envelope.format_version,
            supported: FORMAT_VERSION,
        });
    }
    let actual = Sha256::digest(&envelope.preprocessor);
    if actual.as_slice() != envelope.preprocessor_sha256.as_slice() {
        return Err(Error::Integrity {
            file,
            problem: format!(
                "checksum mismatch: recorded {}, content hashes to {}",
                hex(&envelope.preprocessor_sha256),
                hex(&actual)
            ),
        });
    }
    let mut preprocessor = proto::Preprocessor::decode(envelope.preprocessor.as_slice())
        .map_err(|e| Error::corrupt(file, format!("preprocessor payload does not parse: {e}")))?;
    drop(envelope);
    // prost grows repeated fields by doubling: give back the slack of the large ones.
    if let Some(tfidf) = preprocessor.tfidf.as_mut() {
        tfidf.idf_index.shrink_to_fit();
        tfidf.idf_palette.shrink_to_fit();
        tfidf.idf.shrink_to_fit();
        tfidf.vocabulary.shrink_to_fit();
    }
    let mut unknown: Vec<&String> = preprocessor
        .required_features
        .iter()
        .filter(|f| !FEATURES.contains(&f.as_str()))
        .collect();
    if !unknown.is_empty() {
        unknown.sort();
        unknown.dedup();
        let shown: Vec<String> = unknown
            .iter()
            .take(5)
            .map(|f| format!("'{}'", f.chars().take(80).collect::<String>().escape_debug()))
            .collect();
        return Err(Error::Unsupported {
            file,
            problem: format!(
                "bundle needs features this runtime does not implement: {} (it implements {}); \
                 upgrade the runtime or re-export the bundle without them",
                shown.join(", "),
                FEATURES.join(", ")
            ),
        });
    }
    if !valid_task_name(&preprocessor.task) {
        let shown: String = preprocessor.task.chars().take(80).collect();
        return Err(Error::corrupt(
            file,
            format!("task name {shown:?} is not a valid name ({TASK_NAME_RULE}); apps build paths from it"),
        ));
    }
    Ok(preprocessor)
}

/// What [`valid_task_name`] accepts, in words.
pub const TASK_NAME_RULE: &str =
    "letters, digits, '_', '.' and '-', starting with a letter, digit or '_', at most 128, no '..'";

/// Spec section 1: a bundle's task name is safe as a file name, so tools may build paths from it.
///
/// ```
/// assert!(cerebellum_core::valid_task_name("is_question"));
/// assert!(!cerebellum_core::valid_task_name("../escape"));
/// ```
pub fn valid_task_name(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-';
    let mut chars = name.chars();
    let first_ok = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_');
    first_ok && name.len() <= 128 && name.chars().all(allowed) && !name.contains("..")
}

/// The model's SHA-256 against the one the preprocessor records.
#[doc(hidden)]
pub fn check_model_checksum(model: &[u8], preprocessor: &proto::Preprocessor) -> Result<()> {
    let actual = Sha256::digest(model);
    if actual.as_slice() != preprocessor.model_sha256.as_slice() {
        return Err(Error::Integrity {
            file: BundleFile::Model,
            problem: format!(
                "checksum mismatch: the preprocessor expects {}, the file hashes to {}",
                hex(&preprocessor.model_sha256),
                hex(&actual)
            ),
        });
    }
    Ok(())
}
