//! # cerebellum
//!
//! Runs model_foundry micro-model bundles: an ONNX model plus a protobuf
//! preprocessor that pins tokenization, TF-IDF, labels and CRF transitions.
//! Tokens, TF-IDF vectors and tag sequences are bit-identical to the Python
//! runtime's on every machine (see `docs/preprocessing-spec.md` in the
//! repository). The spec logic is the `no_std` crate
//! [`cerebellum_core`](https://docs.rs/cerebellum-core), which evaluates the forge's
//! linear classifiers and BiLSTM taggers natively; other ONNX graphs run on
//! [tract](https://github.com/sonos/tract) (the default feature `tract`).
//!
//! ```
//! // A bundle directory holds `model.onnx` and `preprocessor.bin`; this one ships with the crate.
//! let model = cerebellum::load("bundles/tiny_is_question")?;
//! let classifier = model.as_classifier().expect("a classification bundle");
//! assert_eq!(classifier.predict("what time is it?")?, "Question");
//! assert_eq!(classifier.classify("hello world")?.label, "Statement");
//!
//! // Firmware can embed a bundle:
//! let model = cerebellum::load_bytes(
//!     include_bytes!("../bundles/tiny_is_question/preprocessor.bin"),
//!     include_bytes!("../bundles/tiny_is_question/model.onnx"),
//! )?;
//! assert_eq!(model.task(), "tiny_is_question");
//! # Ok::<(), cerebellum::Error>(())
//! ```
//!
//! Models are `Send + Sync`: share one across threads. Their `Debug` output is
//! a summary (task, labels, sizes), never the weights.

#![deny(missing_docs, missing_debug_implementations)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bundle;
mod classifier;
#[cfg(feature = "tract")]
mod engine;
mod error;
mod scratch;
mod tagger;
mod viterbi;

use std::path::Path;

pub use cerebellum_core::{
    valid_task_name, Analysis, BatchScores, Classification, DeferMeasure, DeferRule, Entity, Limits, SparseVector,
    TaggedToken, Token, WeightFormat, CHARTABLE_BY_NAME, DEFER_RULE, FEATURES, FORMAT_VERSION, HASHED_VOCABULARY,
    MAGIC, MODEL_FILE, PREPROCESSOR_FILE, TASK_NAME_RULE, TFIDF_PACKED, TFIDF_TOKEN_TRIE,
};
pub use classifier::TextClassifier;
pub use error::{Error, Result};
pub use tagger::TextTagger;
pub use viterbi::viterbi;

/// A loaded bundle of either kind.
///
/// Its `Debug` output is a summary (task, labels or tags, sizes), never the weights.
#[derive(Debug)]
pub enum Model {
    /// A text classification bundle.
    Classifier(TextClassifier),
    /// A sequence tagging bundle.
    Tagger(TextTagger),
}

impl Model {
    /// The classifier, if this is a classification bundle.
    pub fn as_classifier(&self) -> Option<&TextClassifier> {
        match self {
            Model::Classifier(c) => Some(c),
            Model::Tagger(_) => None,
        }
    }

    /// The tagger, if this is a sequence tagging bundle.
    pub fn as_tagger(&self) -> Option<&TextTagger> {
        match self {
            Model::Tagger(t) => Some(t),
            Model::Classifier(_) => None,
        }
    }

    /// Task name.
    pub fn task(&self) -> &str {
        match self {
            Model::Classifier(c) => c.task(),
            Model::Tagger(t) => t.task(),
        }
    }
}

/// How a bundle's ONNX graph is evaluated: a classifier's linear model, a tagger's emissions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Evaluator {
    /// Natively when the graph is one of the forge's forms (a linear model; an embedding,
    /// BiLSTM and linear layer), with no tract call per query and, for a tagger, no tract
    /// plan at all; with tract otherwise. The model's `Debug` output names the evaluator.
    #[default]
    Auto,
    /// Always with tract: the reference the native evaluators are checked against.
    Tract,
}

fn build((bundle, at): (cerebellum_core::Bundle<'_>, error::Locations), evaluator: Evaluator) -> Result<Model> {
    match bundle.kind() {
        cerebellum_core::BundleKind::Classifier => Ok(Model::Classifier(TextClassifier::new(bundle, &at, evaluator)?)),
        cerebellum_core::BundleKind::Tagger => Ok(Model::Tagger(TextTagger::new(bundle, &at, evaluator)?)),
        _ => Err(Error::Corrupt {
            path: at.preprocessor.clone(),
            problem: format!("unsupported task kind of {}", bundle.task()),
        }),
    }
}

/// Load the bundle in `directory` (`model.onnx` + `preprocessor.bin`).
pub fn load(directory: impl AsRef<Path>) -> Result<Model> {
    load_with_limits(directory, &Limits::default())
}

/// Load a bundle from the contents of its two files.
pub fn load_bytes(preprocessor: &[u8], model: &[u8]) -> Result<Model> {
    load_bytes_with_limits(preprocessor, model, &Limits::default())
}

/// [`load`] with other [`Limits`] than the default: larger for a trusted bundle, smaller for a small device.
///
/// ```no_run
/// let model = cerebellum::load_with_limits("models/is_question", &cerebellum::Limits::MICROCONTROLLER)?;
/// # Ok::<(), cerebellum::Error>(())
/// ```
pub fn load_with_limits(directory: impl AsRef<Path>, limits: &Limits) -> Result<Model> {
    load_with(directory, limits, Evaluator::Auto)
}

/// [`load_bytes`] with other [`Limits`] than the default.
pub fn load_bytes_with_limits(preprocessor: &[u8], model: &[u8], limits: &Limits) -> Result<Model> {
    load_bytes_with(preprocessor, model, limits, Evaluator::Auto)
}

/// [`load`] with other [`Limits`] and a choice of [`Evaluator`].
///
/// ```no_run
/// use cerebellum::{Evaluator, Limits};
/// let reference = cerebellum::load_with("models/is_question", &Limits::default(), Evaluator::Tract)?;
/// # Ok::<(), cerebellum::Error>(())
/// ```
pub fn load_with(directory: impl AsRef<Path>, limits: &Limits, evaluator: Evaluator) -> Result<Model> {
    build(bundle::read_bundle(directory.as_ref(), limits)?, evaluator)
}

/// [`load_bytes`] with other [`Limits`] and a choice of [`Evaluator`].
pub fn load_bytes_with(preprocessor: &[u8], model: &[u8], limits: &Limits, evaluator: Evaluator) -> Result<Model> {
    build(bundle::read_bundle_bytes(preprocessor, model, limits)?, evaluator)
}

/// The README's examples run as doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn models_are_send_and_sync() {
        assert_send_sync::<super::Model>();
    }
}
