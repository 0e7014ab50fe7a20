//! Typed errors. Bundle errors name the file and the problem.

use std::path::{Path, PathBuf};

use cerebellum_core::BundleFile;

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

/// Where a bundle's files were read from, to name them in errors.
#[derive(Clone, Debug)]
pub(crate) struct Locations {
    pub(crate) preprocessor: PathBuf,
    pub(crate) model: PathBuf,
}

/// Why a model did not load: the core's error (named by file) or the ONNX engine's (with its path).
pub(crate) enum LoadError {
    Core(cerebellum_core::Error),
    #[cfg_attr(not(feature = "tract"), allow(dead_code))]
    Engine(Error),
}

impl From<cerebellum_core::Error> for LoadError {
    fn from(error: cerebellum_core::Error) -> Self {
        LoadError::Core(error)
    }
}

impl LoadError {
    /// The public error: the core's names the bundle file it is about.
    pub(crate) fn located(self, at: &Locations) -> Error {
        match self {
            LoadError::Core(error) => Error::located(error, at),
            LoadError::Engine(error) => error,
        }
    }
}

impl Locations {
    /// The files of the bundle directory `directory`.
    pub(crate) fn in_directory(directory: &Path) -> Self {
        Locations {
            preprocessor: directory.join(cerebellum_core::PREPROCESSOR_FILE),
            model: directory.join(cerebellum_core::MODEL_FILE),
        }
    }

    fn of(&self, file: BundleFile) -> PathBuf {
        match file {
            BundleFile::Model => self.model.clone(),
            _ => self.preprocessor.clone(),
        }
    }
}

impl Error {
    /// The core's error with the path of the file it is about; the message stays the same.
    pub(crate) fn located(error: cerebellum_core::Error, at: &Locations) -> Self {
        use cerebellum_core::Error as Core;
        match error {
            Core::Corrupt { file, problem } => Error::Corrupt {
                path: at.of(file),
                problem,
            },
            Core::Version { file, found, supported } => Error::Version {
                path: at.of(file),
                found,
                supported,
            },
            Core::Unsupported { file, problem } => Error::Unsupported {
                path: at.of(file),
                problem,
            },
            Core::Integrity { file, problem } => Error::Integrity {
                path: at.of(file),
                problem,
            },
            Core::Mismatch { file, problem } => Error::Mismatch {
                path: at.of(file),
                problem,
            },
            Core::Limit { file, problem } => Error::Limit {
                path: at.of(file),
                problem,
            },
            Core::Inference(problem) => Error::Inference(problem),
            Core::NonFinite(problem) => Error::NonFinite(problem),
            Core::Shape(problem) => Error::Shape(problem),
            // A variant newer than this crate knows: keep its message.
            other => Error::Inference(other.to_string()),
        }
    }

    /// An error of a call on a loaded model: the core's call errors name no file.
    pub(crate) fn of_call(error: cerebellum_core::Error) -> Self {
        let names = Locations {
            preprocessor: PathBuf::from(cerebellum_core::PREPROCESSOR_FILE),
            model: PathBuf::from(cerebellum_core::MODEL_FILE),
        };
        Error::located(error, &names)
    }

    #[cfg(feature = "tract")]
    pub(crate) fn corrupt(path: &std::path::Path, problem: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }

    #[cfg(feature = "tract")]
    pub(crate) fn mismatch(path: &std::path::Path, problem: impl Into<String>) -> Self {
        Error::Mismatch {
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }
}

/// The message of an inference error without the "inference failed: " its `Display` adds,
/// so that the core's `Inference` (which an engine's errors become) shows it once.
#[cfg(feature = "tract")]
pub(crate) fn inference_message(error: Error) -> String {
    match error {
        Error::Inference(message) => message,
        other => other.to_string(),
    }
}
