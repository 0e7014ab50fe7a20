//! The crate's copies of repository sources are current: the committed prost
//! code matches `proto/` (so users never need protoc), the character table the
//! crate embeds is the forge's `forge/tables/chartable-v1.tsv`, and the example
//! bundle is the `cerebellum` crate's (whose tests check it against its synthetic
//! classifier).
//!
//! These need the repository around the crate, so `Cargo.toml` leaves this file
//! out of the published package. Run with CEREBELLUM_BLESS=1 to rewrite the
//! generated code after editing a schema.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use cerebellum_core::internal::{proto, CARRIED_CHAR_TABLE};
use prost::Message;

/// The repository root, found by walking up from the crate.
fn repository_root() -> PathBuf {
    let mut root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !root.join("proto/cerebellum/v1/bundle.proto").exists() {
        root = root
            .parent()
            .expect("tests/repository.rs runs inside the model_foundry repository")
            .to_path_buf();
    }
    root
}

#[test]
fn generated_protobuf_code_is_fresh() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let proto_dir = repository_root().join("proto");
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
        "{stale:?} stale: run CEREBELLUM_BLESS=1 cargo test -p cerebellum-core --test repository"
    );
}

#[test]
fn the_carried_table_is_the_forges_table() {
    let carried = proto::CharTable::decode(CARRIED_CHAR_TABLE).expect("the carried table parses");
    assert_eq!(carried, forge_char_table(&repository_root()));
}

#[test]
fn the_example_bundle_is_the_std_crates() {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bundles/tiny_is_question");
    let there = repository_root().join("runtimes/rust/cerebellum/bundles/tiny_is_question");
    for file in [cerebellum_core::PREPROCESSOR_FILE, cerebellum_core::MODEL_FILE] {
        let read = |dir: &Path| std::fs::read(dir.join(file)).expect("bundle file");
        assert!(
            read(&here) == read(&there),
            "{file}: copy {} to {}",
            there.display(),
            here.display()
        );
    }
}

/// The forge's pinned table (`forge/tables/chartable-v1.tsv`) as a `CharTable` message.
fn forge_char_table(root: &Path) -> proto::CharTable {
    let text = std::fs::read_to_string(root.join("forge/tables/chartable-v1.tsv")).expect("the pinned table");
    let mut table = proto::CharTable {
        id: "unicode-14.0.0/fold-v1".into(),
        ..Default::default()
    };
    let (mut previous_fold, mut previous_run) = (0u32, 0u32);
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let mut parts = line.split('\t');
        let (kind, key, value) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap_or(""));
        let key = u32::from_str_radix(key, 16).unwrap();
        if kind == "fold" {
            let targets: Vec<u32> = value
                .split_whitespace()
                .map(|v| u32::from_str_radix(v, 16).unwrap())
                .collect();
            table.fold_from_delta.push(key - previous_fold);
            table.fold_to_len.push(targets.len() as u32);
            table.fold_to.extend(targets);
            previous_fold = key;
        } else {
            let class = match value {
                "SEPARATOR" => proto::CharClass::Separator,
                "WORD" => proto::CharClass::Word,
                _ => proto::CharClass::Single,
            };
            table.class_start_delta.push(key - previous_run);
            table.class_of_run.push(class as i32);
            previous_run = key;
        }
    }
    table
}
