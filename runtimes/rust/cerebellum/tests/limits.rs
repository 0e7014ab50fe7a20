//! A crafted bundle per limit: each is refused with `Error::Limit` before it is built.

mod common;

use cerebellum::{Error, Limits};
use common::proto;
use prost::Message;
use sha2::{Digest, Sha256};

fn limited(pre: &[u8], model: &[u8], limits: Limits) -> Result<cerebellum::Model, Error> {
    cerebellum::load_bytes_with_limits(pre, model, &limits)
}

fn is_limit(result: Result<cerebellum::Model, Error>, what: &str) {
    match result {
        Err(Error::Limit { problem, .. }) => assert!(problem.contains(what), "{problem}"),
        Err(other) => panic!("expected a limit error about {what}, got {other}"),
        Ok(_) => panic!("expected a limit error about {what}, the bundle loaded"),
    }
}

#[test]
fn each_limit_refuses_a_bundle_just_over_it() {
    let (pre, model) = common::bundle();
    let (tagger_pre, tagger_model) = common::tagger_bundle();
    let fits = Limits::default();
    assert!(limited(&pre, &model, fits).is_ok());
    let cases = [
        (
            Limits {
                max_preprocessor_bytes: pre.len() - 1,
                ..fits
            },
            "file size",
        ),
        (
            Limits {
                max_model_bytes: model.len() - 1,
                ..fits
            },
            "file size",
        ),
        (
            Limits {
                max_vocabulary: common::VOCABULARY.len() - 1,
                ..fits
            },
            "vocabulary",
        ),
        (Limits { max_labels: 1, ..fits }, "labels"),
        (
            Limits {
                max_char_table_entries: 1,
                ..fits
            },
            "character table",
        ),
        (
            Limits {
                max_initializer_elements: common::VOCABULARY.len() as u64,
                ..fits
            },
            "ONNX weight elements",
        ),
    ];
    for (limits, what) in cases {
        is_limit(limited(&pre, &model, limits), what);
    }
    assert!(limited(&tagger_pre, &tagger_model, fits).is_ok());
    let tags = Limits {
        max_labels: common::TAGS.len() - 1,
        ..fits
    };
    is_limit(limited(&tagger_pre, &tagger_model, tags), "labels");
    let units = Limits {
        max_vocabulary: common::UNITS.len() - 1,
        ..fits
    };
    is_limit(limited(&tagger_pre, &tagger_model, units), "vocabulary");
}

#[test]
fn a_small_file_cannot_claim_gigabytes() {
    // An initializer that declares 4e9 floats and holds none: 40-odd bytes of ONNX.
    let mut model =
        tract_onnx::pb::ModelProto::decode(common::onnx_model(common::VOCABULARY.len()).as_slice()).unwrap();
    let graph = model.graph.as_mut().unwrap();
    graph.initializer[0].dims = vec![2_000_000_000, 2];
    graph.initializer[0].float_data.clear();
    let bytes = model.encode_to_vec();
    let mut pre = common::preprocessor(&bytes);
    pre.model_sha256 = Sha256::digest(&bytes).to_vec();
    let wrapped = common::wrap(&pre);
    is_limit(cerebellum::load_bytes(&wrapped, &bytes), "ONNX weight elements");
}

#[test]
fn the_default_vocabulary_limit_refuses_millions_of_terms() {
    let (_, model) = common::bundle();
    let mut pre: proto::Preprocessor = common::preprocessor(&model);
    let tfidf = pre.tfidf.as_mut().unwrap();
    tfidf.vocabulary = (0..1_000_001).map(|i| format!("t{i}")).collect();
    tfidf.idf = vec![1.0; 1_000_001];
    is_limit(cerebellum::load_bytes(&common::wrap(&pre), &model), "vocabulary");
}

#[test]
fn the_microcontroller_limits_are_tighter() {
    let mcu = Limits::MICROCONTROLLER;
    let phone = Limits::PHONE;
    assert!(mcu.max_model_bytes < phone.max_model_bytes && mcu.max_vocabulary < phone.max_vocabulary);
    let (pre, model) = common::bundle();
    assert!(limited(&pre, &model, mcu).is_ok());
}
