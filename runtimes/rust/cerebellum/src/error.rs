//! Typed errors. Bundle errors name the file and the problem.

use std::path::PathBuf;

/// Everything that can go wrong loading a bundle or running it.
///
/// `#[non_exhaustive]`: later versions may add variants, so a `match` needs a `_` arm.
///
/// ```compile_fail
/// // Without the `_` arm this does not compile, even though every variant is named.
/// fn kind(error: &cerebellum::Error) -> &'static str {
///     use cerebellum::Error as E;
///     match error {
///         E::NotFound { .. } | E::Corrupt { .. } | E::Version { .. } | E::Unsupported { .. } => "bundle",
///         E::Integrity { .. } | E::Mismatch { .. } | E::Limit { .. } => "bundle",
///         E::Inference(_) | E::NonFinite(_) | E::Shape(_) => "call",
///     }
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bundle directory or one of its files does not exist or cannot be read.
    #[error("{}: {problem}", path.display())]
    NotFound {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A file cannot be parsed or holds inconsistent fields.
    #[error("{}: {problem}", path.display())]
    Corrupt {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The bundle is in a format version this runtime does not read.
    #[error("{}: bundle format version {found}, but this runtime reads version {supported}; re-export the bundle with a matching forge or upgrade the runtime", path.display())]
    Version {
        /// The offending file.
        path: PathBuf,
        /// The version the file declares.
        found: u32,
        /// The version this runtime reads.
        supported: u32,
    },
    /// The bundle needs capabilities (`required_features`) this runtime does not implement.
    #[error("{}: {problem}", path.display())]
    Unsupported {
        /// The offending file.
        path: PathBuf,
        /// The features it needs, and what this runtime implements.
        problem: String,
    },
    /// A checksum does not match: the file changed after it was forged.
    #[error("{}: {problem}", path.display())]
    Integrity {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The ONNX model does not fit its preprocessor.
    #[error("{}: {problem}", path.display())]
    Mismatch {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The bundle claims more than the configured [`crate::Limits`] allow.
    #[error("{}: {problem}", path.display())]
    Limit {
        /// The offending file.
        path: PathBuf,
        /// What is too large, and the limit.
        problem: String,
    },
    /// The inference engine failed on an input.
    #[error("inference failed: {0}")]
    Inference(String),
    /// The model produced scores that cannot be decoded (NaN or infinite).
    #[error("{0}")]
    NonFinite(String),
    /// The arguments of a call do not fit together (e.g. slice lengths given to [`crate::viterbi()`]).
    #[error("{0}")]
    Shape(String),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn corrupt(path: &std::path::Path, problem: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }

    pub(crate) fn mismatch(path: &std::path::Path, problem: impl Into<String>) -> Self {
        Error::Mismatch {
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }
}
