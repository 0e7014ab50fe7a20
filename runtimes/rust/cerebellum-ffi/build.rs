//! Linux: give `libcerebellum.so` a versioned SONAME (`libcerebellum.so.MAJOR`), so a
//! program linked against it records that name and keeps loading only ABI-compatible
//! builds; `make c-lib` stages the matching `libcerebellum.so.MAJOR` symlink.

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let major = env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_default();
    if target_os == "linux" && !major.is_empty() {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libcerebellum.so.{major}");
    }
}
