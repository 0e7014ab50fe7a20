//! Typed errors. Bundle errors name the bundle file and the problem; the core reads
//! bytes, not paths, so a caller that loaded files (the `cerebellum` crate) adds the path.

use alloc::string::String;

/// The file of a bundle an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BundleFile {
    /// `preprocessor.bin`.
    Preprocessor,
    /// `model.onnx`.
    Model,
}

impl BundleFile {
    /// The file's name inside a bundle directory.
    ///
    /// ```
    /// assert_eq!(cerebellum_core::BundleFile::Model.name(), "model.onnx");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            BundleFile::Preprocessor => crate::PREPROCESSOR_FILE,
            BundleFile::Model => crate::MODEL_FILE,
        }
    }
}

impl core::fmt::Display for BundleFile {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything that can go wrong parsing a bundle or running it.
///
/// `#[non_exhaustive]`: later versions may add variants, so a `match` needs a `_` arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file cannot be parsed or holds inconsistent fields.
    #[error("{file}: {problem}")]
    Corrupt {
        /// The offending file.
        file: BundleFile,
        /// What is wrong with it.
        problem: String,
    },
    /// The bundle is in a format version this runtime does not read.
    #[error("{file}: bundle format version {found}, but this runtime reads version {supported}; re-export the bundle with a matching forge or upgrade the runtime")]
    Version {
        /// The offending file.
        file: BundleFile,
        /// The version the file declares.
        found: u32,
        /// The version this runtime reads.
        supported: u32,
    },
    /// The bundle needs capabilities (`required_features`) this runtime does not implement.
    #[error("{file}: {problem}")]
    Unsupported {
        /// The offending file.
        file: BundleFile,
        /// The features it needs, and what this runtime implements.
        problem: String,
    },
    /// A checksum does not match: the file changed after it was forged.
    #[error("{file}: {problem}")]
    Integrity {
        /// The offending file.
        file: BundleFile,
        /// What is wrong with it.
        problem: String,
    },
    /// The ONNX model does not fit its preprocessor.
    #[error("{file}: {problem}")]
    Mismatch {
        /// The offending file.
        file: BundleFile,
        /// What is wrong with it.
        problem: String,
    },
    /// The bundle claims more than the configured [`crate::Limits`] allow.
    #[error("{file}: {problem}")]
    Limit {
        /// The offending file.
        file: BundleFile,
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
pub type Result<T> = core::result::Result<T, Error>;

impl Error {
    pub(crate) fn corrupt(file: BundleFile, problem: impl Into<String>) -> Self {
        Error::Corrupt {
            file,
            problem: problem.into(),
        }
    }

    pub(crate) fn mismatch(file: BundleFile, problem: impl Into<String>) -> Self {
        Error::Mismatch {
            file,
            problem: problem.into(),
        }
    }
}
