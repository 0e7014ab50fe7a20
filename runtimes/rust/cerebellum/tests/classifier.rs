//! The classifier on a synthetic bundle: answers, edge cases, threads.

mod common;

use std::sync::Arc;

fn classifier() -> cerebellum::TextClassifier {
    let (pre, model) = common::bundle();
    match cerebellum::load_bytes(&pre, &model).expect("the synthetic bundle loads") {
        cerebellum::Model::Classifier(c) => c,
        cerebellum::Model::Tagger(_) => panic!("expected a classifier"),
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[test]
fn classifies_with_the_spec_arithmetic() {
    let c = classifier();
    assert_eq!(c.labels(), ["Statement", "Question"]);
    let v = c.vectorize("Hello, WORLD?");
    // terms: <s> hello , world ? </s> and bigrams; in vocabulary: <s> </s> hello world ? "<s> hello"
    assert_eq!(v.indices, vec![0, 1, 2, 3, 4, 5]);
    let weights: Vec<f64> = v.indices.iter().map(|&j| f64::from(common::IDF[j as usize])).collect();
    let norm = weights.iter().map(|w| w * w).sum::<f64>().sqrt();
    for (value, w) in v.values.iter().zip(&weights) {
        assert_eq!(*value, (w / norm) as f32);
    }
    let z: f64 = v
        .indices
        .iter()
        .zip(&v.values)
        .map(|(&j, &x)| f64::from(common::WEIGHTS[j as usize]) * f64::from(x))
        .sum::<f64>()
        + 0.25;
    let scores = c.predict_proba("Hello, WORLD?").expect("scores");
    assert!((f64::from(scores[1]) - sigmoid(z)).abs() < 1e-6);
    assert!((f64::from(scores[0]) - sigmoid(-z)).abs() < 1e-6);
    assert_eq!(c.predict("what?").expect("label"), "Question");
    assert_eq!(c.predict("hello").expect("label"), "Statement");
}

#[test]
fn edge_cases_never_fail() {
    let c = classifier();
    let long = "hello 你好 ".repeat(10_000);
    for text in [
        "",
        "   ",
        "\u{200d}",
        "\0",
        "👨‍👩‍👧",
        "İ ß ﬁ Σ ς ǅ",
        "\u{2ebf0}",
        long.as_str(),
    ] {
        let scores = c.predict_proba(text).expect("any text is classified");
        assert_eq!(scores.len(), 2);
        assert!((scores[0] + scores[1] - 1.0).abs() < 1e-6);
    }
    assert!(c.vectorize("").is_empty());
    assert_eq!(
        c.tokenize("ＡＢ，好")
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>(),
        ["ab", ",", "好"]
    );
}

#[test]
fn batches_match_single_queries() {
    let c = classifier();
    let texts = ["what?", "hello world", "", "你 what"];
    let batch = c.scores_batch(&texts).expect("batch");
    assert_eq!(batch.probabilities.len(), texts.len());
    assert_eq!(batch.logits.len(), texts.len());
    for ((text, row), logits) in texts.iter().zip(&batch.probabilities).zip(&batch.logits) {
        let single = c.predict_proba(text).expect("single");
        assert_eq!(single.len(), row.len());
        for (a, b) in single.iter().zip(row) {
            assert!((a - b).abs() < 1e-6);
        }
        let single_logits = c.decision_function(text).expect("single logits");
        assert_eq!(single_logits.len(), logits.len());
        for (a, b) in single_logits.iter().zip(logits) {
            assert!((a - b).abs() < 1e-6);
        }
    }
    assert!(c.scores_batch(&[]).expect("empty batch").probabilities.is_empty());
}

#[test]
fn one_model_serves_many_threads() {
    let c = Arc::new(classifier());
    let expected = c.predict_proba("what world").expect("scores");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let c = Arc::clone(&c);
            std::thread::spawn(move || {
                (0..200)
                    .map(|_| c.predict_proba("what world").expect("scores"))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for h in handles {
        for scores in h.join().expect("thread") {
            assert_eq!(scores, expected);
        }
    }
}
