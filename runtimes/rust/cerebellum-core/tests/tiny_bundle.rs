//! The core on the crate's example bundle, from bytes: tokens, terms and TF-IDF as the
//! spec computes them, errors that name the bundle file, and scratch buffers that change
//! nothing but allocations.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use cerebellum_core::{Bundle, BundleFile, BundleKind, Error, Limits, Scratch, TextClassifier, Token, WeightFormat};

const PREPROCESSOR: &[u8] = include_bytes!("../bundles/tiny_is_question/preprocessor.bin");
const MODEL: &[u8] = include_bytes!("../bundles/tiny_is_question/model.onnx");

/// The example bundle's vocabulary and idf (the `cerebellum` crate's synthetic classifier).
const VOCABULARY: [&str; 8] = ["<s>", "</s>", "hello", "world", "?", "<s> hello", "what", "你"];
const IDF: [f32; 8] = [1.0, 1.0, 1.5, 2.0, 1.25, 2.5, 1.75, 3.0];

fn classifier() -> TextClassifier {
    let bundle = Bundle::parse(PREPROCESSOR, MODEL, &Limits::MICROCONTROLLER).expect("the example bundle parses");
    assert_eq!(bundle.kind(), BundleKind::Classifier);
    TextClassifier::new(bundle).expect("its graph is the forge's linear model")
}

#[test]
fn tokens_fold_case_and_keep_code_point_offsets() {
    let c = classifier();
    let token = |text: &str, start, end| Token {
        text: text.into(),
        start,
        end,
    };
    assert_eq!(
        c.tokenize("Hello,  WORLD? 你"),
        [
            token("hello", 0, 5),
            token(",", 5, 6), // punctuation is a token of its own; the spaces separate
            token("world", 8, 13),
            token("?", 13, 14),
            token("你", 15, 16)
        ]
    );
}

#[test]
fn terms_are_unigrams_then_bigrams_with_boundary_tokens() {
    assert_eq!(
        classifier().terms("hello world?"),
        [
            "<s>",
            "hello",
            "world",
            "?",
            "</s>",
            "<s> hello",
            "hello world",
            "world ?",
            "? </s>"
        ]
    );
}

#[test]
fn tfidf_is_count_times_idf_then_l2_normalized_in_float64() {
    let c = classifier();
    let v = c.vectorize("hello world? hello");
    // in-vocabulary terms: <s>, </s>, hello (twice), world, ?, "<s> hello"
    let counts = [(0usize, 1.0f64), (1, 1.0), (2, 2.0), (3, 1.0), (4, 1.0), (5, 1.0)];
    let raw: Vec<f32> = counts.iter().map(|&(j, n)| (n * f64::from(IDF[j])) as f32).collect();
    let norm = raw.iter().map(|&w| f64::from(w) * f64::from(w)).sum::<f64>().sqrt();
    let expected: Vec<u32> = raw.iter().map(|&w| ((f64::from(w) / norm) as f32).to_bits()).collect();
    assert_eq!(v.indices, [0, 1, 2, 3, 4, 5]);
    assert_eq!(v.values.iter().map(|w| w.to_bits()).collect::<Vec<_>>(), expected);
    let terms = c.terms("hello world? hello");
    for (j, n) in counts {
        assert_eq!(
            terms.iter().filter(|t| **t == VOCABULARY[j]).count() as f64,
            n,
            "{}",
            VOCABULARY[j]
        );
    }
    // only the boundary tokens are in the vocabulary
    assert_eq!(c.vectorize("zebra").indices, [0, 1]);
}

#[test]
fn the_classifier_answers_natively() {
    let c = classifier();
    assert_eq!(c.native_weights(), Some(WeightFormat::Float32));
    assert_eq!(c.task(), "tiny_is_question");
    assert_eq!(c.labels(), ["Statement", "Question"]);
    assert_eq!(c.predict("what time is it?").unwrap(), "Question");
    assert_eq!(c.predict("hello world").unwrap(), "Statement");
}

#[test]
fn reused_scratch_buffers_give_the_same_bits() {
    let c = classifier();
    let mut scratch = Scratch::default();
    for text in ["what time is it?", "hello world", "", "你 what ? hello"] {
        let fresh = c.classify(text).unwrap();
        let reused = c.classify_with(text, &mut scratch).unwrap();
        assert_eq!(fresh, reused, "{text:?}");
        assert_eq!(c.predict_with(text, &mut scratch).unwrap(), fresh.label);
        let logits = c.decision_function(text).unwrap();
        assert_eq!(c.decision_function_with(text, &mut scratch).unwrap(), logits.as_slice());
    }
}

#[test]
fn errors_name_the_bundle_file_they_are_about() {
    let mut model = MODEL.to_vec();
    model[0] ^= 1;
    let err = Bundle::parse(PREPROCESSOR, &model, &Limits::default()).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Integrity {
                file: BundleFile::Model,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("model.onnx: checksum mismatch"), "{err}");

    let err = Bundle::parse(&PREPROCESSOR[..PREPROCESSOR.len() - 3], MODEL, &Limits::default()).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Corrupt {
                file: BundleFile::Preprocessor,
                ..
            }
        ),
        "{err:?}"
    );

    let tiny = Limits {
        max_model_bytes: 10,
        ..Limits::default()
    };
    let err = Bundle::parse(PREPROCESSOR, MODEL, &tiny).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Limit {
                file: BundleFile::Model,
                ..
            }
        ),
        "{err:?}"
    );
}
