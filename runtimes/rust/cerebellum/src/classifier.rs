//! Text classifiers: the core's, with tract as the engine for graphs the native
//! evaluator does not know, per-thread scratch buffers and errors that name paths.

use std::cell::RefCell;

use cerebellum_core::{Bundle, Scratch};

use crate::error::{Error, LoadError, Locations, Result};
use crate::{BatchScores, Classification, DeferRule, Evaluator, SparseVector, Token, WeightFormat};

/// A loaded text classification bundle.
pub struct TextClassifier {
    core: cerebellum_core::TextClassifier,
}

/// A summary: what the classifier is, not its vocabulary or weights.
impl std::fmt::Debug for TextClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.core.fmt(f)
    }
}

impl TextClassifier {
    pub(crate) fn new(bundle: Bundle<'_>, at: &Locations, evaluator: Evaluator) -> Result<Self> {
        let native = evaluator == Evaluator::Auto;
        let core = cerebellum_core::TextClassifier::with_engine(bundle, native, |request| {
            #[cfg(feature = "tract")]
            {
                tract::TractClassifier::load(request, &at.model).map_err(LoadError::Engine)
            }
            #[cfg(not(feature = "tract"))]
            {
                let _ = request;
                Err(LoadError::Core(cerebellum_core::Error::Unsupported {
                    file: cerebellum_core::BundleFile::Model,
                    problem: "the graph is not the forge's linear model, and this build has no ONNX engine \
                              (enable cerebellum's `tract` feature)"
                        .into(),
                }))
            }
        });
        match core {
            Ok(core) => Ok(TextClassifier { core }),
            Err(e) => Err(e.located(at)),
        }
    }

    /// The core classifier this one wraps (tract, when it evaluates the graph, is its engine):
    /// for code shared with `no_std` builds, such as the conformance testees' answers.
    pub fn as_core(&self) -> &cerebellum_core::TextClassifier {
        &self.core
    }

    /// How the linear model is evaluated: `Some(format)` of the weights when natively, `None` with tract.
    pub fn native_weights(&self) -> Option<WeightFormat> {
        self.core.native_weights()
    }

    /// Task name.
    pub fn task(&self) -> &str {
        self.core.task()
    }

    /// Label names in output order.
    pub fn labels(&self) -> &[String] {
        self.core.labels()
    }

    /// The bundle's preprocessor (provenance, metrics, specs) as a serialized
    /// `cerebellum.v1.Preprocessor` message (`proto/cerebellum/v1/bundle.proto`), packed
    /// sections expanded: parse it with any protobuf library and that schema.
    pub fn preprocessor_bytes(&self) -> Vec<u8> {
        self.core.preprocessor_bytes()
    }

    /// Tokens with offsets (code points) into `text`.
    pub fn tokenize(&self, text: &str) -> Vec<Token> {
        self.core.tokenize(text)
    }

    /// The n-gram terms of `text`.
    pub fn terms(&self, text: &str) -> Vec<String> {
        self.core.terms(text)
    }

    /// The TF-IDF vector of `text`.
    pub fn vectorize(&self, text: &str) -> SparseVector {
        with_scratch(|scratch| self.core.vectorize_with(text, scratch).clone())
    }

    /// Scores (probabilities for logistic regression) and raw logits for each text.
    pub fn scores_batch(&self, texts: &[&str]) -> Result<BatchScores> {
        self.core.scores_batch(texts).map_err(Error::of_call)
    }

    /// Scores of every label for one text, in label order.
    pub fn predict_proba(&self, text: &str) -> Result<Vec<f32>> {
        with_scratch(|scratch| self.core.predict_proba_with(text, scratch).map(<[f32]>::to_vec)).map_err(Error::of_call)
    }

    /// Scores for many texts: one row per text.
    pub fn predict_proba_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(self.scores_batch(texts)?.probabilities)
    }

    /// Raw decision values for one text.
    pub fn decision_function(&self, text: &str) -> Result<Vec<f32>> {
        with_scratch(|scratch| self.core.decision_function_with(text, scratch).map(<[f32]>::to_vec))
            .map_err(Error::of_call)
    }

    /// The bundle's defer rule, if it has one.
    pub fn defer_rule(&self) -> Option<DeferRule> {
        self.core.defer_rule()
    }

    /// The label, all scores and the defer decision of one text.
    pub fn classify(&self, text: &str) -> Result<Classification> {
        with_scratch(|scratch| self.core.classify_with(text, scratch)).map_err(Error::of_call)
    }

    /// The predicted label of one text.
    pub fn predict(&self, text: &str) -> Result<&str> {
        with_scratch(|scratch| self.core.predict_with(text, scratch)).map_err(Error::of_call)
    }
}

thread_local! {
    /// The buffers of one query, kept per thread so that the native path allocates
    /// nothing but its answer.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn with_scratch<T>(f: impl FnMut(&mut Scratch) -> T) -> T {
    crate::scratch::with_thread_scratch(&SCRATCH, f)
}

/// tract as the core's engine for classifier graphs it does not evaluate natively.
#[cfg(feature = "tract")]
mod tract {
    use std::path::Path;

    use cerebellum_core::{ClassifierEngine, EngineRequest, SparseVector};
    use tract_onnx::prelude::{TValue, TVec};

    use crate::engine::{f32_tensor, floats, int64_tensor, Engine};
    use crate::error::{Error, Result};

    pub(super) struct TractClassifier(Engine);

    impl TractClassifier {
        pub(super) fn load(request: &EngineRequest<'_>, model_path: &Path) -> Result<Box<dyn ClassifierEngine>> {
            let engine = Engine::load(
                request.model,
                &[request.indices_input, request.values_input],
                &[request.probabilities_output, request.logits_output],
                model_path,
            )?;
            Ok(Box::new(TractClassifier(engine)))
        }

        /// The padded `[rows, width]` inputs of sparse vectors.
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

        fn run_tract(&self, vectors: &[SparseVector]) -> Result<(Vec<f32>, Vec<f32>)> {
            let (indices, values, width) = Self::feed(vectors);
            let rows = vectors.len();
            let mut inputs: TVec<TValue> = TVec::new();
            inputs.push(int64_tensor(&[rows, width], indices)?);
            inputs.push(f32_tensor(&[rows, width], values)?);
            let outputs = self.0.run(inputs)?;
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

    impl ClassifierEngine for TractClassifier {
        fn run(&self, vectors: &[SparseVector]) -> cerebellum_core::Result<(Vec<f32>, Vec<f32>)> {
            // Every error of a run is an inference error: it names no file.
            self.run_tract(vectors)
                .map_err(|e| cerebellum_core::Error::Inference(crate::error::inference_message(e)))
        }

        fn name(&self) -> &str {
            "tract"
        }
    }
}
