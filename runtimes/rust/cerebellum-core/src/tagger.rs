//! Sequence taggers: character units -> ids -> emissions -> CRF Viterbi -> entities
//! (spec sections 7 and 8). The emissions come from the native BiLSTM evaluator when the
//! graph is the forge's embedding + BiLSTM + linear form, from a caller's
//! [`TaggerEngine`] otherwise.

use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::bigrams::BigramIndex;
use crate::bundle::Bundle;
use crate::chartable::CharTable;
use crate::defer::DeferRule;
use crate::error::{BundleFile, Error, Result};
use crate::lexicon::{Lexicon, LEXICON_IDS};
use crate::lstm::{self, BiLstmEmitter};
use crate::proto;
use crate::tokenizer::Token;
use crate::units::char_units_into;
use crate::viterbi::viterbi;

/// The reserved vocabulary entry of padding (id 0).
const PAD: &str = "<pad>";
/// The reserved vocabulary entry of unknown units (id 1).
const UNK: &str = "<unk>";
/// The id of units the vocabulary does not hold.
const UNKNOWN_ID: i64 = 1;

type IdMap = hashbrown::HashMap<String, i64, core::hash::BuildHasherDefault<crate::tfidf::Fnv>>;

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

/// What computes a tagger's emissions when the native evaluator does not: an ONNX engine
/// (the `cerebellum` crate's tract). Errors of [`TaggerEngine::emissions`] are
/// [`Error::Inference`].
pub trait TaggerEngine: Send + Sync {
    /// Emission scores of `ids` (one sequence), row-major `[ids.len(), tags]`. A tagger
    /// with character bigrams also gives the ids of the bigram that ends and of the one
    /// that starts at each unit, for the inputs [`TaggerEngineRequest::bigram_inputs`] names,
    /// and one with a word lexicon each unit's lexicon id, for
    /// [`TaggerEngineRequest::lexicon_input`].
    fn emissions(&self, ids: &[i64], bigrams: Option<(&[i64], &[i64])>, lexicon: Option<&[i64]>) -> Result<Vec<f32>>;

    /// The engine's name, for `Debug` output.
    fn name(&self) -> &str;
}

/// What a [`TaggerEngine`] is built from: the model and the names the preprocessor gives
/// its input and output.
#[derive(Debug)]
#[non_exhaustive]
pub struct TaggerEngineRequest<'a> {
    /// The bytes of `model.onnx`.
    pub model: &'a [u8],
    /// The int64 `[1, units]` input of unit ids.
    pub ids_input: &'a str,
    /// The float32 `[1, units, tags]` output of emission scores.
    pub emissions_output: &'a str,
    /// With character bigrams, the int64 `[1, units]` inputs of the bigrams that end and
    /// that start at each unit.
    pub bigram_inputs: Option<(&'a str, &'a str)>,
    /// With a word lexicon, the int64 `[1, units]` input of lexicon ids.
    pub lexicon_input: Option<&'a str>,
}

/// The buffers one tagging call needs: keep one per thread (or task) and pass it to the
/// `*_with` methods, so that calls reuse them instead of allocating.
#[derive(Debug, Default)]
pub struct TaggerScratch {
    key: String,
    units: Vec<Token>,
    ids: Vec<i64>,
    before: Vec<i64>,
    after: Vec<i64>,
    lexicon: Vec<i64>,
    emissions: Vec<f32>,
    path: Vec<usize>,
    lstm: lstm::Scratch,
}

/// What computes the emissions.
enum Emitter {
    /// The native evaluator.
    Native(Box<BiLstmEmitter>),
    Engine(Box<dyn TaggerEngine>),
}

/// A loaded sequence tagging bundle.
///
/// ```
/// use cerebellum_core::{Bundle, Limits, TaggerScratch, TextTagger};
///
/// // The crate's example tagger: units "a" and "b" (and unknown ones), tags O, B-X, I-X,
/// // a BiLSTM of two cells per direction; embedded as firmware would.
/// let bundle = Bundle::parse(
///     include_bytes!("../bundles/tiny_tagger/preprocessor.bin"),
///     include_bytes!("../bundles/tiny_tagger/model.onnx"),
///     &Limits::MICROCONTROLLER,
/// )?;
/// let tagger = TextTagger::new(bundle)?;
/// assert_eq!(tagger.tags(), ["O", "B-X", "I-X"]);
/// assert_eq!(tagger.encode("ab  c"), [2, 3, 4, 1]); // "a", "b", one separator unit, <unk>
///
/// let analysis = tagger.analyze("ab  c")?;
/// assert_eq!(analysis.emissions.len(), analysis.units.len() * tagger.tags().len());
/// assert_eq!(analysis.path.len(), analysis.units.len());
///
/// // With buffers reused from call to call.
/// let mut scratch = TaggerScratch::default();
/// let entities = tagger.tag_with("ab  c", &mut scratch)?;
/// assert_eq!(entities, analysis.entities);
/// # Ok::<(), cerebellum_core::Error>(())
/// ```
pub struct TextTagger {
    task: String,
    tags: Vec<String>,
    entity_types: Vec<String>,
    table: CharTable,
    ids: IdMap,
    vocabulary_len: usize,
    bigrams: Option<BigramIndex>,
    lexicon: Option<Lexicon>,
    transitions: Vec<f32>,
    start: Vec<f32>,
    end: Vec<f32>,
    emitter: Emitter,
    preprocessor: proto::Preprocessor,
}

/// A summary: what the tagger is, not its vocabulary, transitions or weights.
impl core::fmt::Debug for TextTagger {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TextTagger")
            .field("task", &self.task)
            .field("tags", &self.tags)
            .field("entity_types", &self.entity_types)
            .field("vocabulary_len", &self.vocabulary_len)
            .field("evaluator", &self.evaluator())
            .finish_non_exhaustive()
    }
}

/// The entity types of a tag set, in the order their tags first appear; every tag must be
/// `O`, `B-TYPE` or `I-TYPE`, and `O` must be one of them.
fn entity_types(tags: &[String]) -> Result<Vec<String>> {
    let file = BundleFile::Preprocessor;
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
            _ => return Err(Error::corrupt(file, format!("tag {tag:?} is not O, B-TYPE or I-TYPE"))),
        }
    }
    if !tags.iter().any(|t| t == "O") {
        return Err(Error::corrupt(file, "the tag set has no O tag"));
    }
    Ok(types)
}

impl TextTagger {
    /// A tagger evaluated natively; [`Error::Unsupported`] (on `model.onnx`) when the graph
    /// is not the forge's embedding + BiLSTM + linear form.
    pub fn new(bundle: Bundle<'_>) -> Result<Self> {
        Self::with_engine(bundle, true, |_| {
            Err(Error::Unsupported {
                file: BundleFile::Model,
                problem: "the graph is not the forge's embedding + BiLSTM + linear form, and this build has \
                          no ONNX engine (enable cerebellum's `tract` feature)"
                    .into(),
            })
        })
    }

    /// A tagger that computes its emissions natively when `native` is true and the graph is
    /// the forge's embedding + BiLSTM + linear form, and with the engine `engine` builds
    /// otherwise. `engine`'s error type is the caller's, so it can carry more than this crate's.
    pub fn with_engine<X: From<Error>>(
        bundle: Bundle<'_>,
        native: bool,
        engine: impl FnOnce(&TaggerEngineRequest<'_>) -> core::result::Result<Box<dyn TaggerEngine>, X>,
    ) -> core::result::Result<Self, X> {
        let file = BundleFile::Preprocessor;
        // Compact: a bundle naming the carried character table keeps it in flash, not on the heap.
        let (mut preprocessor, model, _) = bundle.into_compact_parts();
        let lexicon_spec = preprocessor.tagger.as_mut().and_then(|t| t.lexicon.take());
        let pre = &preprocessor;
        let spec = pre
            .tagger
            .as_ref()
            .ok_or_else(|| Error::corrupt(file, "a sequence tagging bundle needs a tagger section"))?;
        // A tagger has no defer rule: refuse one that claims it.
        DeferRule::of(pre)?;
        let tags = pre.labels.clone();
        let mut unique = tags.clone();
        unique.sort();
        unique.dedup();
        if unique.len() != tags.len() {
            return Err(Error::corrupt(file, "the tag set holds a tag twice").into());
        }
        let types = entity_types(&tags)?;
        let n = tags.len();
        if spec.transitions.len() != n * n || spec.start.len() != n || spec.end.len() != n {
            return Err(Error::corrupt(file, format!("CRF scores do not fit {n} tags")).into());
        }
        for (name, values) in [
            ("transitions", &spec.transitions),
            ("start", &spec.start),
            ("end", &spec.end),
        ] {
            if values.iter().any(|v| !v.is_finite()) {
                return Err(Error::corrupt(file, format!("CRF {name} scores must be finite")).into());
            }
        }
        let vocabulary = &spec.vocabulary;
        if vocabulary.len() < 2
            || vocabulary[0] != PAD
            || vocabulary[1] != UNK
            || i64::from(spec.unknown_id) != UNKNOWN_ID
        {
            return Err(Error::corrupt(
                file,
                "tagger vocabulary must start with <pad>, <unk> and unknown_id must be 1",
            )
            .into());
        }
        let mut ids = IdMap::with_capacity_and_hasher(vocabulary.len(), Default::default());
        for (i, key) in (0i64..).zip(vocabulary) {
            if ids.insert(key.clone(), i).is_some() {
                return Err(Error::corrupt(file, "tagger vocabulary holds a key twice").into());
            }
        }
        let bigrams = BigramIndex::of(pre, spec)?;
        let lexicon = Lexicon::of(pre, lexicon_spec)?;
        if lexicon.is_some() && bigrams.is_none() {
            return Err(Error::corrupt(file, "a tagger's lexicon needs character bigrams").into());
        }
        let table = CharTable::of_preprocessor(pre)?;
        let sig = pre.onnx.clone().unwrap_or_default();
        let bigram_inputs = bigrams
            .as_ref()
            .map(|_| (sig.bigrams_before_input.as_str(), sig.bigrams_after_input.as_str()));
        let lexicon_input = lexicon.as_ref().map(|_| sig.lexicon_input.as_str());
        let recognized = match native {
            true => BiLstmEmitter::recognize(
                &model,
                &sig.ids_input,
                bigram_inputs,
                lexicon_input,
                &sig.emissions_output,
            ),
            false => None,
        };
        let emitter = match recognized {
            Some(native) => Emitter::Native(Box::new(native)),
            None => Emitter::Engine(engine(&TaggerEngineRequest {
                model: &model,
                ids_input: &sig.ids_input,
                emissions_output: &sig.emissions_output,
                bigram_inputs,
                lexicon_input,
            })?),
        };
        let transitions = spec.transitions.clone();
        let (start, end) = (spec.start.clone(), spec.end.clone());
        let vocabulary_len = vocabulary.len();
        let tagger = TextTagger {
            task: preprocessor.task.clone(),
            tags,
            entity_types: types,
            table,
            ids,
            vocabulary_len,
            bigrams,
            lexicon,
            transitions,
            start,
            end,
            emitter,
            preprocessor,
        };
        tagger.probe()?;
        Ok(tagger)
    }

    /// One run on the largest and the smallest id: the model reads every id the
    /// preprocessor gives, emits one score per tag, and finite ones.
    fn probe(&self) -> Result<()> {
        let file = BundleFile::Model;
        let last = i64::try_from(self.vocabulary_len).unwrap_or(i64::MAX) - 1;
        let mut emissions = Vec::new();
        let (mut before, mut after) = (Vec::new(), Vec::new());
        let ids = [last, 0];
        let bigrams = self.bigram_ids(&ids, &mut before, &mut after);
        // the largest lexicon id too
        let words = [i64::try_from(LEXICON_IDS).unwrap_or(i64::MAX) - 1, 1];
        let lexicon = self.lexicon.as_ref().map(|_| &words[..]);
        self.run(&ids, bigrams, lexicon, &mut lstm::Scratch::default(), &mut emissions)
            .map_err(|e| Error::mismatch(file, format!("model rejects the preprocessor's unit ids: {e}")))?;
        if let Some(index) = &self.bigrams {
            // the largest bigram id too
            let top = i64::try_from(index.len()).unwrap_or(i64::MAX) - 1;
            self.run(
                &[0],
                Some((&[top], &[1])),
                self.lexicon.as_ref().map(|_| &[1][..]),
                &mut lstm::Scratch::default(),
                &mut Vec::new(),
            )
            .map_err(|e| Error::mismatch(file, format!("model rejects the preprocessor's bigram ids: {e}")))?;
        }
        if emissions.len() != 2 * self.tags.len() {
            return Err(Error::mismatch(
                file,
                format!(
                    "model emits {} scores per unit, the preprocessor names {} tags",
                    emissions.len() / 2,
                    self.tags.len()
                ),
            ));
        }
        if emissions.iter().any(|v| !v.is_finite()) {
            return Err(Error::mismatch(
                file,
                "model produced non-finite emission scores for the probe input",
            ));
        }
        Ok(())
    }

    /// The bigram ids of `ids` into `before` and `after`, when the tagger has bigrams.
    fn bigram_ids<'b>(
        &self,
        ids: &[i64],
        before: &'b mut Vec<i64>,
        after: &'b mut Vec<i64>,
    ) -> Option<(&'b [i64], &'b [i64])> {
        let index = self.bigrams.as_ref()?;
        index.ids_into(ids, before, after);
        Some((before.as_slice(), after.as_slice()))
    }

    /// The emissions of `ids` (and their bigram and lexicon ids) into `out` (replacing what it held).
    fn run(
        &self,
        ids: &[i64],
        bigrams: Option<(&[i64], &[i64])>,
        lexicon: Option<&[i64]>,
        scratch: &mut lstm::Scratch,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        match &self.emitter {
            Emitter::Native(native) => {
                out.clear();
                out.reserve(ids.len() * native.tags());
                native
                    .emissions_into(ids, bigrams, lexicon, scratch, out)
                    .map_err(|e| Error::Inference(e.to_string()))
            }
            Emitter::Engine(engine) => {
                *out = engine.emissions(ids, bigrams, lexicon)?;
                Ok(())
            }
        }
    }

    /// Trades memory for speed on hosts: the native evaluator computes the input projection
    /// of every vocabulary unit now (`vocabulary x 8 x hidden x 4` bytes, 8.9 MB for the
    /// forge's tagger) instead of in every call, most of the input arithmetic (with
    /// character bigrams, the calls still add the bigram columns). The emissions keep their
    /// bits. Returns the table's size in bytes; 0 (and nothing done) when an engine computes
    /// the emissions. Firmware leaves this off.
    pub fn tabulate_projections(&mut self) -> usize {
        match &mut self.emitter {
            Emitter::Native(emitter) => {
                emitter.tabulate_projections();
                emitter.projection_table_bytes()
            }
            Emitter::Engine(_) => 0,
        }
    }

    /// What computes the emissions: `"native BiLSTM"`, or the engine's name.
    pub fn evaluator(&self) -> &str {
        match &self.emitter {
            Emitter::Native(_) => "native BiLSTM",
            Emitter::Engine(engine) => engine.name(),
        }
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

    /// Number of vocabulary entries (unit ids are below it).
    pub fn vocabulary_len(&self) -> usize {
        self.vocabulary_len
    }

    /// The bundle's preprocessor (provenance, metrics, specs) as a serialized
    /// `cerebellum.v1.Preprocessor` message (`proto/cerebellum/v1/bundle.proto`):
    /// parse it with any protobuf library and that schema.
    pub fn preprocessor_bytes(&self) -> Vec<u8> {
        let mut preprocessor = self.preprocessor.clone();
        crate::packed::expand_builtin_table(&mut preprocessor);
        if let (Some(spec), Some(lexicon)) = (preprocessor.tagger.as_mut(), &self.lexicon) {
            spec.lexicon = Some(lexicon.to_proto());
        }
        prost::Message::encode_to_vec(&preprocessor)
    }

    /// Character units with offsets (code points) into `text`.
    pub fn units(&self, text: &str) -> Vec<Token> {
        let mut units = Vec::new();
        char_units_into(&self.table, text, &mut String::new(), &mut units);
        units
    }

    /// Unit ids as the model reads them.
    pub fn encode(&self, text: &str) -> Vec<i64> {
        let mut ids = Vec::new();
        self.ids_into(&self.units(text), &mut ids);
        ids
    }

    fn ids_into(&self, units: &[Token], ids: &mut Vec<i64>) {
        ids.clear();
        ids.extend(
            units
                .iter()
                .map(|u| self.ids.get(&u.text).copied().unwrap_or(UNKNOWN_ID)),
        );
    }

    /// Emission scores, row-major `[units, tags]`.
    pub fn emissions(&self, text: &str) -> Result<Vec<f32>> {
        let mut scratch = TaggerScratch::default();
        self.fill(text, &mut scratch, false)?;
        Ok(scratch.emissions)
    }

    /// [`TextTagger::emissions`] into `scratch`.
    pub fn emissions_with<'s>(&self, text: &str, scratch: &'s mut TaggerScratch) -> Result<&'s [f32]> {
        self.fill(text, scratch, false)?;
        Ok(&scratch.emissions)
    }

    /// Units, ids, emissions and (when `decode`) the Viterbi path of `text` into `scratch`.
    fn fill(&self, text: &str, scratch: &mut TaggerScratch, decode: bool) -> Result<()> {
        let TaggerScratch {
            key,
            units,
            ids,
            before,
            after,
            lexicon,
            emissions,
            path,
            lstm,
        } = scratch;
        char_units_into(&self.table, text, key, units);
        self.ids_into(units, ids);
        emissions.clear();
        path.clear();
        if ids.is_empty() {
            return Ok(());
        }
        let bigrams = self.bigram_ids(ids, before, after);
        let lexicon = self.lexicon.as_ref().map(|words| {
            words.ids_into(units, lexicon);
            lexicon.as_slice()
        });
        self.run(ids, bigrams, lexicon, lstm, emissions)?;
        if emissions.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite(format!(
                "{}: the model produced non-finite emission scores",
                self.task
            )));
        }
        if decode {
            *path = viterbi(emissions, self.tags.len(), &self.transitions, &self.start, &self.end)?;
        }
        Ok(())
    }

    /// Everything the tagger computes for `text`, from a single model run:
    /// units, ids, emissions, the Viterbi path and the entities.
    pub fn analyze(&self, text: &str) -> Result<Analysis> {
        self.analyze_with(text, &mut TaggerScratch::default())
    }

    /// [`TextTagger::analyze`] with the evaluator's buffers from `scratch` (the answer's
    /// own vectors are new).
    pub fn analyze_with(&self, text: &str, scratch: &mut TaggerScratch) -> Result<Analysis> {
        self.fill(text, scratch, true)?;
        let entities = self.entities(text, &scratch.units, &scratch.path);
        Ok(Analysis {
            units: core::mem::take(&mut scratch.units),
            ids: core::mem::take(&mut scratch.ids),
            emissions: core::mem::take(&mut scratch.emissions),
            path: core::mem::take(&mut scratch.path),
            entities,
        })
    }

    /// The Viterbi path as tag indices, one per unit.
    pub fn tag_ids(&self, text: &str) -> Result<Vec<usize>> {
        let mut scratch = TaggerScratch::default();
        self.fill(text, &mut scratch, true)?;
        Ok(scratch.path)
    }

    /// Every unit with its tag.
    pub fn tag_tokens(&self, text: &str) -> Result<Vec<TaggedToken>> {
        let mut scratch = TaggerScratch::default();
        self.fill(text, &mut scratch, true)?;
        let chars: Vec<char> = text.chars().collect();
        Ok(scratch
            .units
            .iter()
            .zip(&scratch.path)
            .map(|(u, &t)| TaggedToken {
                text: chars[u.start..u.end].iter().collect(),
                start: u.start,
                end: u.end,
                tag: self.tags[t].clone(),
            })
            .collect())
    }

    /// Entities with their type and offsets into `text`.
    pub fn tag(&self, text: &str) -> Result<Vec<Entity>> {
        self.tag_with(text, &mut TaggerScratch::default())
    }

    /// [`TextTagger::tag`] with buffers from `scratch`: once `scratch` has grown to the
    /// text, only the decoding and the entities allocate.
    pub fn tag_with(&self, text: &str, scratch: &mut TaggerScratch) -> Result<Vec<Entity>> {
        self.fill(text, scratch, true)?;
        Ok(self.entities(text, &scratch.units, &scratch.path))
    }

    fn entities(&self, text: &str, units: &[Token], path: &[usize]) -> Vec<Entity> {
        let mut spans: Vec<(&str, usize, usize)> = Vec::new();
        let mut open = false;
        for (unit, &t) in units.iter().zip(path) {
            let tag = self.tags[t].as_str();
            if tag == "O" {
                open = false;
                continue;
            }
            let (prefix, kind) = tag.split_once('-').unwrap_or(("B", tag));
            match spans.last_mut() {
                Some(last) if open && prefix == "I" && last.0 == kind => last.2 = unit.end,
                _ => spans.push((kind, unit.start, unit.end)),
            }
            open = true;
        }
        if spans.is_empty() {
            return Vec::new();
        }
        let byte_offsets: Vec<usize> = text
            .char_indices()
            .map(|(b, _)| b)
            .chain(core::iter::once(text.len()))
            .collect();
        spans
            .into_iter()
            .map(|(kind, start, end)| {
                let (byte_start, byte_end) = (byte_offsets[start], byte_offsets[end]);
                Entity {
                    kind: kind.to_owned(),
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
