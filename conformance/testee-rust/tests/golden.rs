//! Golden vectors, checked without Python.
//!
//! `committed_golden_files_match` checks every `*.golden.pb` in
//! `conformance/golden/` (written by `conformance export`) and fails when there
//! is none. `extra_golden_files_match` checks every `*.golden.pb` in the
//! directory named by `CEREBELLUM_GOLDEN_DIR`, if that is set. Each file's
//! bundle is loaded from the file itself and every case is answered by the
//! Rust runtime and compared with the reference answer; all differences are
//! collected and reported at once.
//!
//! The synthetic tests build golden files in Rust to show that the checker
//! passes faithful answers and catches edited ones.

mod common;

use std::path::{Path, PathBuf};

use cerebellum_testee::golden::{self, Mismatch, EXTENSION};
use cerebellum_testee::proto::{response, GoldenCase, GoldenFile, Outcome, Response};
use prost::Message;

const SHOWN: usize = 20;

/// The `*.golden.pb` files directly in `dir`, sorted (none if `dir` is missing).
fn golden_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| {
            p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(EXTENSION))
        })
        .collect();
    files.sort();
    files
}

/// Checks every file; panics once, listing the first problems and their count.
fn check_files(files: &[PathBuf]) {
    let mut problems: Vec<String> = Vec::new();
    let (mut cases, mut mismatches, mut unreadable) = (0usize, 0usize, 0usize);
    for path in files {
        let name = path.display();
        let report = std::fs::read(path)
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|bytes| golden::decode(&bytes).map_err(|e| e.to_string()))
            .and_then(|file| golden::check(&file).map_err(|e| e.to_string()));
        match report {
            Ok(report) => {
                cases += report.cases;
                mismatches += report.mismatches.len();
                problems.extend(report.mismatches.iter().map(|m| format!("{name}: {m}")));
            }
            Err(e) => {
                unreadable += 1;
                problems.push(format!("{name}: {e}"));
            }
        }
    }
    println!("checked {cases} cases in {} golden files", files.len());
    if problems.is_empty() {
        return;
    }
    let shown: Vec<&str> = problems.iter().take(SHOWN).map(String::as_str).collect();
    panic!(
        "{mismatches} mismatches in {cases} cases of {} golden files, {unreadable} unreadable or unloadable; \
         the first {} problems:\n  {}",
        files.len(),
        shown.len(),
        shown.join("\n  ")
    );
}

#[test]
fn committed_golden_files_match() {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = manifest_dir.parent().unwrap_or(manifest_dir).join("golden");
    let files = golden_files(&dir);
    assert!(
        !files.is_empty(),
        "no golden files in {} (expected *{EXTENSION}); run conformance export",
        dir.display()
    );
    check_files(&files);
}

#[test]
fn extra_golden_files_match() {
    let Some(dir) = std::env::var_os("CEREBELLUM_GOLDEN_DIR") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let files = golden_files(&dir);
    assert!(
        !files.is_empty(),
        "CEREBELLUM_GOLDEN_DIR={} holds no *{EXTENSION} file",
        dir.display()
    );
    check_files(&files);
}

// Synthetic golden files ----------------------------------------------------

fn outcome_of(response: &Response) -> &Outcome {
    match &response.result {
        Some(response::Result::Outcome(o)) => o,
        other => panic!("expected an outcome, got {other:?}"),
    }
}

fn outcome_mut(case: &mut GoldenCase) -> &mut Outcome {
    match &mut case.expected.as_mut().expect("expected").result {
        Some(response::Result::Outcome(o)) => o,
        other => panic!("expected an outcome, got {other:?}"),
    }
}

/// A golden file whose expectations are the Rust runtime's own answers,
/// after checking the hand-known parts of them.
fn synthetic_file(task: &str, (preprocessor, model): (Vec<u8>, Vec<u8>), texts: &[&str]) -> GoldenFile {
    let loaded = cerebellum::load_bytes(&preprocessor, &model).expect("the synthetic bundle loads");
    let cases = texts
        .iter()
        .map(|text| GoldenCase {
            text: (*text).to_owned(),
            expected: Some(cerebellum_testee::answer(&loaded, text)),
        })
        .collect();
    let file = GoldenFile {
        format_version: golden::FORMAT_VERSION,
        task: task.into(),
        preprocessor,
        model,
        score_tolerance: 1e-6,
        emission_tolerance: 1e-5,
        cases,
    };
    // Through bytes, as the test reads real files.
    golden::decode(&file.encode_to_vec()).expect("round trip")
}

fn fields(mismatches: &[Mismatch]) -> Vec<String> {
    mismatches.iter().map(|m| format!("{:?} {}", m.text, m.field)).collect()
}

#[test]
fn synthetic_classifier_golden_file() {
    let texts = ["Hello, WORLD?", "what?", "", "你 what", "İ ß ﬁ Σ ς"];
    let mut file = synthetic_file("synthetic", common::bundle(), &texts);
    let first = outcome_of(file.cases[0].expected.as_ref().expect("expected"));
    let tokens: Vec<(&str, u32, u32)> = first.tokens.iter().map(|t| (t.text.as_str(), t.start, t.end)).collect();
    assert_eq!(tokens, [("hello", 0, 5), (",", 5, 6), ("world", 7, 12), ("?", 12, 13)]);
    assert_eq!(first.indices, [0, 1, 2, 3, 4, 5]);
    assert_eq!(first.scores.len(), 2);
    assert_eq!(
        outcome_of(file.cases[1].expected.as_ref().expect("expected")).label,
        "Question"
    );
    assert!(outcome_of(file.cases[2].expected.as_ref().expect("expected"))
        .tokens
        .is_empty());

    let report = golden::check(&file).expect("checks");
    assert_eq!(report.cases, texts.len());
    assert!(report.mismatches.is_empty(), "{:?}", report.mismatches);

    // Within tolerance still passes; one ULP of a TF-IDF value does not.
    outcome_mut(&mut file.cases[0]).scores[0] += 5e-7;
    assert!(golden::check(&file).expect("checks").mismatches.is_empty());
    let value = &mut outcome_mut(&mut file.cases[0]).values[2];
    *value = f32::from_bits(value.to_bits() + 1);
    outcome_mut(&mut file.cases[1]).label = "Statement".into();
    outcome_mut(&mut file.cases[3]).logits[0] += 1e-3;
    let tokens = &mut outcome_mut(&mut file.cases[4]).tokens;
    tokens.pop();
    let last = tokens.len();
    let found = golden::check(&file).expect("checks").mismatches;
    assert_eq!(
        fields(&found),
        [
            "\"Hello, WORLD?\" values[2]".to_owned(),
            "\"what?\" label".to_owned(),
            "\"你 what\" logits[0]".to_owned(),
            format!("{:?} tokens[{last}]", texts[4]),
        ]
    );
    assert!(
        found[3].actual.ends_with(&format!("({} items)", last + 1)),
        "{}",
        found[3]
    );
    assert_eq!(found[1].expected, "\"Statement\"");
    assert_eq!(found[1].actual, "\"Question\"");
}

#[test]
fn synthetic_tagger_golden_file() {
    let texts = ["ab a", "AB  xb", "", "b"];
    let mut file = synthetic_file("synthetic_tagger", common::tagger_bundle(), &texts);
    let first = outcome_of(file.cases[0].expected.as_ref().expect("expected"));
    assert_eq!(first.num_tags, 3);
    assert_eq!(first.ids, [2, 3, 4, 2]);
    assert_eq!(first.tags, [1, 2, 0, 1]);
    assert_eq!(first.emissions.len(), 4 * 3);
    let entities: Vec<(&str, u32, u32, &str)> = first
        .entities
        .iter()
        .map(|e| (e.r#type.as_str(), e.start, e.end, e.text.as_str()))
        .collect();
    assert_eq!(entities, [("X", 0, 2, "ab"), ("X", 3, 4, "a")]);
    let second = outcome_of(file.cases[1].expected.as_ref().expect("expected"));
    let units: Vec<(&str, u32, u32)> = second.units.iter().map(|u| (u.text.as_str(), u.start, u.end)).collect();
    assert_eq!(units, [("a", 0, 1), ("b", 1, 2), (" ", 2, 4), ("x", 4, 5), ("b", 5, 6)]);
    assert_eq!(second.entities[0].text, "AB");
    let empty = outcome_of(file.cases[2].expected.as_ref().expect("expected"));
    assert!(empty.units.is_empty() && empty.emissions.is_empty() && empty.tags.is_empty());

    assert!(golden::check(&file).expect("checks").mismatches.is_empty());

    outcome_mut(&mut file.cases[0]).emissions[4] += 1e-6; // within 1e-5
    assert!(golden::check(&file).expect("checks").mismatches.is_empty());
    outcome_mut(&mut file.cases[0]).emissions[5] += 1e-3;
    outcome_mut(&mut file.cases[1]).entities[0].end += 1;
    outcome_mut(&mut file.cases[3]).num_tags = 4;
    let found = golden::check(&file).expect("checks").mismatches;
    assert_eq!(
        fields(&found),
        ["\"ab a\" emissions[5]", "\"AB  xb\" entities[0]", "\"b\" num_tags"]
    );
}

#[test]
fn unreadable_golden_files_are_errors() {
    assert!(golden::decode(b"\xff\xff").is_err());
    let mut file = synthetic_file("synthetic", common::bundle(), &["x"]);
    file.format_version = 2;
    assert!(matches!(
        golden::check(&file),
        Err(golden::GoldenError::Version { found: 2 })
    ));
    file.format_version = 1;
    file.model.truncate(10);
    assert!(matches!(golden::check(&file), Err(golden::GoldenError::Load(_))));
}
