//! The committed C header must match what cbindgen generates from the crate.
//! Run with CEREBELLUM_BLESS=1 to rewrite it.

use std::path::PathBuf;

#[test]
fn header_is_fresh() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut fresh = Vec::new();
    cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut fresh);
    let committed = crate_dir.join("include/cerebellum.h");
    if std::env::var_os("CEREBELLUM_BLESS").is_some() {
        std::fs::write(&committed, &fresh).expect("write header");
    }
    let old = std::fs::read(&committed).unwrap_or_default();
    assert!(
        old == fresh,
        "{} is stale: run CEREBELLUM_BLESS=1 cargo test -p cerebellum-ffi --test header",
        committed.display()
    );
}
