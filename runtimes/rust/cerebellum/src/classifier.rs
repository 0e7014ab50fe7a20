//! Text classifiers: tokenizer + TF-IDF, then the linear model: natively when the
//! graph is the forge's linear form, with tract otherwise.

use std::cell::RefCell;
use std::path::Path;

use crate::bundle::BundleData;
use crate::chartable::CharTable;
use crate::defer::DeferRule;
#[cfg(feature = "tract")]
use crate::engine::{f32_tensor, floats, int64_tensor, Engine};
use crate::error::{Error, Result};
use crate::linear::{LinearModel, Signature, WeightFormat};
use crate::proto;
use crate::tfidf::{SparseVector, Tfidf};
use crate::tokenizer::{Scan, Token, Tokenizer};
use crate::Evaluator;

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

/// A loaded text classification bundle.
pub struct TextClassifier {
    task: String,
    labels: Vec<String>,
    table: CharTable,
    tokenizer: Tokenizer,
    tfidf: Tfidf,
    scorer: Scorer,
    logit_width: usize,
    defer_rule: Option<DeferRule>,
    preprocessor: proto::Preprocessor,
}

/// A summary: what the classifier is, not its vocabulary or weights.
impl std::fmt::Debug for TextClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let evaluator = match self.native_weights() {
            Some(format) => format!("native {format:?}"),
            None => "tract".to_owned(),
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
    #[cfg(feature = "tract")]
    Tract(Engine),
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

impl TextClassifier {
    pub(crate) fn new(bundle: BundleData<'_>, evaluator: Evaluator) -> Result<Self> {
        let pre = bundle.preprocessor;
        let path = bundle.preprocessor_path.as_path();
        let tfidf_spec = pre
            .tfidf
            .as_ref()
            .ok_or_else(|| Error::corrupt(path, "a text classification bundle needs a tfidf section"))?;
        let labels = pre.labels.clone();
        let mut unique = labels.clone();
        unique.sort();
        unique.dedup();
        if labels.len() < 2 || unique.len() != labels.len() {
            return Err(Error::corrupt(path, "labels must be at least two distinct names"));
        }
        let spec = pre.tokenizer.unwrap_or_default();
        if spec.ngram_min < 1 || spec.ngram_max < spec.ngram_min {
            return Err(Error::corrupt(path, "tokenizer: invalid n-gram range"));
        }
        let table = CharTable::new(&pre.char_table.clone().unwrap_or_default(), path)?;
        let defer_rule = DeferRule::of(&pre, path)?;
        let hashed_allowed = pre.required_features.iter().any(|f| f == crate::HASHED_VOCABULARY);
        let tfidf = Tfidf::new(tfidf_spec, path, hashed_allowed)?;
        let sig = pre.onnx.clone().unwrap_or_default();
        let model_path = bundle.model_path.as_path();
        if sig.num_features as usize != tfidf.len() {
            return Err(Error::mismatch(
                model_path,
                format!(
                    "model has {} feature rows, vocabulary has {} terms",
                    sig.num_features,
                    tfidf.len()
                ),
            ));
        }
        let native = match evaluator {
            Evaluator::Auto => LinearModel::recognize(
                &bundle.model,
                &Signature {
                    indices: &sig.indices_input,
                    values: &sig.values_input,
                    logits: &sig.logits_output,
                    probabilities: &sig.probabilities_output,
                    features: tfidf.len(),
                },
                model_path,
            )?,
            Evaluator::Tract => None,
        };
        let scorer = match native {
            Some(linear) => Scorer::Native(linear),
            #[cfg(feature = "tract")]
            None => Scorer::Tract(Engine::load(
                &bundle.model,
                &[sig.indices_input.as_str(), sig.values_input.as_str()],
                &[sig.probabilities_output.as_str(), sig.logits_output.as_str()],
                model_path,
            )?),
            #[cfg(not(feature = "tract"))]
            None => {
                return Err(Error::Unsupported {
                    path: model_path.to_path_buf(),
                    problem: "the graph is not the forge's linear model, and this build has no ONNX engine \
                              (enable cerebellum's `tract` feature)"
                        .into(),
                })
            }
        };
        let mut classifier = TextClassifier {
            task: pre.task.clone(),
            labels,
            table,
            tokenizer: Tokenizer::new(&spec),
            tfidf,
            scorer,
            logit_width: 0,
            defer_rule,
            preprocessor: pre,
        };
        classifier.probe(sig.num_features, model_path)?;
        Ok(classifier)
    }

    fn probe(&mut self, num_features: u32, path: &Path) -> Result<()> {
        let last = i64::from(num_features) - 1;
        let (probabilities, logits) = self
            .run(&[SparseVector {
                indices: vec![last],
                values: vec![0.0],
            }])
            .map_err(|e| Error::mismatch(path, format!("model rejects the preprocessor's features: {e}")))?;
        if probabilities.len() != self.labels.len() {
            return Err(Error::mismatch(
                path,
                format!(
                    "model outputs {} scores per text, the preprocessor names {} labels",
                    probabilities.len(),
                    self.labels.len()
                ),
            ));
        }
        if probabilities.iter().chain(logits.iter()).any(|v| !v.is_finite()) {
            return Err(Error::mismatch(
                path,
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
            #[cfg(feature = "tract")]
            Scorer::Tract(engine) => {
                let (indices, values, width) = Self::feed(vectors);
                let rows = vectors.len();
                let outputs = engine.run(tvec(
                    int64_tensor(&[rows, width], indices)?,
                    f32_tensor(&[rows, width], values)?,
                ))?;
                let (p_shape, probabilities) = floats(&outputs[0])?;
                let (l_shape, logits) = floats(&outputs[1])?;
                if p_shape.first() != Some(&rows) || l_shape.first() != Some(&rows) {
                    return Err(Error::Inference(format!(
                        "unexpected output shapes {p_shape:?} and {l_shape:?}"
                    )));
                }
                Ok((probabilities, logits))
            }
        }
    }

    /// How the linear model is evaluated: `Some(format)` of the weights when natively, `None` with tract.
    pub fn native_weights(&self) -> Option<WeightFormat> {
        match &self.scorer {
            Scorer::Native(linear) => Some(linear.format()),
            #[cfg(feature = "tract")]
            Scorer::Tract(_) => None,
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
        prost::Message::encode_to_vec(&self.preprocessor)
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
        with_scratch(|scratch| {
            self.vectorize_into(text, scratch);
            scratch.vector.clone()
        })
    }

    fn vectorize_into(&self, text: &str, scratch: &mut Scratch) {
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
    }

    /// Scores of one text into `scratch.scores`, natively; false when tract serves this bundle.
    fn native_scores(&self, text: &str, scratch: &mut Scratch) -> bool {
        #[cfg_attr(not(feature = "tract"), allow(irrefutable_let_patterns))]
        let Scorer::Native(linear) = &self.scorer
        else {
            return false;
        };
        self.vectorize_into(text, scratch);
        linear.logits_into(&scratch.vector, &mut scratch.tmp, &mut scratch.logits);
        linear.scores_into(&scratch.logits, &mut scratch.tmp, &mut scratch.scores);
        true
    }

    #[cfg(feature = "tract")]
    fn feed(vectors: &[SparseVector]) -> (Vec<i64>, Vec<f32>, usize) {
        let width = vectors.iter().map(SparseVector::len).max().unwrap_or(0).max(1);
        let mut indices = vec![0i64; vectors.len() * width];
        let mut values = vec![0.0f32; vectors.len() * width];
        for (row, v) in vectors.iter().enumerate() {
            indices[row * width..row * width + v.len()].copy_from_slice(&v.indices);
            values[row * width..row * width + v.len()].copy_from_slice(&v.values);
        }
        (indices, values, width)
    }

    /// Scores (probabilities for logistic regression) and raw logits for each text.
    pub fn scores_batch(&self, texts: &[&str]) -> Result<BatchScores> {
        if texts.is_empty() {
            return Ok(BatchScores::default());
        }
        let vectors: Vec<SparseVector> = texts.iter().map(|t| self.vectorize(t)).collect();
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
        if let Some(scores) = with_scratch(|scratch| self.native_scores(text, scratch).then(|| scratch.scores.clone()))
        {
            return Ok(scores);
        }
        Ok(self.run(std::slice::from_ref(&self.vectorize(text)))?.0)
    }

    /// Scores for many texts: one row per text.
    pub fn predict_proba_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(self.scores_batch(texts)?.probabilities)
    }

    /// Raw decision values for one text.
    pub fn decision_function(&self, text: &str) -> Result<Vec<f32>> {
        Ok(self.run(std::slice::from_ref(&self.vectorize(text)))?.1)
    }

    /// The bundle's defer rule, if it has one.
    pub fn defer_rule(&self) -> Option<DeferRule> {
        self.defer_rule
    }

    /// The label, all scores and the defer decision of one text.
    pub fn classify(&self, text: &str) -> Result<Classification> {
        let scores = self.predict_proba(text)?;
        let label_index = first_max(&scores);
        Ok(Classification {
            label_index,
            label: self.labels[label_index].clone(),
            defer: self.defer_rule.is_some_and(|rule| rule.defers(&scores)),
            scores,
        })
    }

    /// The predicted label of one text.
    pub fn predict(&self, text: &str) -> Result<&str> {
        let native = with_scratch(|scratch| self.native_scores(text, scratch).then(|| first_max(&scratch.scores)));
        let best = match native {
            Some(best) => best,
            None => first_max(&self.predict_proba(text)?),
        };
        Ok(&self.labels[best])
    }
}

/// The buffers one query needs, kept per thread so that the native path allocates
/// nothing but its answer.
#[derive(Default)]
struct Scratch {
    scan: Scan,
    term: String,
    counts: Vec<(u32, u32)>,
    vector: SparseVector,
    tmp: Vec<f64>,
    logits: Vec<f32>,
    scores: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// `f` with this thread's scratch buffers, or with fresh ones when those are in use
/// (a nested call) or gone (the thread is exiting).
fn with_scratch<T>(mut f: impl FnMut(&mut Scratch) -> T) -> T {
    SCRATCH
        .try_with(|cell| cell.try_borrow_mut().ok().map(|mut scratch| f(&mut scratch)))
        .ok()
        .flatten()
        .unwrap_or_else(|| f(&mut Scratch::default()))
}

#[cfg(feature = "tract")]
fn tvec(
    a: tract_onnx::prelude::TValue,
    b: tract_onnx::prelude::TValue,
) -> tract_onnx::prelude::TVec<tract_onnx::prelude::TValue> {
    let mut v = tract_onnx::prelude::TVec::new();
    v.push(a);
    v.push(b);
    v
}
