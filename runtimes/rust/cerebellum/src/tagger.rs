//! Sequence taggers: the core's, with tract as the engine for graphs the native BiLSTM
//! evaluator does not know, per-thread scratch buffers and errors that name paths.

use std::cell::RefCell;

use cerebellum_core::{Bundle, TaggerScratch};

use crate::error::{Error, LoadError, Locations, Result};
use crate::{Analysis, Entity, Evaluator, TaggedToken, Token};

/// A loaded sequence tagging bundle.
pub struct TextTagger {
    core: cerebellum_core::TextTagger,
}

/// A summary: what the tagger is, not its vocabulary, transitions or weights.
impl std::fmt::Debug for TextTagger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.core.fmt(f)
    }
}

impl TextTagger {
    pub(crate) fn new(bundle: Bundle<'_>, at: &Locations, evaluator: Evaluator) -> Result<Self> {
        let native = evaluator == Evaluator::Auto;
        let core = cerebellum_core::TextTagger::with_engine(bundle, native, |request| {
            #[cfg(feature = "tract")]
            {
                tract::TractTagger::load(request, &at.model).map_err(LoadError::Engine)
            }
            #[cfg(not(feature = "tract"))]
            {
                let _ = request;
                Err(LoadError::Core(cerebellum_core::Error::Unsupported {
                    file: cerebellum_core::BundleFile::Model,
                    problem: "the graph is not the forge's embedding + BiLSTM + linear form, and this build has \
                              no ONNX engine (enable cerebellum's `tract` feature)"
                        .into(),
                }))
            }
        });
        match core {
            Ok(mut core) => {
                // a host has the memory: a third less arithmetic per call
                core.tabulate_projections();
                Ok(TextTagger { core })
            }
            Err(e) => Err(e.located(at)),
        }
    }

    /// The core tagger this one wraps (tract, when it computes the emissions, is its engine):
    /// for code shared with `no_std` builds, such as the conformance testees' answers.
    pub fn as_core(&self) -> &cerebellum_core::TextTagger {
        &self.core
    }

    /// Task name.
    pub fn task(&self) -> &str {
        self.core.task()
    }

    /// Tags in emission column order.
    pub fn tags(&self) -> &[String] {
        self.core.tags()
    }

    /// What computes the emissions: `"native BiLSTM"` for the forge's graph forms, else `"tract"`.
    pub fn evaluator(&self) -> &str {
        self.core.evaluator()
    }

    /// Entity types, in the order their tags first appear.
    pub fn entity_types(&self) -> &[String] {
        self.core.entity_types()
    }

    /// The bundle's preprocessor (provenance, metrics, specs) as a serialized
    /// `cerebellum.v1.Preprocessor` message (`proto/cerebellum/v1/bundle.proto`):
    /// parse it with any protobuf library and that schema.
    pub fn preprocessor_bytes(&self) -> Vec<u8> {
        self.core.preprocessor_bytes()
    }

    /// Character units with offsets (code points) into `text`.
    pub fn units(&self, text: &str) -> Vec<Token> {
        self.core.units(text)
    }

    /// Unit ids as the model reads them.
    pub fn encode(&self, text: &str) -> Vec<i64> {
        self.core.encode(text)
    }

    /// Emission scores, row-major `[units, tags]`.
    pub fn emissions(&self, text: &str) -> Result<Vec<f32>> {
        with_scratch(|scratch| self.core.emissions_with(text, scratch).map(<[f32]>::to_vec)).map_err(Error::of_call)
    }

    /// Everything the tagger computes for `text`, from a single model run:
    /// units, ids, emissions, the Viterbi path and the entities.
    ///
    /// ```no_run
    /// let model = cerebellum::load("models/ner_core_entity")?;
    /// let tagger = model.as_tagger().expect("a tagging bundle");
    /// let analysis = tagger.analyze("帮我约李经理周五见面")?;
    /// assert_eq!(analysis.units.len(), analysis.path.len());
    /// assert_eq!(analysis.emissions.len(), analysis.units.len() * tagger.tags().len());
    /// # Ok::<(), cerebellum::Error>(())
    /// ```
    pub fn analyze(&self, text: &str) -> Result<Analysis> {
        with_scratch(|scratch| self.core.analyze_with(text, scratch)).map_err(Error::of_call)
    }

    /// The Viterbi path as tag indices, one per unit.
    pub fn tag_ids(&self, text: &str) -> Result<Vec<usize>> {
        Ok(self.analyze(text)?.path)
    }

    /// Every unit with its tag.
    pub fn tag_tokens(&self, text: &str) -> Result<Vec<TaggedToken>> {
        self.core.tag_tokens(text).map_err(Error::of_call)
    }

    /// Entities with their type and offsets into `text`.
    pub fn tag(&self, text: &str) -> Result<Vec<Entity>> {
        with_scratch(|scratch| self.core.tag_with(text, scratch)).map_err(Error::of_call)
    }
}

thread_local! {
    /// The buffers of one call, kept per thread so that calls reuse them.
    static SCRATCH: RefCell<TaggerScratch> = RefCell::new(TaggerScratch::default());
}

fn with_scratch<T>(f: impl FnMut(&mut TaggerScratch) -> T) -> T {
    crate::scratch::with_thread_scratch(&SCRATCH, f)
}

/// tract as the core's engine for tagger graphs the native evaluator does not know.
#[cfg(feature = "tract")]
mod tract {
    use std::path::Path;

    use cerebellum_core::{TaggerEngine, TaggerEngineRequest};
    use tract_onnx::prelude::TVec;

    use crate::engine::{floats, int64_tensor, Engine};
    use crate::error::{Error, Result};

    pub(super) struct TractTagger(Engine);

    impl TractTagger {
        pub(super) fn load(request: &TaggerEngineRequest<'_>, model_path: &Path) -> Result<Box<dyn TaggerEngine>> {
            let mut inputs = vec![request.ids_input];
            if let Some((before, after)) = request.bigram_inputs {
                inputs.extend([before, after]);
            }
            inputs.extend(request.lexicon_input);
            let engine = Engine::load(request.model, &inputs, &[request.emissions_output], model_path)?;
            Ok(Box::new(TractTagger(engine)))
        }

        fn run(&self, ids: &[i64], bigrams: Option<(&[i64], &[i64])>, lexicon: Option<&[i64]>) -> Result<Vec<f32>> {
            let n = ids.len();
            let mut inputs = TVec::new();
            inputs.push(int64_tensor(&[1, n], ids.to_vec())?);
            if let Some((before, after)) = bigrams {
                for side in [before, after] {
                    if side.len() != n {
                        return Err(Error::Inference(format!("{} bigram ids for {n} units", side.len())));
                    }
                    inputs.push(int64_tensor(&[1, n], side.to_vec())?);
                }
            }
            if let Some(words) = lexicon {
                if words.len() != n {
                    return Err(Error::Inference(format!("{} lexicon ids for {n} units", words.len())));
                }
                inputs.push(int64_tensor(&[1, n], words.to_vec())?);
            }
            let outputs = self.0.run(inputs)?;
            let (shape, data) = floats(&outputs[0])?;
            if shape.len() != 3 || shape[0] != 1 || shape[1] != n {
                return Err(Error::Inference(format!("unexpected emissions shape {shape:?}")));
            }
            Ok(data)
        }
    }

    impl TaggerEngine for TractTagger {
        fn emissions(
            &self,
            ids: &[i64],
            bigrams: Option<(&[i64], &[i64])>,
            lexicon: Option<&[i64]>,
        ) -> cerebellum_core::Result<Vec<f32>> {
            // Every error of a run is an inference error: it names no file.
            self.run(ids, bigrams, lexicon)
                .map_err(|e| cerebellum_core::Error::Inference(crate::error::inference_message(e)))
        }

        fn name(&self) -> &str {
            "tract"
        }
    }
}
