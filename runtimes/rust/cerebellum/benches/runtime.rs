//! Latency of the Rust runtime: classify a short query, tag a 30-character
//! sentence (native BiLSTM evaluator and tract), load a bundle from a path and from bytes.
//!
//! Uses the forged bundles in `models/` at the repository root (run
//! `make demo` first; `CEREBELLUM_MODELS` points elsewhere). Without them,
//! only the synthetic classifier is measured, and the bench says so.

use std::path::PathBuf;

use cerebellum::{Evaluator, Limits};
use criterion::{criterion_group, criterion_main, Criterion};

#[path = "../tests/common/mod.rs"]
mod common;

const QUERY: &str = "what's the weather like tomorrow";
const SENTENCE: &str = "张经理说阿尔法计划要延期到周三的评审会之后，请通知Mr. Li"; // cut to 30 characters

fn models_dir() -> PathBuf {
    std::env::var_os("CEREBELLUM_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../models"))
}

fn bench(c: &mut Criterion) {
    let (pre, model) = common::bundle();
    let synthetic = cerebellum::load_bytes(&pre, &model).expect("synthetic bundle");
    let synthetic = synthetic.as_classifier().expect("classifier");
    c.bench_function("classify short query (synthetic 8-term model)", |b| {
        b.iter(|| synthetic.predict_proba(QUERY))
    });

    let dir = models_dir();
    let is_question = dir.join("is_question");
    if is_question.is_dir() {
        let loaded = cerebellum::load(&is_question).expect("is_question");
        let classifier = loaded.as_classifier().expect("classifier");
        c.bench_function("classify short query (is_question)", |b| {
            b.iter(|| classifier.predict_proba(QUERY))
        });
        c.bench_function("load is_question from path", |b| {
            b.iter(|| cerebellum::load(&is_question))
        });
        let pre = std::fs::read(is_question.join(cerebellum::PREPROCESSOR_FILE)).expect("preprocessor");
        let onnx = std::fs::read(is_question.join(cerebellum::MODEL_FILE)).expect("model");
        c.bench_function("load is_question from bytes", |b| {
            b.iter(|| cerebellum::load_bytes(&pre, &onnx))
        });
    } else {
        eprintln!(
            "note: {} not found: run `make demo` for the is_question benchmarks",
            is_question.display()
        );
    }
    let ner = dir.join("ner_core_entity");
    if ner.is_dir() {
        let sentence: String = SENTENCE.chars().take(30).collect();
        // The native BiLSTM evaluator (the default), then tract on the same graph.
        for (name, evaluator) in [("native", Evaluator::Auto), ("tract", Evaluator::Tract)] {
            let loaded = cerebellum::load_with(&ner, &Limits::default(), evaluator).expect("ner_core_entity");
            let tagger = loaded.as_tagger().expect("tagger");
            c.bench_function(&format!("tag 30 characters (ner_core_entity, {name})"), |b| {
                b.iter(|| tagger.tag(&sentence))
            });
            c.bench_function(&format!("load ner_core_entity from path ({name})"), |b| {
                b.iter(|| cerebellum::load_with(&ner, &Limits::default(), evaluator))
            });
        }
    } else {
        eprintln!(
            "note: {} not found: run `make demo` for the tagging benchmarks",
            ner.display()
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
