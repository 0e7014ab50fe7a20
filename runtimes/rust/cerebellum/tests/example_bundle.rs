//! `bundles/tiny_is_question/` is the synthetic classifier of `tests/common`
//! with its character table given by name: a bundle of a few hundred bytes that
//! ships with the crate, so the README and the crate docs load a real bundle.
//! Run with CEREBELLUM_BLESS=1 to rewrite it after changing the synthetic bundle.

mod common;

use std::path::PathBuf;

const DIRECTORY: &str = "bundles/tiny_is_question";

/// The example bundle as built from the synthetic classifier: (preprocessor.bin, model.onnx).
fn expected() -> (Vec<u8>, Vec<u8>) {
    let model = common::onnx_model(common::VOCABULARY.len());
    let mut pre = common::preprocessor(&model);
    pre.task = "tiny_is_question".into();
    common::char_table_by_name(&mut pre);
    (common::wrap(&pre), model)
}

#[test]
fn the_example_bundle_is_the_synthetic_classifier() {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(DIRECTORY);
    let bundle = expected();
    if std::env::var_os("CEREBELLUM_BLESS").is_some() {
        common::write_bundle(&directory, &bundle);
    }
    let read = |name: &str| std::fs::read(directory.join(name)).unwrap_or_default();
    assert!(
        read(cerebellum::PREPROCESSOR_FILE) == bundle.0 && read(cerebellum::MODEL_FILE) == bundle.1,
        "{DIRECTORY} is stale: run CEREBELLUM_BLESS=1 cargo test -p cerebellum --test example_bundle"
    );
}

#[test]
fn the_example_bundle_answers_as_the_readme_says() {
    let model = cerebellum::load(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(DIRECTORY)).expect("loads");
    let classifier = model.as_classifier().expect("a classifier");
    assert_eq!(classifier.task(), "tiny_is_question");
    assert_eq!(classifier.predict("what time is it?").expect("answers"), "Question");
    assert_eq!(classifier.predict("hello world").expect("answers"), "Statement");
}
