//! Text classifiers: tokenizer + TF-IDF, then the linear model: natively when the
//! graph is the forge's linear form, with a caller's [`ClassifierEngine`] otherwise.

use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::bundle::Bundle;
use crate::chartable::CharTable;
use crate::defer::DeferRule;
use crate::error::{BundleFile, Error, Result};
use crate::linear::{LinearModel, Signature, WeightFormat};
use crate::proto;
use crate::tfidf::{SparseVector, Tfidf};
use crate::tokenizer::{Scan, Token, Tokenizer};

/// A prediction: the winning label and the scores of every label.
#[derive(Clone, Debug, PartialEq)]
pub struct Classification {
    /// Index of the predicted label (the first maximum of `scores`).
    pub label_index: usize,
    /// The predicted label.
    pub label: String,
    /// One score per label, in label order.
    pub scores: Vec<f32>,
    /// Whether the bundle's defer rule hands this text on rather than trusting the label
    /// (always `false` for a bundle without a rule).
    pub defer: bool,
}

/// Scores of a batch: one row per text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchScores {
    /// Scores in label order (probabilities for logistic regression).
    pub probabilities: Vec<Vec<f32>>,
    /// Raw decision values.
    pub logits: Vec<Vec<f32>>,
}

/// What evaluates a classifier's graph when the native evaluator does not: an ONNX
/// engine (the `cerebellum` crate's tract). Errors of [`ClassifierEngine::run`] are
/// [`Error::Inference`].
pub trait ClassifierEngine: Send + Sync {
    /// Flat scores and logits of `vectors`: one row per vector, rows one after the other.
    fn run(&self, vectors: &[SparseVector]) -> Result<(Vec<f32>, Vec<f32>)>;

    /// The engine's name, for `Debug` output.
    fn name(&self) -> &str;
}

/// What a [`ClassifierEngine`] is built from: the model and the names the preprocessor
/// gives its inputs and outputs.
#[derive(Debug)]
#[non_exhaustive]
pub struct EngineRequest<'a> {
    /// The bytes of `model.onnx`.
    pub model: &'a [u8],
    /// The int64 `[texts, width]` input of column indices.
    pub indices_input: &'a str,
    /// The float32 `[texts, width]` input of TF-IDF values.
    pub values_input: &'a str,
    /// The scores output.
    pub probabilities_output: &'a str,
    /// The logits output.
    pub logits_output: &'a str,
}

/// A loaded text classification bundle.
///
/// ```
/// use cerebellum_core::{Bundle, Limits, Scratch, TextClassifier};
///
/// let bundle = Bundle::parse(
///     include_bytes!("../bundles/tiny_is_question/preprocessor.bin"),
///     include_bytes!("../bundles/tiny_is_question/model.onnx"),
///     &Limits::default(),
/// )?;
/// let classifier = TextClassifier::new(bundle)?;
/// assert_eq!(classifier.predict("what time is it?")?, "Question");
///
/// // With buffers reused from call to call, a query allocates nothing.
/// let mut scratch = Scratch::default();
/// assert_eq!(classifier.predict_with("hello world", &mut scratch)?, "Statement");
/// # Ok::<(), cerebellum_core::Error>(())
/// ```
pub struct TextClassifier {
    task: String,
    labels: Vec<String>,
    table: CharTable,
    tokenizer: Tokenizer,
    tfidf: Tfidf,
    scorer: Scorer,
    logit_width: usize,
    defer_rule: Option<DeferRule>,
    /// The preprocessor without its vocabulary and idf values (in `tfidf`, compactly) and
    /// with a carried character table by name only: [`TextClassifier::preprocessor_bytes`]
    /// puts them back.
    preprocessor: proto::Preprocessor,
}

/// A summary: what the classifier is, not its vocabulary or weights.
impl core::fmt::Debug for TextClassifier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let evaluator = match &self.scorer {
            Scorer::Native(linear) => format!("native {:?}", linear.format()),
            Scorer::Engine(engine) => engine.name().to_owned(),
        };
        f.debug_struct("TextClassifier")
            .field("task", &self.task)
            .field("labels", &self.labels)
            .field("vocabulary_len", &self.tfidf.len())
            .field("evaluator", &evaluator)
            .field("defer_rule", &self.defer_rule)
            .finish_non_exhaustive()
    }
}

enum Scorer {
    Native(LinearModel),
    Engine(Box<dyn ClassifierEngine>),
}

/// Index of the first maximum (ties go to the lowest index).
pub(crate) fn first_max(scores: &[f32]) -> usize {
    let mut best = 0;
    for (i, s) in scores.iter().enumerate().skip(1) {
        if *s > scores[best] {
            best = i;
        }
    }
    best
}

/// The buffers one query needs: keep one per thread (or task) and pass it to the
/// `*_with` methods, and the native path allocates nothing but its answer.
#[derive(Debug, Default)]
pub struct Scratch {
    scan: Scan,
    term: String,
    counts: Vec<(u32, u32)>,
    vector: SparseVector,
    tmp: Vec<f64>,
    logits: Vec<f32>,
    scores: Vec<f32>,
}

impl TextClassifier {
    /// A classifier evaluated natively; [`Error::Unsupported`] (on `model.onnx`) when the
    /// graph is not one of the forge's linear forms.
    pub fn new(bundle: Bundle<'_>) -> Result<Self> {
        Self::with_engine(bundle, true, |_| {
            Err(Error::Unsupported {
                file: BundleFile::Model,
                problem: "the graph is not the forge's linear model, and this build has no ONNX engine \
                          (enable cerebellum's `tract` feature)"
                    .into(),
            })
        })
    }

    /// A classifier that evaluates its graph natively when `native` is true and the graph
    /// is one of the forge's linear forms, and with the engine `engine` builds otherwise.
    /// `engine`'s error type is the caller's, so it can carry more than this crate's.
    pub fn with_engine<X: From<Error>>(
        bundle: Bundle<'_>,
        native: bool,
        engine: impl FnOnce(&EngineRequest<'_>) -> core::result::Result<Box<dyn ClassifierEngine>, X>,
    ) -> core::result::Result<Self, X> {
        // Taken apart first, so the packed vocabulary can go as soon as it has been read.
        let (mut preprocessor, model, limits) = bundle.into_compact_parts();
        let pre = &preprocessor;
        let file = BundleFile::Preprocessor;
        let tfidf_spec = pre
            .tfidf
            .as_ref()
            .ok_or_else(|| Error::corrupt(file, "a text classification bundle needs a tfidf section"))?;
        let labels = pre.labels.clone();
        let mut unique = labels.clone();
        unique.sort();
        unique.dedup();
        if labels.len() < 2 || unique.len() != labels.len() {
            return Err(Error::corrupt(file, "labels must be at least two distinct names").into());
        }
        let spec = pre.tokenizer.unwrap_or_default();
        if spec.ngram_min < 1 || spec.ngram_max < spec.ngram_min {
            return Err(Error::corrupt(file, "tokenizer: invalid n-gram range").into());
        }
        let table = CharTable::of_preprocessor(pre)?;
        let defer_rule = DeferRule::of(pre)?;
        let hashed_allowed = pre.required_features.iter().any(|f| f == crate::HASHED_VOCABULARY);
        let coding = crate::packed::vocabulary_coding(pre)?;
        let tfidf = Tfidf::new(tfidf_spec, coding, hashed_allowed, &limits)?;
        let sig = pre.onnx.clone().unwrap_or_default();
        // Kept without what `tfidf` now holds; `preprocessor_bytes` puts it back.
        if let Some(spec) = preprocessor.tfidf.as_mut() {
            spec.vocabulary = Vec::new();
            spec.idf = Vec::new();
            spec.packed_vocabulary = Vec::new();
            spec.idf_palette = Vec::new();
            spec.idf_index = Vec::new();
        }
        if sig.num_features as usize != tfidf.len() {
            return Err(Error::mismatch(
                BundleFile::Model,
                format!(
                    "model has {} feature rows, vocabulary has {} terms",
                    sig.num_features,
                    tfidf.len()
                ),
            )
            .into());
        }
        let recognized = if native {
            LinearModel::recognize(
                &model,
                &Signature {
                    indices: &sig.indices_input,
                    values: &sig.values_input,
                    logits: &sig.logits_output,
                    probabilities: &sig.probabilities_output,
                    features: tfidf.len(),
                },
            )?
        } else {
            None
        };
        let scorer = match recognized {
            Some(linear) => Scorer::Native(linear),
            None => Scorer::Engine(engine(&EngineRequest {
                model: &model,
                indices_input: &sig.indices_input,
                values_input: &sig.values_input,
                probabilities_output: &sig.probabilities_output,
                logits_output: &sig.logits_output,
            })?),
        };
        let mut classifier = TextClassifier {
            task: preprocessor.task.clone(),
            labels,
            table,
            tokenizer: Tokenizer::new(&spec),
            tfidf,
            scorer,
            logit_width: 0,
            defer_rule,
            preprocessor,
        };
        classifier.probe(sig.num_features)?;
        Ok(classifier)
    }

    fn probe(&mut self, num_features: u32) -> Result<()> {
        let file = BundleFile::Model;
        let last = i64::from(num_features) - 1;
        let (probabilities, logits) = self
            .run(&[SparseVector {
                indices: alloc::vec![last],
                values: alloc::vec![0.0],
            }])
            .map_err(|e| Error::mismatch(file, format!("model rejects the preprocessor's features: {e}")))?;
        if probabilities.len() != self.labels.len() {
            return Err(Error::mismatch(
                file,
                format!(
                    "model outputs {} scores per text, the preprocessor names {} labels",
                    probabilities.len(),
                    self.labels.len()
                ),
            ));
        }
        if probabilities.iter().chain(logits.iter()).any(|v| !v.is_finite()) {
            return Err(Error::mismatch(
                file,
                "model produced non-finite scores for the probe input",
            ));
        }
        self.logit_width = logits.len();
        Ok(())
    }

    /// Flat probabilities and logits of `vectors`, one row each.
    fn run(&self, vectors: &[SparseVector]) -> Result<(Vec<f32>, Vec<f32>)> {
        match &self.scorer {
            Scorer::Native(linear) => {
                let mut probabilities = Vec::with_capacity(vectors.len() * linear.score_width());
                let mut logits = Vec::with_capacity(vectors.len() * linear.logit_width());
                let (mut row_logits, mut row_scores, mut tmp) = (Vec::new(), Vec::new(), Vec::new());
                for v in vectors {
                    linear.logits_into(v, &mut tmp, &mut row_logits);
                    linear.scores_into(&row_logits, &mut tmp, &mut row_scores);
                    logits.extend_from_slice(&row_logits);
                    probabilities.extend_from_slice(&row_scores);
                }
                Ok((probabilities, logits))
            }
            Scorer::Engine(engine) => engine.run(vectors),
        }
    }

    /// How the linear model is evaluated: `Some(format)` of the weights when natively,
    /// `None` with an engine.
    pub fn native_weights(&self) -> Option<WeightFormat> {
        match &self.scorer {
            Scorer::Native(linear) => Some(linear.format()),
            Scorer::Engine(_) => None,
        }
    }

    /// Task name.
    pub fn task(&self) -> &str {
        &self.task
    }

    /// Label names in output order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The bundle's preprocessor (provenance, metrics, specs) as a serialized
    /// `cerebellum.v1.Preprocessor` message (`proto/cerebellum/v1/bundle.proto`), packed
    /// sections expanded: parse it with any protobuf library and that schema.
    pub fn preprocessor_bytes(&self) -> Vec<u8> {
        let mut preprocessor = self.preprocessor.clone();
        // The plain fields the bundle's compact sections stand for.
        if let Some(spec) = preprocessor.tfidf.as_mut() {
            (spec.vocabulary, spec.idf) = self.tfidf.expanded();
        }
        crate::packed::expand_builtin_table(&mut preprocessor);
        prost::Message::encode_to_vec(&preprocessor)
    }

    /// Tokens with offsets (code points) into `text`.
    pub fn tokenize(&self, text: &str) -> Vec<Token> {
        self.tokenizer.tokenize(&self.table, text)
    }

    /// The n-gram terms of `text`.
    pub fn terms(&self, text: &str) -> Vec<String> {
        self.tokenizer.terms(&self.tokenize(text))
    }

    /// The TF-IDF vector of `text`.
    pub fn vectorize(&self, text: &str) -> SparseVector {
        self.vectorize_with(text, &mut Scratch::default()).clone()
    }

    /// The TF-IDF vector of `text`, built in `scratch`.
    pub fn vectorize_with<'s>(&self, text: &str, scratch: &'s mut Scratch) -> &'s SparseVector {
        let Scratch {
            scan,
            term,
            counts,
            vector,
            ..
        } = scratch;
        counts.clear();
        self.tokenizer.for_each_term_in(&self.table, text, scan, term, |term| {
            if let Some(j) = self.tfidf.column(term) {
                counts.push((j, 1));
            }
        });
        self.tfidf.vector_into(counts, vector);
        vector
    }

    /// Scores of every label for one text, in label order, in `scratch`.
    pub fn predict_proba_with<'s>(&self, text: &str, scratch: &'s mut Scratch) -> Result<&'s [f32]> {
        self.vectorize_with(text, scratch);
        match &self.scorer {
            Scorer::Native(linear) => {
                linear.logits_into(&scratch.vector, &mut scratch.tmp, &mut scratch.logits);
                linear.scores_into(&scratch.logits, &mut scratch.tmp, &mut scratch.scores);
            }
            Scorer::Engine(engine) => {
                let (probabilities, logits) = engine.run(core::slice::from_ref(&scratch.vector))?;
                scratch.scores = probabilities;
                scratch.logits = logits;
            }
        }
        Ok(&scratch.scores)
    }

    /// Scores (probabilities for logistic regression) and raw logits for each text.
    pub fn scores_batch(&self, texts: &[&str]) -> Result<BatchScores> {
        if texts.is_empty() {
            return Ok(BatchScores::default());
        }
        let mut scratch = Scratch::default();
        let vectors: Vec<SparseVector> = texts
            .iter()
            .map(|t| self.vectorize_with(t, &mut scratch).clone())
            .collect();
        let (probabilities, logits) = self.run(&vectors)?;
        let c = self.labels.len();
        let k = self.logit_width;
        Ok(BatchScores {
            probabilities: probabilities.chunks(c).map(<[f32]>::to_vec).collect(),
            logits: logits.chunks(k.max(1)).map(<[f32]>::to_vec).collect(),
        })
    }

    /// Scores of every label for one text, in label order.
    pub fn predict_proba(&self, text: &str) -> Result<Vec<f32>> {
        Ok(self.predict_proba_with(text, &mut Scratch::default())?.to_vec())
    }

    /// Scores for many texts: one row per text.
    pub fn predict_proba_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(self.scores_batch(texts)?.probabilities)
    }

    /// Raw decision values for one text.
    pub fn decision_function(&self, text: &str) -> Result<Vec<f32>> {
        self.decision_function_with(text, &mut Scratch::default())
            .map(<[f32]>::to_vec)
    }

    /// Raw decision values for one text, in `scratch`.
    pub fn decision_function_with<'s>(&self, text: &str, scratch: &'s mut Scratch) -> Result<&'s [f32]> {
        self.predict_proba_with(text, scratch)?;
        Ok(&scratch.logits)
    }

    /// The bundle's defer rule, if it has one.
    pub fn defer_rule(&self) -> Option<DeferRule> {
        self.defer_rule
    }

    /// The label, all scores and the defer decision of one text.
    pub fn classify(&self, text: &str) -> Result<Classification> {
        self.classify_with(text, &mut Scratch::default())
    }

    /// [`TextClassifier::classify`] with buffers from `scratch`.
    pub fn classify_with(&self, text: &str, scratch: &mut Scratch) -> Result<Classification> {
        let scores = self.predict_proba_with(text, scratch)?;
        let label_index = first_max(scores);
        Ok(Classification {
            label_index,
            label: self.labels[label_index].clone(),
            defer: self.defer_rule.is_some_and(|rule| rule.defers(scores)),
            scores: scores.to_vec(),
        })
    }

    /// The predicted label of one text.
    pub fn predict(&self, text: &str) -> Result<&str> {
        self.predict_with(text, &mut Scratch::default())
    }

    /// The predicted label of one text, with buffers from `scratch`: natively, nothing
    /// is allocated once `scratch` has grown to the text.
    pub fn predict_with(&self, text: &str, scratch: &mut Scratch) -> Result<&str> {
        let best = first_max(self.predict_proba_with(text, scratch)?);
        Ok(&self.labels[best])
    }
}
