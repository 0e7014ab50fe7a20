//! The committed C header must match what cbindgen generates from the crate,
//! with version macros from Cargo.toml. Run with CEREBELLUM_BLESS=1 to rewrite it.

use std::path::PathBuf;

#[test]
fn header_is_fresh() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut fresh = Vec::new();
    cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .with_after_include(version_macros())
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

/// The package version as macros, so C code can check at compile time what
/// `cerebellum_version()` checks at run time; a version bump makes the header stale.
fn version_macros() -> String {
    format!(
        "\n// The version of this header; cerebellum_version() gives the library's.\n\
         #define CEREBELLUM_VERSION_MAJOR {}\n\
         #define CEREBELLUM_VERSION_MINOR {}\n\
         #define CEREBELLUM_VERSION_PATCH {}\n\
         #define CEREBELLUM_VERSION \"{}\"",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION"),
    )
}
