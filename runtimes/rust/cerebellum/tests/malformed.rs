//! Hundreds of damaged bundles: every one is an error, none panics.

mod common;

use cerebellum::Error;
use common::proto;
use common::Rng;

fn load(pre: &[u8], model: &[u8]) -> Result<cerebellum::Model, Error> {
    cerebellum::load_bytes(pre, model)
}

#[test]
fn truncated_and_bit_flipped_files_are_errors() {
    let (pre, model) = common::bundle();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for cut in [0, 1, 2, 7, pre.len() / 2, pre.len() - 1] {
        assert!(load(&pre[..cut], &model).is_err(), "preprocessor cut at {cut}");
    }
    for cut in [0, 1, model.len() / 3, model.len() - 1] {
        assert!(
            matches!(load(&pre, &model[..cut]), Err(Error::Integrity { .. })),
            "model cut at {cut}"
        );
    }
    for _ in 0..300 {
        let mut damaged = pre.clone();
        let at = rng.below(damaged.len());
        damaged[at] ^= 1 << rng.below(8);
        assert!(load(&damaged, &model).is_err(), "preprocessor bit flip at {at}");
        let mut damaged = model.clone();
        let at = rng.below(damaged.len());
        damaged[at] ^= 1 << rng.below(8);
        assert!(
            matches!(load(&pre, &damaged), Err(Error::Integrity { .. })),
            "model bit flip at {at}"
        );
    }
}

#[test]
fn resigned_garbage_models_never_panic() {
    // The checksums are made to match, so the bytes reach tract itself.
    let (_, model) = common::bundle();
    let mut rng = Rng(12345);
    for round in 0..200 {
        let mut damaged = model.clone();
        for _ in 0..=(round % 4) {
            let at = rng.below(damaged.len());
            damaged[at] = rng.next() as u8;
        }
        if round % 10 == 0 {
            damaged.truncate(rng.below(damaged.len()));
        }
        let pre = common::wrap(&common::preprocessor(&damaged));
        if let Ok(cerebellum::Model::Classifier(c)) = load(&pre, &damaged) {
            let _ = c.predict_proba("hello what?");
        }
    }
}

#[test]
fn each_failure_has_its_type_and_names_the_file() {
    let (pre, model) = common::bundle();
    let mut envelope: proto::PreprocessorFile = prost::Message::decode(pre.as_slice()).expect("envelope");
    envelope.format_version = 2;
    let err = load(&prost::Message::encode_to_vec(&envelope), &model).expect_err("version error");
    assert!(matches!(
        err,
        Error::Version {
            found: 2,
            supported: 1,
            ..
        }
    ));
    assert!(err.to_string().contains("preprocessor.bin: bundle format version 2"));

    let other = common::onnx_model(3); // fewer weight rows than the vocabulary
    let pre = common::wrap(&common::preprocessor(&other));
    let err = load(&pre, &other).expect_err("mismatch");
    assert!(matches!(err, Error::Mismatch { .. }), "{err}");
    assert!(err.to_string().contains("model.onnx"));

    let mut wrong_kind = common::preprocessor(&model);
    wrong_kind.kind = proto::TaskKind::Unspecified as i32;
    assert!(matches!(
        load(&common::wrap(&wrong_kind), &model),
        Err(Error::Corrupt { .. })
    ));

    let mut bad_table = common::preprocessor(&model);
    if let Some(t) = bad_table.char_table.as_mut() {
        t.fold_to_len.push(5);
    }
    let err = load(&common::wrap(&bad_table), &model).expect_err("bad table");
    assert!(err.to_string().contains("fold lengths"), "{err}");

    let missing = std::env::temp_dir().join("cerebellum-no-such-bundle");
    assert!(matches!(cerebellum::load(&missing), Err(Error::NotFound { .. })));
}
