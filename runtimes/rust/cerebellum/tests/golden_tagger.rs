//! The forged tagger's golden file (`conformance/golden/`) run natively and on tract.
//!
//! Needs the repository around the crate, so `Cargo.toml` leaves this file out of
//! the published package.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;

/// The repository root, found by walking up from the crate.
fn repository_root() -> PathBuf {
    let mut root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !root.join("conformance/golden").is_dir() {
        root = root
            .parent()
            .expect("tests/golden_tagger.rs runs inside the model_foundry repository")
            .to_path_buf();
    }
    root
}

/// The parts of `conformance/testee.proto`'s `GoldenFile` this test reads: the bundle,
/// the texts and the reference runtime's (onnxruntime's) emissions and tags.
#[derive(Clone, PartialEq, prost::Message)]
struct GoldenBundle {
    #[prost(bytes = "vec", tag = "3")]
    preprocessor: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    model: Vec<u8>,
    #[prost(message, repeated, tag = "7")]
    cases: Vec<GoldenText>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct GoldenText {
    #[prost(string, tag = "1")]
    text: String,
    #[prost(message, optional, tag = "2")]
    expected: Option<GoldenResponse>,
}

/// `Response`, read as if its `oneof` held only the outcome.
#[derive(Clone, PartialEq, prost::Message)]
struct GoldenResponse {
    #[prost(message, optional, tag = "1")]
    outcome: Option<GoldenOutcome>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct GoldenOutcome {
    #[prost(float, repeated, tag = "10")]
    emissions: Vec<f32>,
    #[prost(uint32, repeated, tag = "11")]
    tags: Vec<u32>,
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The forged tagger (from its golden file): the native BiLSTM evaluator gives tract's
/// emissions within 5e-5 and the same tags, on the golden texts and on random texts; and
/// the reference runtime's (onnxruntime's) tags, with emissions within the conformance
/// tolerance (1e-4).
#[test]
fn the_forged_tagger_runs_natively_with_tracts_answers() {
    use prost::Message;
    let path = repository_root().join("conformance/golden/ner_core_entity.golden.pb");
    let golden = GoldenBundle::decode(std::fs::read(&path).expect("the tagger's golden file").as_slice())
        .expect("a golden file");
    let load = |evaluator| match cerebellum::load_bytes_with(
        &golden.preprocessor,
        &golden.model,
        &Default::default(),
        evaluator,
    )
    .expect("the bundle loads")
    {
        cerebellum::Model::Tagger(t) => t,
        cerebellum::Model::Classifier(_) => panic!("expected a tagger"),
    };
    let native = load(cerebellum::Evaluator::Auto);
    let tract = load(cerebellum::Evaluator::Tract);
    assert!(
        format!("{native:?}").contains("evaluator: \"native BiLSTM\""),
        "{native:?}"
    );
    assert!(format!("{tract:?}").contains("evaluator: \"tract\""), "{tract:?}");

    let mut reference_worst = (0f32, 0f32); // (native, tract) against onnxruntime
    for case in &golden.cases {
        let Some(expected) = case.expected.as_ref().and_then(|e| e.outcome.as_ref()) else {
            continue;
        };
        let (a, b) = (
            native.analyze(&case.text).expect("native"),
            tract.analyze(&case.text).expect("tract"),
        );
        let tags: Vec<u32> = a.path.iter().map(|&t| t as u32).collect();
        assert_eq!(tags, expected.tags, "tags differ from onnxruntime's on {:?}", case.text);
        reference_worst.0 = reference_worst.0.max(max_difference(&a.emissions, &expected.emissions));
        reference_worst.1 = reference_worst.1.max(max_difference(&b.emissions, &expected.emissions));
    }

    let mut texts: Vec<String> = golden.cases.iter().map(|c| c.text.clone()).collect();
    let mut rng = common::Rng(0x5eed_1234);
    let alphabet: Vec<char> = "张经理说阿尔法计划要延期到周三的评审会之后，请通知Mr. Li王芳明天下午在北京开会abc 123!?"
        .chars()
        .collect();
    for _ in 0..300 {
        let len = 1 + rng.below(80);
        texts.push((0..len).map(|_| alphabet[rng.below(alphabet.len())]).collect());
    }
    let mut worst = 0f32;
    for text in &texts {
        let (a, b) = (
            native.analyze(text).expect("native"),
            tract.analyze(text).expect("tract"),
        );
        worst = worst.max(max_difference(&a.emissions, &b.emissions));
        assert_eq!(a.path, b.path, "tags differ on {text:?}");
        assert_eq!(a.entities, b.entities, "{text:?}");
    }
    eprintln!(
        "{} texts: max |native - tract| = {worst:e}; {} golden texts: max |native - onnxruntime| = {:e}, \
         max |tract - onnxruntime| = {:e}",
        texts.len(),
        golden.cases.len(),
        reference_worst.0,
        reference_worst.1
    );
    assert!(worst <= 5e-5, "max |native - tract| = {worst}");
    assert!(
        reference_worst.0 <= 1e-4,
        "max |native - onnxruntime| = {}",
        reference_worst.0
    );
}
