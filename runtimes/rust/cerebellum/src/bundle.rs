//! Reads and checks bundle files: envelope, version, checksums (spec section 1).

use std::path::{Path, PathBuf};

use prost::Message;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::limits::Limits;
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
];
/// Magic string of `preprocessor.bin`.
pub const MAGIC: &str = "cerebellum.preprocessor";
/// File names inside a bundle directory.
pub const MODEL_FILE: &str = "model.onnx";
/// See [`MODEL_FILE`].
pub const PREPROCESSOR_FILE: &str = "preprocessor.bin";

/// A checked bundle: the parsed preprocessor and the ONNX bytes.
pub(crate) struct BundleData<'a> {
    pub(crate) preprocessor: proto::Preprocessor,
    pub(crate) model: std::borrow::Cow<'a, [u8]>,
    pub(crate) preprocessor_path: PathBuf,
    pub(crate) model_path: PathBuf,
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "(none)".to_owned();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Check the envelope of `preprocessor.bin` and parse what it holds.
pub(crate) fn unwrap_preprocessor(data: &[u8], path: &Path) -> Result<proto::Preprocessor> {
    let envelope = proto::PreprocessorFile::decode(data)
        .map_err(|e| Error::corrupt(path, format!("not a preprocessor file (truncated or corrupted?): {e}")))?;
    if envelope.magic != MAGIC {
        return Err(Error::corrupt(
            path,
            "not a preprocessor file: magic string missing or wrong",
        ));
    }
    if envelope.format_version != FORMAT_VERSION {
        return Err(Error::Version {
            path: path.to_path_buf(),
            found: envelope.format_version,
            supported: FORMAT_VERSION,
        });
    }
    let actual = Sha256::digest(&envelope.preprocessor);
    if actual.as_slice() != envelope.preprocessor_sha256.as_slice() {
        return Err(Error::Integrity {
            path: path.to_path_buf(),
            problem: format!(
                "checksum mismatch: recorded {}, content hashes to {}",
                hex(&envelope.preprocessor_sha256),
                hex(&actual)
            ),
        });
    }
    let preprocessor = proto::Preprocessor::decode(envelope.preprocessor.as_slice())
        .map_err(|e| Error::corrupt(path, format!("preprocessor payload does not parse: {e}")))?;
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
            path: path.to_path_buf(),
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
            path,
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
/// assert!(cerebellum::valid_task_name("is_question"));
/// assert!(!cerebellum::valid_task_name("../escape"));
/// ```
pub fn valid_task_name(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-';
    let mut chars = name.chars();
    let first_ok = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_');
    first_ok && name.len() <= 128 && name.chars().all(allowed) && !name.contains("..")
}

pub(crate) fn check_model(model: &[u8], preprocessor: &proto::Preprocessor, path: &Path) -> Result<()> {
    let actual = Sha256::digest(model);
    if actual.as_slice() != preprocessor.model_sha256.as_slice() {
        return Err(Error::Integrity {
            path: path.to_path_buf(),
            problem: format!(
                "checksum mismatch: the preprocessor expects {}, the file hashes to {}",
                hex(&preprocessor.model_sha256),
                hex(&actual)
            ),
        });
    }
    Ok(())
}

fn read(path: &Path, limit: usize) -> Result<Vec<u8>> {
    // The size is checked before a byte is read, so a huge file costs nothing.
    if let Ok(meta) = std::fs::metadata(path) {
        let size = usize::try_from(meta.len()).unwrap_or(usize::MAX);
        crate::limits::check_size(path, "file size", size, limit)?;
    }
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound {
            path: path.to_path_buf(),
            problem: "file not found".into(),
        },
        _ => Error::NotFound {
            path: path.to_path_buf(),
            problem: format!("cannot read: {e}"),
        },
    })
}

pub(crate) fn read_bundle(directory: &Path, limits: &Limits) -> Result<BundleData<'static>> {
    if !directory.is_dir() {
        return Err(Error::NotFound {
            path: directory.to_path_buf(),
            problem: "bundle directory not found".into(),
        });
    }
    let preprocessor_path = directory.join(PREPROCESSOR_FILE);
    let model_path = directory.join(MODEL_FILE);
    let preprocessor = unwrap_preprocessor(
        &read(&preprocessor_path, limits.max_preprocessor_bytes)?,
        &preprocessor_path,
    )?;
    let model = read(&model_path, limits.max_model_bytes)?;
    check_model(&model, &preprocessor, &model_path)?;
    Ok(BundleData {
        preprocessor,
        model: model.into(),
        preprocessor_path,
        model_path,
    })
}

pub(crate) fn read_bundle_bytes<'a>(preprocessor: &[u8], model: &'a [u8], limits: &Limits) -> Result<BundleData<'a>> {
    let preprocessor_path = PathBuf::from("<bytes>").join(PREPROCESSOR_FILE);
    let model_path = PathBuf::from("<bytes>").join(MODEL_FILE);
    crate::limits::check_size(
        &preprocessor_path,
        "file size",
        preprocessor.len(),
        limits.max_preprocessor_bytes,
    )?;
    crate::limits::check_size(&model_path, "file size", model.len(), limits.max_model_bytes)?;
    let parsed = unwrap_preprocessor(preprocessor, &preprocessor_path)?;
    check_model(model, &parsed, &model_path)?;
    Ok(BundleData {
        preprocessor: parsed,
        model: model.into(),
        preprocessor_path,
        model_path,
    })
}
