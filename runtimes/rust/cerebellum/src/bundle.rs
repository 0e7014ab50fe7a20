//! Reads bundle files from a directory or from memory; the core checks them (spec section 1).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use cerebellum_core::internal::{check_model_checksum, check_size, unwrap_preprocessor};
use cerebellum_core::{Bundle, BundleFile, Limits, MODEL_FILE, PREPROCESSOR_FILE};

use crate::error::{Error, Locations, Result};

fn read(path: &Path, file: BundleFile, limit: usize, at: &Locations) -> Result<Vec<u8>> {
    // The size is checked before a byte is read, so a huge file costs nothing.
    if let Ok(meta) = std::fs::metadata(path) {
        let size = usize::try_from(meta.len()).unwrap_or(usize::MAX);
        check_size(file, "file size", size, limit).map_err(|e| Error::located(e, at))?;
    }
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound {
            path: path.to_path_buf(),
            problem: "file not found".into(),
        },
        _ => Error::NotFound {
            path: path.to_path_buf(),
            problem: format!("cannot read: {e}"),
        },
    })
}

/// The bundle in `directory`, read one file at a time: a bad preprocessor is reported
/// before the model is read.
pub(crate) fn read_bundle(directory: &Path, limits: &Limits) -> Result<(Bundle<'static>, Locations)> {
    if !directory.is_dir() {
        return Err(Error::NotFound {
            path: directory.to_path_buf(),
            problem: "bundle directory not found".into(),
        });
    }
    let at = Locations::in_directory(directory);
    let located = |e| Error::located(e, &at);
    let preprocessor_bytes = read(
        &at.preprocessor,
        BundleFile::Preprocessor,
        limits.max_preprocessor_bytes,
        &at,
    )?;
    let preprocessor = unwrap_preprocessor(&preprocessor_bytes).map_err(located)?;
    let model = read(&at.model, BundleFile::Model, limits.max_model_bytes, &at)?;
    check_model_checksum(&model, &preprocessor).map_err(located)?;
    let bundle = Bundle::checked(preprocessor, Cow::Owned(model), limits).map_err(located)?;
    Ok((bundle, at))
}

/// A bundle from the contents of its two files; errors name them `<bytes>/preprocessor.bin`
/// and `<bytes>/model.onnx`.
pub(crate) fn read_bundle_bytes<'a>(
    preprocessor: &[u8],
    model: &'a [u8],
    limits: &Limits,
) -> Result<(Bundle<'a>, Locations)> {
    let at = Locations {
        preprocessor: PathBuf::from("<bytes>").join(PREPROCESSOR_FILE),
        model: PathBuf::from("<bytes>").join(MODEL_FILE),
    };
    let bundle = Bundle::parse(preprocessor, model, limits).map_err(|e| Error::located(e, &at))?;
    Ok((bundle, at))
}
