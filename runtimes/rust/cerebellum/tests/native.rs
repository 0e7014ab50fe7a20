//! The native linear evaluator: recognized only for the forge's graph forms,
//! pinned arithmetic, and the same answers as tract.

mod common;

use cerebellum::{Evaluator, Limits, Model, TextClassifier, WeightFormat};
use prost::Message;
use tract_onnx::pb;

fn load(pre: &[u8], model: &[u8], evaluator: Evaluator) -> TextClassifier {
    match cerebellum::load_bytes_with(pre, model, &Limits::default(), evaluator).expect("the bundle loads") {
        Model::Classifier(c) => c,
        Model::Tagger(_) => panic!("expected a classifier"),
    }
}

const TEXTS: [&str; 8] = [
    "Hello, WORLD?",
    "what",
    "hello hello world",
    "",
    "你 what ?",
    "world",
    "?",
    "ok",
];

#[test]
fn the_forge_graph_runs_natively_with_the_pinned_arithmetic() {
    let (pre, model) = common::bundle();
    let native = load(&pre, &model, Evaluator::Auto);
    assert_eq!(native.native_weights(), Some(WeightFormat::Float32));
    for text in TEXTS {
        let v = native.vectorize(text);
        // float64 sum in ascending column order, bias added last, one rounding to float32
        let mut acc = 0.0f64;
        for (&j, &x) in v.indices.iter().zip(&v.values) {
            acc += f64::from(x) * f64::from(common::WEIGHTS[j as usize]);
        }
        let z = (acc + 0.25) as f32;
        assert_eq!(
            native.decision_function(text).expect("logits")[0].to_bits(),
            z.to_bits(),
            "{text:?}"
        );
        let p = 1.0 / (1.0 + (-f64::from(z)).exp());
        let q = 1.0 / (1.0 + f64::from(z).exp());
        let scores = native.predict_proba(text).expect("scores");
        assert_eq!(
            [scores[0].to_bits(), scores[1].to_bits()],
            [(q as f32).to_bits(), (p as f32).to_bits()]
        );
    }
}

#[test]
fn the_worked_example_of_the_spec_holds() {
    // docs/preprocessing-spec.md section 9
    let (pre, model) = common::bundle();
    let c = load(&pre, &model, Evaluator::Auto);
    let v = c.vectorize("Hello, WORLD?");
    let bits: Vec<u32> = v.values.iter().map(|x| x.to_bits()).collect();
    assert_eq!(
        bits,
        [0x3e7f8060, 0x3e7f8060, 0x3ebfa048, 0x3eff8060, 0x3e9fb03c, 0x3f1fb03c]
    );
    assert_eq!(
        c.decision_function("Hello, WORLD?").expect("logit")[0].to_bits(),
        0x3edc9e89
    );
    let scores = c.predict_proba("Hello, WORLD?").expect("scores");
    assert_eq!([scores[0].to_bits(), scores[1].to_bits()], [0x3ec9aeda, 0x3f1b2893]);
}

#[test]
fn native_and_tract_agree_on_labels_and_scores() {
    let (pre, model) = common::bundle();
    let native = load(&pre, &model, Evaluator::Auto);
    let tract = load(&pre, &model, Evaluator::Tract);
    assert_eq!(tract.native_weights(), None);
    for text in TEXTS {
        assert_eq!(
            native.predict(text).expect("label"),
            tract.predict(text).expect("label")
        );
        let (a, b) = (
            native.predict_proba(text).expect("a"),
            tract.predict_proba(text).expect("b"),
        );
        assert!(
            a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= 1e-6),
            "{text:?}: {a:?} vs {b:?}"
        );
    }
    let batch = native.scores_batch(&TEXTS).expect("batch");
    for (text, row) in TEXTS.iter().zip(&batch.probabilities) {
        assert_eq!(
            row,
            &native.predict_proba(text).expect("one"),
            "a batch row equals the single answer"
        );
    }
}

fn with_graph(edit: impl FnOnce(&mut pb::GraphProto)) -> (Vec<u8>, Vec<u8>) {
    let (_, model) = common::bundle();
    let mut parsed = pb::ModelProto::decode(model.as_slice()).expect("model");
    edit(parsed.graph.as_mut().expect("graph"));
    let model = parsed.encode_to_vec();
    (common::wrap(&common::preprocessor(&model)), model)
}

#[test]
fn any_other_graph_is_left_to_tract() {
    // An extra node that changes the meaning: logits doubled before the post-transform.
    let (pre, model) = with_graph(|g| {
        let add = g.node.iter_mut().find(|n| n.op_type == "Add").expect("Add");
        add.output[0] = "half".into();
        g.node.insert(
            5,
            pb::NodeProto {
                op_type: "Add".into(),
                input: vec!["half".into(), "half".into()],
                output: vec!["logits".into()],
                ..Default::default()
            },
        );
    });
    let c = load(&pre, &model, Evaluator::Auto);
    assert_eq!(c.native_weights(), None);
    let reference = load(&common::bundle().0, &common::bundle().1, Evaluator::Auto);
    let doubled = c.decision_function("hello world").expect("tract runs it")[0];
    let single = reference.decision_function("hello world").expect("native")[0];
    assert!((doubled - 2.0 * single).abs() < 1e-5);
}

#[test]
fn a_recognized_graph_whose_weights_do_not_fit_is_refused() {
    let (pre, model) = with_graph(|g| {
        let w = g.initializer.iter_mut().find(|t| t.name == "W").expect("W");
        w.float_data.pop();
        w.dims = vec![7, 1];
    });
    let err = cerebellum::load_bytes(&pre, &model).expect_err("refused");
    assert!(matches!(err, cerebellum::Error::Mismatch { .. }), "{err}");
}

#[test]
fn int8_weights_dequantize_per_class_before_the_gather() {
    // W = q * scale, with the scale chosen so every weight is exact
    let scale = 0.05f32;
    let q: Vec<i8> = common::WEIGHTS.iter().map(|w| (w / scale).round() as i8).collect();
    assert!(q.iter().zip(common::WEIGHTS).all(|(&q, w)| f32::from(q) * scale == w));
    let (pre, model) = with_graph(|g| {
        g.initializer.retain(|t| t.name != "W");
        g.initializer.push(pb::TensorProto {
            name: "W_q".into(),
            dims: vec![8, 1],
            data_type: 3,
            raw_data: q.iter().map(|&v| v as u8).collect(),
            ..Default::default()
        });
        g.initializer.push(pb::TensorProto {
            name: "W_scale".into(),
            dims: vec![1],
            data_type: 1,
            float_data: vec![scale],
            ..Default::default()
        });
        g.node.insert(
            0,
            pb::NodeProto {
                op_type: "DequantizeLinear".into(),
                input: vec!["W_q".into(), "W_scale".into()],
                output: vec!["W".into()],
                attribute: vec![pb::AttributeProto {
                    name: "axis".into(),
                    r#type: 2,
                    i: 1,
                    ..Default::default()
                }],
                ..Default::default()
            },
        );
    });
    let native = load(&pre, &model, Evaluator::Auto);
    let tract = load(&pre, &model, Evaluator::Tract);
    let float = load(&common::bundle().0, &common::bundle().1, Evaluator::Auto);
    assert_eq!(native.native_weights(), Some(WeightFormat::Int8));
    for text in TEXTS {
        let n = native.decision_function(text).expect("native");
        assert_eq!(
            n,
            float.decision_function(text).expect("float"),
            "exact weights give the same logits"
        );
        let t = tract.decision_function(text).expect("tract");
        assert!((n[0] - t[0]).abs() <= 1e-6, "{text:?}");
    }
}
