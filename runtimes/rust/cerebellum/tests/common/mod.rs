//! Synthetic bundles built in Rust, so tests need neither Python nor forged
//! models: the pinned character table the crate carries, a small TF-IDF
//! logistic regression (sparse graph), and a tagger whose emissions are one
//! embedding lookup. The conformance testee's tests include this file too.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use prost::Message;
use sha2::{Digest, Sha256};
use tract_onnx::pb;

/// The bundle schema's messages: the core crate's committed prost output, which the
/// public APIs keep hidden.
pub use cerebellum_core::internal::proto;

/// The serialized `CharTable` the runtime embeds for `chartable-by-name` bundles.
pub const CARRIED_CHAR_TABLE: &[u8] = cerebellum_core::internal::CARRIED_CHAR_TABLE;

pub const VOCABULARY: [&str; 8] = ["<s>", "</s>", "hello", "world", "?", "<s> hello", "what", "你"];
pub const WEIGHTS: [f32; 8] = [0.0, 0.1, -1.5, 0.5, 2.5, -0.5, 3.0, 1.0];
pub const IDF: [f32; 8] = [1.0, 1.0, 1.5, 2.0, 1.25, 2.5, 1.75, 3.0];

/// Tagger units and tags: "a" is B-X, "b" is I-X, everything else is O.
pub const UNITS: [&str; 5] = ["<pad>", "<unk>", "a", "b", " "];
pub const TAGS: [&str; 3] = ["O", "B-X", "I-X"];
pub const EMBEDDING: [f32; 15] = [
    1.0, 0.0, 0.0, // <pad>
    1.0, 0.0, -0.5, // <unk>
    0.0, 2.0, 0.5, // a
    0.0, 0.5, 2.0, // b
    3.0, 0.0, 0.0, // " "
];

/// The pinned character table the runtime carries (the core's `tables/`); the core's
/// `tests/repository.rs` checks that it is the forge's table.
pub fn char_table() -> proto::CharTable {
    proto::CharTable::decode(CARRIED_CHAR_TABLE).expect("the carried table parses")
}

pub fn tensor(name: &str, dims: &[i64], floats: &[f32], ints: &[i64]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: if floats.is_empty() { 7 } else { 1 },
        float_data: floats.to_vec(),
        int64_data: ints.to_vec(),
        ..Default::default()
    }
}

pub fn value_info(name: &str, elem_type: i32, dims: &[&str]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension, Dimension};
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(match d.parse::<i64>() {
                                Ok(v) => dimension::Value::DimValue(v),
                                Err(_) => dimension::Value::DimParam((*d).into()),
                            }),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn node(op: &str, inputs: &[&str], outputs: &[&str], attributes: Vec<pb::AttributeProto>) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        input: inputs.iter().map(|s| (*s).into()).collect(),
        output: outputs.iter().map(|s| (*s).into()).collect(),
        attribute: attributes,
        ..Default::default()
    }
}

pub fn int_attribute(name: &str, value: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: 2,
        i: value,
        ..Default::default()
    }
}

/// The sparse binary logistic-regression graph the forge exports.
pub fn onnx_model(rows: usize) -> Vec<u8> {
    model(pb::GraphProto {
        name: "synthetic".into(),
        node: vec![
            node("Gather", &["W", "indices"], &["rows"], vec![int_attribute("axis", 0)]),
            node("Unsqueeze", &["values", "axis2"], &["values3"], vec![]),
            node("Mul", &["rows", "values3"], &["weighted"], vec![]),
            node(
                "ReduceSum",
                &["weighted", "axis1"],
                &["dot"],
                vec![int_attribute("keepdims", 0)],
            ),
            node("Add", &["dot", "b"], &["logits"], vec![]),
            node("Neg", &["logits"], &["neg"], vec![]),
            node("Concat", &["neg", "logits"], &["pair"], vec![int_attribute("axis", 1)]),
            node("Sigmoid", &["pair"], &["probabilities"], vec![]),
        ],
        initializer: vec![
            tensor("W", &[rows as i64, 1], &WEIGHTS[..rows], &[]),
            tensor("b", &[1], &[0.25], &[]),
            tensor("axis2", &[1], &[], &[2]),
            tensor("axis1", &[1], &[], &[1]),
        ],
        input: vec![
            value_info("indices", 7, &["batch", "n"]),
            value_info("values", 1, &["batch", "n"]),
        ],
        output: vec![
            value_info("logits", 1, &["batch", "1"]),
            value_info("probabilities", 1, &["batch", "2"]),
        ],
        ..Default::default()
    })
}

/// Emissions are rows of an embedding: Gather(E, ids) -> [1, n, tags].
pub fn tagger_model() -> Vec<u8> {
    model(pb::GraphProto {
        name: "synthetic_tagger".into(),
        node: vec![node(
            "Gather",
            &["E", "ids"],
            &["emissions"],
            vec![int_attribute("axis", 0)],
        )],
        initializer: vec![tensor("E", &[UNITS.len() as i64, TAGS.len() as i64], &EMBEDDING, &[])],
        input: vec![value_info("ids", 7, &["1", "n"])],
        output: vec![value_info("emissions", 1, &["1", "n", "3"])],
        ..Default::default()
    })
}

pub fn model(graph: pb::GraphProto) -> Vec<u8> {
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        producer_name: "cerebellum tests".into(),
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

pub fn preprocessor(model: &[u8]) -> proto::Preprocessor {
    proto::Preprocessor {
        kind: proto::TaskKind::TextClassification as i32,
        task: "synthetic".into(),
        labels: vec!["Statement".into(), "Question".into()],
        char_table: Some(char_table()),
        tokenizer: Some(proto::TokenizerSpec {
            ngram_min: 1,
            ngram_max: 2,
            boundary_tokens: true,
        }),
        tfidf: Some(proto::TfidfSpec {
            vocabulary: VOCABULARY.iter().map(|s| (*s).into()).collect(),
            idf: IDF.to_vec(),
            sublinear_tf: false,
            norm: proto::Norm::L2 as i32,
            hash_buckets: 0,
            ..Default::default()
        }),
        onnx: Some(proto::OnnxSignature {
            indices_input: "indices".into(),
            values_input: "values".into(),
            logits_output: "logits".into(),
            probabilities_output: "probabilities".into(),
            num_features: VOCABULARY.len() as u32,
            ..Default::default()
        }),
        model_sha256: Sha256::digest(model).to_vec(),
        ..Default::default()
    }
}

pub fn wrap(preprocessor: &proto::Preprocessor) -> Vec<u8> {
    let payload = preprocessor.encode_to_vec();
    proto::PreprocessorFile {
        magic: cerebellum::MAGIC.into(),
        format_version: cerebellum::FORMAT_VERSION,
        preprocessor_sha256: Sha256::digest(&payload).to_vec(),
        preprocessor: payload,
    }
    .encode_to_vec()
}

/// Names the carried character table instead of holding it (feature `chartable-by-name`).
pub fn char_table_by_name(pre: &mut proto::Preprocessor) {
    pre.char_table = Some(proto::CharTable {
        id: "unicode-14.0.0/fold-v1".into(),
        sha256: Sha256::digest(CARRIED_CHAR_TABLE).to_vec(),
        ..Default::default()
    });
    pre.required_features.push(cerebellum::CHARTABLE_BY_NAME.into());
}

/// (preprocessor.bin, model.onnx) of the synthetic classifier.
pub fn bundle() -> (Vec<u8>, Vec<u8>) {
    let model = onnx_model(VOCABULARY.len());
    (wrap(&preprocessor(&model)), model)
}

/// (preprocessor.bin, model.onnx) of the synthetic tagger.
pub fn tagger_bundle() -> (Vec<u8>, Vec<u8>) {
    tagger_bundle_with(tagger_model())
}

/// (preprocessor.bin, model.onnx) of a tagger with the synthetic tagger's units and tags
/// and this emission graph (input `ids`, output `emissions`).
pub fn tagger_bundle_with(model: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
    let n = TAGS.len();
    let preprocessor = proto::Preprocessor {
        kind: proto::TaskKind::SequenceTagging as i32,
        task: "synthetic_tagger".into(),
        labels: TAGS.iter().map(|s| (*s).into()).collect(),
        char_table: Some(char_table()),
        tagger: Some(proto::TaggerSpec {
            vocabulary: UNITS.iter().map(|s| (*s).into()).collect(),
            unknown_id: 1,
            transitions: vec![0.0; n * n],
            start: vec![0.0; n],
            end: vec![0.0; n],
            ..Default::default()
        }),
        onnx: Some(proto::OnnxSignature {
            ids_input: "ids".into(),
            emissions_output: "emissions".into(),
            ..Default::default()
        }),
        model_sha256: Sha256::digest(&model).to_vec(),
        ..Default::default()
    };
    (wrap(&preprocessor), model)
}

/// Writes a bundle into `directory` (created if needed).
pub fn write_bundle(directory: &Path, (preprocessor, model): &(Vec<u8>, Vec<u8>)) {
    std::fs::create_dir_all(directory).unwrap();
    std::fs::write(directory.join(cerebellum::PREPROCESSOR_FILE), preprocessor).unwrap();
    std::fs::write(directory.join(cerebellum::MODEL_FILE), model).unwrap();
}

/// A fresh temporary directory for this process and `name`.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cerebellum-tests-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A tiny deterministic generator (xorshift), so tests need no rand crate.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
