//! Golden vectors: the reference runtime's answers, checked against this one.
//!
//! A [`GoldenFile`] (written by `conformance export`) carries a bundle and
//! cases (text + expected Response). [`check`] loads the bundle with
//! [`cerebellum::load_bytes`], answers every case with [`crate::answer`] and
//! lists every difference:
//!
//! * exact: tokens, indices, the bits of TF-IDF values, label, units, ids,
//!   num_tags, tags, entities, and the kind of a Failure (messages differ
//!   between runtimes and are not compared);
//! * within `score_tolerance` (absolute): logits and scores;
//! * within `emission_tolerance` (absolute): emissions.

use std::fmt;

use prost::Message;

use crate::answer;
use crate::proto::{response, GoldenFile, Outcome, Response};

/// The golden file format version this crate reads.
pub const FORMAT_VERSION: u32 = 1;

/// File names of golden files end with this.
pub const EXTENSION: &str = ".golden.pb";

/// Why a golden file cannot be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum GoldenError {
    /// The bytes are not a GoldenFile.
    #[error("not a golden file: {0}")]
    Decode(#[from] prost::DecodeError),
    /// The file is in another format version.
    #[error("golden file format version {found}, but this checker reads version {FORMAT_VERSION}")]
    Version {
        /// The version the file declares.
        found: u32,
    },
    /// The bundle inside the file does not load.
    #[error("the bundle inside the golden file does not load: {0}")]
    Load(#[from] cerebellum::Error),
}

/// One difference between the expected and the actual answer to a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The case's text.
    pub text: String,
    /// The field that differs, e.g. `"tokens[3]"` or `"label"`.
    pub field: String,
    /// The expected value, formatted.
    pub expected: String,
    /// The actual value, formatted.
    pub actual: String,
}

/// At most this many code points of a case's text are shown in a [`Mismatch`].
const SHOWN_CHARS: usize = 60;

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.text.chars().count();
        if count > SHOWN_CHARS {
            let head: String = self.text.chars().take(SHOWN_CHARS).collect();
            write!(f, "{head:?}… ({count} code points)")?;
        } else {
            write!(f, "{:?}", self.text)?;
        }
        write!(f, ": {}: expected {}, got {}", self.field, self.expected, self.actual)
    }
}

/// The result of checking one golden file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Cases checked.
    pub cases: usize,
    /// Every difference found, in case order.
    pub mismatches: Vec<Mismatch>,
}

/// Decodes a golden file and checks its format version.
pub fn decode(bytes: &[u8]) -> Result<GoldenFile, GoldenError> {
    let file = GoldenFile::decode(bytes)?;
    if file.format_version != FORMAT_VERSION {
        return Err(GoldenError::Version {
            found: file.format_version,
        });
    }
    Ok(file)
}

/// Loads the file's bundle and compares this runtime's answer to every case
/// with the expected one.
pub fn check(file: &GoldenFile) -> Result<Report, GoldenError> {
    if file.format_version != FORMAT_VERSION {
        return Err(GoldenError::Version {
            found: file.format_version,
        });
    }
    let model = cerebellum::load_bytes(&file.preprocessor, &file.model)?;
    let mut report = Report::default();
    if !file.task.is_empty() && file.task != model.task() {
        report.mismatches.push(Mismatch {
            text: String::new(),
            field: "task".into(),
            expected: format!("{:?}", file.task),
            actual: format!("{:?}", model.task()),
        });
    }
    for case in &file.cases {
        let expected = case.expected.clone().unwrap_or_default();
        let actual = answer(&model, &case.text);
        report.mismatches.extend(compare(
            &case.text,
            &expected,
            &actual,
            file.score_tolerance,
            file.emission_tolerance,
        ));
        report.cases += 1;
    }
    Ok(report)
}

/// Every difference between `expected` and `actual` for `text` (see the
/// module documentation for what is exact and what has a tolerance).
pub fn compare(
    text: &str,
    expected: &Response,
    actual: &Response,
    score_tolerance: f32,
    emission_tolerance: f32,
) -> Vec<Mismatch> {
    let mut out = Differences {
        text,
        found: Vec::new(),
    };
    match (&expected.result, &actual.result) {
        (Some(response::Result::Outcome(e)), Some(response::Result::Outcome(a))) => {
            compare_outcomes(&mut out, e, a, score_tolerance, emission_tolerance);
        }
        (Some(response::Result::Failure(e)), Some(response::Result::Failure(a))) => {
            if e.kind != a.kind {
                out.push(
                    "failure.kind",
                    format!("{:?}", e.kind),
                    format!("{:?} ({})", a.kind, a.message),
                );
            }
        }
        (e, a) => out.push("result", describe(e), describe(a)),
    }
    out.found
}

fn describe(result: &Option<response::Result>) -> String {
    match result {
        Some(response::Result::Outcome(_)) => "an outcome".into(),
        Some(response::Result::Failure(f)) => format!("a failure of kind {:?} ({})", f.kind, f.message),
        None => "no result".into(),
    }
}

struct Differences<'a> {
    text: &'a str,
    found: Vec<Mismatch>,
}

/// A float compared by its bits, shown with them.
#[derive(Clone, Copy)]
struct Bits(f32);

impl PartialEq for Bits {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl fmt::Debug for Bits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} (0x{:08x})", self.0, self.0.to_bits())
    }
}

fn within(expected: f32, actual: f32, tolerance: f32) -> bool {
    expected.to_bits() == actual.to_bits() || (f64::from(expected) - f64::from(actual)).abs() <= f64::from(tolerance)
}

impl Differences<'_> {
    fn push(&mut self, field: impl Into<String>, expected: String, actual: String) {
        self.found.push(Mismatch {
            text: self.text.to_owned(),
            field: field.into(),
            expected,
            actual,
        });
    }

    /// Reports the first position where `expected` and `actual` disagree
    /// (`same` decides), and both lengths if they differ.
    fn sequence<T: fmt::Debug>(&mut self, field: &str, expected: &[T], actual: &[T], same: impl Fn(&T, &T) -> bool) {
        let first = expected.iter().zip(actual).position(|(e, a)| !same(e, a));
        if first.is_none() && expected.len() == actual.len() {
            return;
        }
        let i = first.unwrap_or(expected.len().min(actual.len()));
        let show = |items: &[T]| {
            let item = items.get(i).map_or_else(|| "nothing".to_owned(), |v| format!("{v:?}"));
            if expected.len() == actual.len() {
                item
            } else {
                format!("{item} ({} items)", items.len())
            }
        };
        self.push(format!("{field}[{i}]"), show(expected), show(actual));
    }

    fn exact<T: fmt::Debug + PartialEq>(&mut self, field: &str, expected: &[T], actual: &[T]) {
        self.sequence(field, expected, actual, |e, a| e == a);
    }

    fn close(&mut self, field: &str, expected: &[f32], actual: &[f32], tolerance: f32) {
        self.sequence(field, expected, actual, |e, a| within(*e, *a, tolerance));
    }

    fn scalar<T: fmt::Debug + PartialEq>(&mut self, field: &str, expected: &T, actual: &T) {
        if expected != actual {
            self.push(field, format!("{expected:?}"), format!("{actual:?}"));
        }
    }
}

fn compare_outcomes(
    out: &mut Differences<'_>,
    e: &Outcome,
    a: &Outcome,
    score_tolerance: f32,
    emission_tolerance: f32,
) {
    let bits = |v: &[f32]| v.iter().copied().map(Bits).collect::<Vec<_>>();
    out.exact("tokens", &e.tokens, &a.tokens);
    out.exact("indices", &e.indices, &a.indices);
    out.exact("values", &bits(&e.values), &bits(&a.values));
    out.close("logits", &e.logits, &a.logits, score_tolerance);
    out.close("scores", &e.scores, &a.scores, score_tolerance);
    out.scalar("label", &e.label, &a.label);
    out.scalar("defer", &e.defer, &a.defer);
    out.exact("units", &e.units, &a.units);
    out.exact("ids", &e.ids, &a.ids);
    out.scalar("num_tags", &e.num_tags, &a.num_tags);
    out.close("emissions", &e.emissions, &a.emissions, emission_tolerance);
    out.exact("tags", &e.tags, &a.tags);
    out.exact("entities", &e.entities, &a.entities);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::proto::{Failure, Span};

    fn outcome(o: Outcome) -> Response {
        Response {
            result: Some(response::Result::Outcome(o)),
        }
    }

    fn failure(kind: &str, message: &str) -> Response {
        crate::failure_response(Failure {
            kind: kind.into(),
            message: message.into(),
        })
    }

    fn sample() -> Outcome {
        Outcome {
            tokens: vec![Span {
                text: "hi".into(),
                start: 0,
                end: 2,
            }],
            indices: vec![3, 7],
            values: vec![0.6, 0.8],
            logits: vec![1.5],
            scores: vec![0.25, 0.75],
            label: "Question".into(),
            ..Default::default()
        }
    }

    #[test]
    fn equal_answers_have_no_mismatch() {
        assert!(compare("hi", &outcome(sample()), &outcome(sample()), 0.0, 0.0).is_empty());
    }

    #[test]
    fn scores_have_a_tolerance_values_do_not() {
        let mut actual = sample();
        actual.scores[1] += 1e-5;
        actual.logits[0] -= 1e-5;
        assert!(compare("hi", &outcome(sample()), &outcome(actual.clone()), 1e-4, 0.0).is_empty());
        let found = compare("hi", &outcome(sample()), &outcome(actual), 1e-6, 0.0);
        let fields: Vec<&str> = found.iter().map(|m| m.field.as_str()).collect();
        assert_eq!(fields, ["logits[0]", "scores[1]"]);

        let mut actual = sample();
        actual.values[0] = f32::from_bits(actual.values[0].to_bits() + 1);
        let found = compare("hi", &outcome(sample()), &outcome(actual), 1.0, 1.0);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].field, "values[0]");
        assert!(found[0].expected.contains("0x"), "{}", found[0]);
    }

    #[test]
    fn lengths_and_kinds_are_reported() {
        let mut actual = sample();
        actual.indices.push(9);
        let found = compare("hi", &outcome(sample()), &outcome(actual), 0.0, 0.0);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].field, "indices[2]");
        assert_eq!(found[0].expected, "nothing (2 items)");
        assert_eq!(found[0].actual, "9 (3 items)");

        let found = compare("hi", &outcome(sample()), &failure("inference", "boom"), 0.0, 0.0);
        assert_eq!(found[0].field, "result");
        assert!(compare("x", &failure("corrupt", "a"), &failure("corrupt", "b"), 0.0, 0.0).is_empty());
        let found = compare("x", &failure("corrupt", "a"), &failure("version", "b"), 0.0, 0.0);
        assert_eq!(found[0].field, "failure.kind");
    }

    #[test]
    fn nan_matches_only_itself() {
        let mut e = sample();
        e.scores[0] = f32::NAN;
        assert!(compare("hi", &outcome(e.clone()), &outcome(e.clone()), 0.1, 0.0).is_empty());
        let mut a = e.clone();
        a.scores[0] = 0.0;
        assert_eq!(compare("hi", &outcome(e), &outcome(a), 0.1, 0.0).len(), 1);
    }

    #[test]
    fn long_texts_are_shortened() {
        let m = Mismatch {
            text: "x".repeat(1000),
            field: "label".into(),
            expected: "\"a\"".into(),
            actual: "\"b\"".into(),
        };
        let shown = m.to_string();
        assert!(shown.len() < 200, "{shown}");
        assert!(shown.contains("(1000 code points)"), "{shown}");
    }
}
