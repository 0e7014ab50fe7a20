//! Sequence taggers: character units -> emissions -> CRF Viterbi -> entities. The emissions
//! come from the native BiLSTM evaluator when the graph is the forge's (see `lstm.rs`),
//! from tract otherwise.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use tract_onnx::prelude::TVec;

use crate::bundle::BundleData;
use crate::chartable::CharTable;
use crate::engine::{floats, int64_tensor, Engine};
use crate::error::{Error, Result};
use crate::proto;
use crate::tokenizer::Token;
use crate::units::char_units;
use crate::viterbi::viterbi;
use crate::Evaluator;
use cerebellum_core::internal::lstm::{self, BiLstmEmitter};

/// Reserved vocabulary entries.
pub const PAD: &str = "<pad>";
/// See [`PAD`].
pub const UNK: &str = "<unk>";

/// One unit with its tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaggedToken {
    /// The original characters of the unit.
    pub text: String,
    /// Code point offsets into the original text.
    pub start: usize,
    /// See `start`.
    pub end: usize,
    /// The tag ("O", "B-X", "I-X").
    pub tag: String,
}

/// An entity found in a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entity {
    /// Entity type, e.g. "PERS".
    pub kind: String,
    /// Code point offsets into the original text: `text.chars().skip(start).take(end - start)`.
    pub start: usize,
    /// See `start`.
    pub end: usize,
    /// Byte offsets into the original text: `&text[byte_start..byte_end]`.
    pub byte_start: usize,
    /// See `byte_start`.
    pub byte_end: usize,
    /// The entity's original text.
    pub text: String,
}

/// What [`TextTagger::analyze`] computes for one text.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    /// Character units with code point offsets.
    pub units: Vec<Token>,
    /// Vocabulary ids of the units.
    pub ids: Vec<i64>,
    /// Emission scores, row-major `[units, tags]`.
    pub emissions: Vec<f32>,
    /// The Viterbi path: one tag index per unit.
    pub path: Vec<usize>,
    /// Entities read off the path.
    pub entities: Vec<Entity>,
}

/// A loaded sequence tagging bundle.
pub struct TextTagger {
    task: String,
    tags: Vec<String>,
    entity_types: Vec<String>,
    table: CharTable,
    ids: HashMap<String, i64>,
    vocabulary_len: usize,
    transitions: Vec<f32>,
    start: Vec<f32>,
    end: Vec<f32>,
    emitter: Emitter,
    preprocessor: proto::Preprocessor,
}

/// What computes the emissions.
enum Emitter {
    /// The native evaluator: no tract plan is built.
    Native(Box<BiLstmEmitter>),
    Tract(Engine),
}

/// A summary: what the tagger is, not its vocabulary, transitions or weights.
impl std::fmt::Debug for TextTagger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTagger")
            .field("task", &self.task)
            .field("tags", &self.tags)
            .field("entity_types", &self.entity_types)
            .field("vocabulary_len", &self.vocabulary_len)
            .field(
                "evaluator",
                &match self.emitter {
                    Emitter::Native(_) => "native BiLSTM",
                    Emitter::Tract(_) => "tract",
                },
            )
            .finish_non_exhaustive()
    }
}

fn entity_types(tags: &[String], path: &Path) -> Result<Vec<String>> {
    let mut types: Vec<String> = Vec::new();
    for tag in tags {
        if tag == "O" {
            continue;
        }
        match tag.split_once('-') {
            Some(("B" | "I", kind)) if !kind.is_empty() => {
                if !types.iter().any(|t| t == kind) {
                    types.push(kind.to_owned());
                }
            }
            _ => return Err(Error::corrupt(path, format!("tag {tag:?} is not O, B-TYPE or I-TYPE"))),
        }
    }
    if !tags.iter().any(|t| t == "O") {
        return Err(Error::corrupt(path, "the tag set has no O tag"));
    }
    Ok(types)
}

impl TextTagger {
    pub(crate) fn new(bundle: BundleData<'_>, evaluator: Evaluator) -> Result<Self> {
        let pre = bundle.preprocessor;
        let path = bundle.preprocessor_path.as_path();
        let spec = pre
            .tagger
            .as_ref()
            .ok_or_else(|| Error::corrupt(path, "a sequence tagging bundle needs a tagger section"))?;
        // A tagger has no defer rule: refuse one that claims it.
        crate::defer::DeferRule::of(&pre, path)?;
        let tags = pre.labels.clone();
        let mut unique = tags.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != tags.len() {
            return Err(Error::corrupt(path, "the tag set holds a tag twice"));
        }
        let types = entity_types(&tags, path)?;
        let n = tags.len();
        if spec.transitions.len() != n * n || spec.start.len() != n || spec.end.len() != n {
            return Err(Error::corrupt(path, format!("CRF scores do not fit {n} tags")));
        }
        for (name, values) in [
            ("transitions", &spec.transitions),
            ("start", &spec.start),
            ("end", &spec.end),
        ] {
            if values.iter().any(|v| !v.is_finite()) {
                return Err(Error::corrupt(path, format!("CRF {name} scores must be finite")));
            }
        }
        let vocabulary = &spec.vocabulary;
        if vocabulary.len() < 2 || vocabulary[0] != PAD || vocabulary[1] != UNK || spec.unknown_id != 1 {
            return Err(Error::corrupt(
                path,
                "tagger vocabulary must start with <pad>, <unk> and unknown_id must be 1",
            ));
        }
        let mut ids = HashMap::with_capacity(vocabulary.len());
        for (i, key) in (0i64..).zip(vocabulary) {
            if ids.insert(key.clone(), i).is_some() {
                return Err(Error::corrupt(path, "tagger vocabulary holds a key twice"));
            }
        }
        let table = CharTable::new(&pre.char_table.clone().unwrap_or_default(), path)?;
        let sig = pre.onnx.clone().unwrap_or_default();
        let model_path = bundle.model_path.as_path();
        let native = match evaluator {
            Evaluator::Auto => BiLstmEmitter::recognize(&bundle.model, &sig.ids_input, &sig.emissions_output),
            Evaluator::Tract => None,
        };
        let emitter = match native {
            Some(native) => Emitter::Native(Box::new(native)),
            None => Emitter::Tract(Engine::load(
                &bundle.model,
                &[sig.ids_input.as_str()],
                &[sig.emissions_output.as_str()],
                model_path,
            )?),
        };
        let tagger = TextTagger {
            task: pre.task.clone(),
            tags,
            entity_types: types,
            table,
            ids,
            vocabulary_len: vocabulary.len(),
            transitions: spec.transitions.clone(),
            start: spec.start.clone(),
            end: spec.end.clone(),
            emitter,
            preprocessor: pre,
        };
        tagger.probe(model_path)?;
        Ok(tagger)
    }

    /// One run on the largest and the smallest id: the model reads every id the
    /// preprocessor gives, emits one score per tag, and finite ones.
    fn probe(&self, path: &Path) -> Result<()> {
        let last = i64::try_from(self.vocabulary_len).unwrap_or(i64::MAX) - 1;
        let emissions = self
            .run(&[last, 0])
            .map_err(|e| Error::mismatch(path, format!("model rejects the preprocessor's unit ids: {e}")))?;
        if emissions.len() != 2 * self.tags.len() {
            return Err(Error::mismatch(
                path,
                format!(
                    "model emits {} scores per unit, the preprocessor names {} tags",
                    emissions.len() / 2,
                    self.tags.len()
                ),
            ));
        }
        if emissions.iter().any(|v| !v.is_finite()) {
            return Err(Error::mismatch(
                path,
                "model produced non-finite emission scores for the probe input",
            ));
        }
        Ok(())
    }

    fn run(&self, ids: &[i64]) -> Result<Vec<f32>> {
        let engine = match &self.emitter {
            Emitter::Native(native) => {
                let mut emissions = Vec::with_capacity(ids.len() * native.tags());
                return with_scratch(|scratch| native.emissions_into(ids, scratch, &mut emissions))
                    .map(|()| emissions)
                    .map_err(|e| Error::Inference(e.to_string()));
            }
            Emitter::Tract(engine) => engine,
        };
        let n = ids.len();
        let mut inputs = TVec::new();
        inputs.push(int64_tensor(&[1, n], ids.to_vec())?);
        let outputs = engine.run(inputs)?;
        let (shape, data) = floats(&outputs[0])?;
        if shape.len() != 3 || shape[0] != 1 || shape[1] != n {
            return Err(Error::Inference(format!("unexpected emissions shape {shape:?}")));
        }
        Ok(data)
    }

    /// Task name.
    pub fn task(&self) -> &str {
        &self.task
    }

    /// Tags in emission column order.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// Entity types, in the order their tags first appear.
    pub fn entity_types(&self) -> &[String] {
        &self.entity_types
    }

    /// The bundle's preprocessor (provenance, metrics, specs) as a serialized
    /// `cerebellum.v1.Preprocessor` message (`proto/cerebellum/v1/bundle.proto`):
    /// parse it with any protobuf library and that schema.
    pub fn preprocessor_bytes(&self) -> Vec<u8> {
        prost::Message::encode_to_vec(&self.preprocessor)
    }

    /// Character units with offsets (code points) into `text`.
    pub fn units(&self, text: &str) -> Vec<Token> {
        char_units(&self.table, text)
    }

    /// Unit ids as the model reads them.
    pub fn encode(&self, text: &str) -> Vec<i64> {
        self.ids_of(&self.units(text))
    }

    fn ids_of(&self, units: &[Token]) -> Vec<i64> {
        units
            .iter()
            .map(|u| self.ids.get(&u.text).copied().unwrap_or(1))
            .collect()
    }

    /// Emission scores, row-major `[units, tags]`.
    pub fn emissions(&self, text: &str) -> Result<Vec<f32>> {
        self.emissions_of(&self.encode(text))
    }

    fn emissions_of(&self, ids: &[i64]) -> Result<Vec<f32>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let emissions = self.run(ids)?;
        if emissions.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!(
                "{}: the model produced non-finite emission scores",
                self.task
            )));
        }
        Ok(emissions)
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
        let units = self.units(text);
        let ids = self.ids_of(&units);
        let emissions = self.emissions_of(&ids)?;
        let path = if units.is_empty() {
            Vec::new()
        } else {
            viterbi(&emissions, self.tags.len(), &self.transitions, &self.start, &self.end)?
        };
        let entities = self.entities(text, &units, &path);
        Ok(Analysis {
            units,
            ids,
            emissions,
            path,
            entities,
        })
    }

    /// The Viterbi path as tag indices, one per unit.
    pub fn tag_ids(&self, text: &str) -> Result<Vec<usize>> {
        Ok(self.analyze(text)?.path)
    }

    /// Every unit with its tag.
    pub fn tag_tokens(&self, text: &str) -> Result<Vec<TaggedToken>> {
        let Analysis { units, path, .. } = self.analyze(text)?;
        let chars: Vec<char> = text.chars().collect();
        Ok(units
            .iter()
            .zip(path)
            .map(|(u, t)| TaggedToken {
                text: chars[u.start..u.end].iter().collect(),
                start: u.start,
                end: u.end,
                tag: self.tags[t].clone(),
            })
            .collect())
    }

    /// Entities with their type and offsets into `text`.
    pub fn tag(&self, text: &str) -> Result<Vec<Entity>> {
        Ok(self.analyze(text)?.entities)
    }

    fn entities(&self, text: &str, units: &[Token], path: &[usize]) -> Vec<Entity> {
        let mut spans: Vec<(String, usize, usize)> = Vec::new();
        let mut open = false;
        for (unit, &t) in units.iter().zip(path) {
            let tag = &self.tags[t];
            if tag == "O" {
                open = false;
                continue;
            }
            let (prefix, kind) = tag.split_once('-').unwrap_or(("B", tag));
            match spans.last_mut() {
                Some(last) if open && prefix == "I" && last.0 == kind => last.2 = unit.end,
                _ => spans.push((kind.to_owned(), unit.start, unit.end)),
            }
            open = true;
        }
        let byte_offsets: Vec<usize> = text
            .char_indices()
            .map(|(b, _)| b)
            .chain(std::iter::once(text.len()))
            .collect();
        spans
            .into_iter()
            .map(|(kind, start, end)| {
                let (byte_start, byte_end) = (byte_offsets[start], byte_offsets[end]);
                Entity {
                    kind,
                    start,
                    end,
                    byte_start,
                    byte_end,
                    text: text[byte_start..byte_end].to_owned(),
                }
            })
            .collect()
    }
}

thread_local! {
    static SCRATCH: RefCell<lstm::Scratch> = RefCell::new(lstm::Scratch::default());
}

/// `f` with this thread's buffers for the native evaluator, or with fresh ones when
/// those are in use (a nested call) or gone (the thread is exiting).
fn with_scratch<T>(mut f: impl FnMut(&mut lstm::Scratch) -> T) -> T {
    SCRATCH
        .try_with(|cell| cell.try_borrow_mut().ok().map(|mut scratch| f(&mut scratch)))
        .ok()
        .flatten()
        .unwrap_or_else(|| f(&mut lstm::Scratch::default()))
}
