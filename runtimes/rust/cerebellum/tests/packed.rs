//! Compact preprocessors: a character table given by name and packed TF-IDF fields.

mod common;

use cerebellum::Error;
use common::proto;
use prost::Message;

fn load(pre: &proto::Preprocessor, model: &[u8]) -> Result<cerebellum::Model, Error> {
    cerebellum::load_bytes(&common::wrap(pre), model)
}

#[test]
fn a_table_given_by_name_answers_as_the_listed_table() {
    let model = common::onnx_model(common::VOCABULARY.len());
    let plain = common::preprocessor(&model);
    let mut named = plain.clone();
    common::char_table_by_name(&mut named);
    assert!(named.encoded_len() + 30_000 < plain.encoded_len());
    let (a, b) = (
        load(&plain, &model).expect("plain"),
        load(&named, &model).expect("named"),
    );
    let (a, b) = (
        a.as_classifier().expect("classifier"),
        b.as_classifier().expect("classifier"),
    );
    for text in ["hello world?", "ＨＥＬＬＯ　Wörld", "你好吗", "", "ǅ ß ﬁ 😀"] {
        assert_eq!(a.tokenize(text), b.tokenize(text));
        assert_eq!(
            a.predict_proba(text).expect("scores"),
            b.predict_proba(text).expect("scores")
        );
    }
}

#[test]
fn an_unknown_table_or_hash_is_unsupported() {
    let model = common::onnx_model(common::VOCABULARY.len());
    let mut pre = common::preprocessor(&model);
    common::char_table_by_name(&mut pre);
    let mut other = pre.clone();
    if let Some(t) = other.char_table.as_mut() {
        t.id = "unicode-99/fold-v7".into();
    }
    assert!(matches!(load(&other, &model), Err(Error::Unsupported { .. })));
    if let Some(t) = pre.char_table.as_mut() {
        t.sha256 = vec![0; 32];
    }
    assert!(matches!(load(&pre, &model), Err(Error::Unsupported { .. })));
}

#[test]
fn packed_terms_out_of_byte_order_are_corrupt() {
    let model = common::onnx_model(common::VOCABULARY.len());
    let mut pre = common::preprocessor(&model);
    let tfidf = pre.tfidf.as_mut().expect("tfidf");
    // the synthetic vocabulary is not sorted ("<s>" > "</s>"), so it cannot be front-coded
    let mut packed = Vec::new();
    for term in tfidf.vocabulary.drain(..) {
        packed.extend([0, term.len() as u8]);
        packed.extend(term.as_bytes());
    }
    tfidf.packed_vocabulary = packed;
    tfidf.idf_palette = std::mem::take(&mut tfidf.idf);
    tfidf.idf_index = (0..tfidf.idf_palette.len() as u32).collect();
    pre.required_features.push(cerebellum::TFIDF_PACKED.into());
    match load(&pre, &model) {
        Err(Error::Corrupt { problem, .. }) => assert!(problem.contains("strictly ascending"), "{problem}"),
        other => panic!("expected a corrupt bundle, got {:?}", other.err()),
    }
}
