//! The committed prost code must match conformance/testee.proto (so building
//! the testee never needs protoc). Run with CEREBELLUM_BLESS=1 to rewrite it
//! after editing the schema.

use std::path::PathBuf;

#[test]
fn generated_protobuf_code_is_fresh() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let proto_dir = crate_dir.join("..");
    let committed = crate_dir.join("../testee-core/src/generated/cerebellum.conformance.v1.rs");
    let out = std::env::temp_dir().join(format!("cerebellum-testee-proto-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("temp dir");
    let descriptors = protox::compile(["testee.proto"], [&proto_dir]).expect("schema compiles");
    prost_build::Config::new()
        .out_dir(&out)
        .compile_fds(descriptors)
        .expect("prost generates code");
    let fresh = std::fs::read_to_string(out.join("cerebellum.conformance.v1.rs")).expect("generated file");
    if std::env::var_os("CEREBELLUM_BLESS").is_some() {
        std::fs::write(&committed, &fresh).expect("write generated code");
    }
    let old = std::fs::read_to_string(&committed).unwrap_or_default();
    assert!(
        old == fresh,
        "{} is stale: run CEREBELLUM_BLESS=1 cargo test -p cerebellum-testee --test generated_code",
        committed.display()
    );
}
