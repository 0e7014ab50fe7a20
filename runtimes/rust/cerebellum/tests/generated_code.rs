//! The committed prost code must match proto/ (so users never need protoc).
//! Run with CEREBELLUM_BLESS=1 to rewrite it after editing a schema.

use std::path::PathBuf;

#[test]
fn generated_protobuf_code_is_fresh() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let proto_dir = crate_dir.join("../../../proto");
    let out = std::env::temp_dir().join(format!("cerebellum-proto-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("temp dir");
    let descriptors =
        protox::compile(["cerebellum/v1/bundle.proto", "onnx/subset.proto"], [&proto_dir]).expect("schemas compile");
    prost_build::Config::new()
        .out_dir(&out)
        .compile_fds(descriptors)
        .expect("prost generates code");
    let mut stale = Vec::new();
    for file in ["cerebellum.v1.rs", "onnx_subset.rs"] {
        let committed = crate_dir.join("src/generated").join(file);
        let fresh = std::fs::read_to_string(out.join(file)).expect("generated file");
        if std::env::var_os("CEREBELLUM_BLESS").is_some() {
            std::fs::write(&committed, &fresh).expect("write generated code");
        }
        if std::fs::read_to_string(&committed).unwrap_or_default() != fresh {
            stale.push(committed.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "{stale:?} stale: run CEREBELLUM_BLESS=1 cargo test -p cerebellum --test generated_code"
    );
}
