//! Picks the memory map and the runtime's linker script for the target, and embeds the
//! bundle named by MCU_BUNDLE (a bundle directory) in the footprint probe.

use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    let arch = env::var("CARGO_CFG_TARGET_ARCH")?;
    let (memory, link_args): (&str, &[&str]) = match arch.as_str() {
        "arm" => ("memory/thumbv7em.x", &["-Tlink.x"]),
        "riscv32" => ("memory/riscv32.x", &["-Tmemory.x", "-Tlink.x"]),
        other => return Err(format!("no memory map for target arch {other}: build with conformance/mcu.sh").into()),
    };
    fs::copy(memory, out.join("memory.x"))?;
    println!("cargo:rustc-link-search={}", out.display());
    for arg in link_args {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rerun-if-changed=memory");

    // The footprint probe's bundle: the two files, or empty ones (the probe then says so).
    println!("cargo:rerun-if-env-changed=MCU_BUNDLE");
    let bundle = env::var_os("MCU_BUNDLE").map(PathBuf::from);
    let mut name = String::new();
    for (file, key) in [
        ("preprocessor.bin", "FOOTPRINT_PREPROCESSOR"),
        ("model.onnx", "FOOTPRINT_MODEL"),
    ] {
        let path = match &bundle {
            Some(dir) => {
                let path = dir.join(file);
                println!("cargo:rerun-if-changed={}", path.display());
                fs::canonicalize(&path).map_err(|e| format!("MCU_BUNDLE: {}: {e}", path.display()))?
            }
            None => {
                let empty = out.join(file);
                fs::write(&empty, b"")?;
                empty
            }
        };
        println!("cargo:rustc-env={key}={}", path.display());
    }
    if let Some(dir) = &bundle {
        name = Path::new(dir)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
    }
    println!("cargo:rustc-env=FOOTPRINT_BUNDLE={name}");
    Ok(())
}
