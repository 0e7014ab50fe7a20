//! API hygiene: typed errors instead of panics, and `Debug` summaries that name
//! the model without printing its weights or vocabulary.

mod common;

use cerebellum::{viterbi, Error};

fn is_shape_error(result: cerebellum::Result<Vec<usize>>) -> bool {
    matches!(result, Err(Error::Shape(_)))
}

#[test]
fn viterbi_refuses_slices_that_do_not_fit_the_tags() {
    let zeros = [0.0f32; 9];
    let emissions = [0.0f32, 1.0, 2.0, 0.0, 1.0, 1.0];
    assert_eq!(
        viterbi(&emissions, 3, &zeros, &zeros[..3], &zeros[..3]).expect("fits"),
        [2, 1]
    );
    // emissions not whole rows
    assert!(is_shape_error(viterbi(
        &emissions[..5],
        3,
        &zeros,
        &zeros[..3],
        &zeros[..3]
    )));
    // transitions, start and end of the wrong length
    assert!(is_shape_error(viterbi(
        &emissions,
        3,
        &zeros[..4],
        &zeros[..3],
        &zeros[..3]
    )));
    assert!(is_shape_error(viterbi(&emissions, 3, &zeros, &zeros[..2], &zeros[..3])));
    assert!(is_shape_error(viterbi(&emissions, 3, &zeros, &zeros[..3], &zeros[..1])));
    assert!(is_shape_error(viterbi(&emissions, 3, &zeros, &zeros[..3], &[])));
    // no tags: only no emissions fit
    assert!(is_shape_error(viterbi(&emissions, 0, &[], &[], &[])));
    assert_eq!(viterbi(&[], 0, &[], &[], &[]).expect("fits"), Vec::<usize>::new());
    assert_eq!(
        viterbi(&[], 3, &zeros, &zeros[..3], &zeros[..3]).expect("fits"),
        Vec::<usize>::new()
    );
}

#[test]
fn a_classifier_debugs_as_a_summary() {
    let (pre, model) = common::bundle();
    let model = cerebellum::load_bytes(&pre, &model).expect("loads");
    let shown = format!("{model:?}");
    assert!(shown.contains("TextClassifier"), "{shown}");
    assert!(shown.contains("\"synthetic\""), "{shown}");
    assert!(shown.contains("\"Question\""), "{shown}");
    assert!(shown.contains("vocabulary_len: 8"), "{shown}");
    // neither a weight nor an idf value nor a vocabulary term
    for hidden in ["2.5", "1.75", "hello"] {
        assert!(!shown.contains(hidden), "{hidden} in {shown}");
    }
    let classifier = model.as_classifier().expect("a classifier");
    assert_eq!(
        format!("{classifier:?}"),
        shown.trim_start_matches("Classifier(").trim_end_matches(')')
    );
}

#[cfg(feature = "tract")]
#[test]
fn a_tagger_debugs_as_a_summary() {
    let (pre, model) = common::tagger_bundle();
    let model = cerebellum::load_bytes(&pre, &model).expect("loads");
    let shown = format!("{:?}", model.as_tagger().expect("a tagger"));
    assert!(shown.starts_with("TextTagger"), "{shown}");
    assert!(shown.contains("\"synthetic_tagger\""), "{shown}");
    assert!(shown.contains("\"B-X\""), "{shown}");
    assert!(shown.contains("vocabulary_len: 5"), "{shown}");
    assert!(!shown.contains("<unk>") && !shown.contains("0.5"), "{shown}");
}

#[test]
fn the_preprocessor_bytes_are_the_parsed_preprocessor() {
    let (pre, model) = common::bundle();
    let loaded = cerebellum::load_bytes(&pre, &model).expect("loads");
    let bytes = loaded.as_classifier().expect("a classifier").preprocessor_bytes();
    let parsed: common::proto::Preprocessor = prost::Message::decode(bytes.as_slice()).expect("parses");
    assert_eq!(parsed, common::preprocessor(&model));
}
