//! C ABI of the cerebellum runtime.
//!
//! Conventions: every function returns a [`CerebellumStatus`] (0 is
//! success); on failure [`cerebellum_last_error`] gives a message for the
//! calling thread. Text is passed as a pointer and a byte length and must
//! be UTF-8 (`NULL` with length 0 is the empty text). Handles are opaque
//! and freed with [`cerebellum_free`]; one handle may serve many threads at
//! once (see [`CerebellumModel`]). No panic crosses the boundary: each
//! entry point catches them and reports `CEREBELLUM_STATUS_PANIC`.

#![allow(unsafe_code)]

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Status codes returned by every function.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CerebellumStatus {
    /// Success.
    Ok = 0,
    /// A required pointer argument was null.
    NullArgument = 1,
    /// The bundle directory or a file is missing or unreadable.
    NotFound = 2,
    /// A bundle file cannot be parsed or is inconsistent.
    Corrupt = 3,
    /// The bundle's format version is not the one this runtime reads.
    Version = 4,
    /// A checksum does not match.
    Integrity = 5,
    /// The ONNX model does not fit its preprocessor.
    Mismatch = 6,
    /// Inference failed.
    Inference = 7,
    /// The model produced non-finite scores.
    NonFinite = 8,
    /// The text is not valid UTF-8.
    InvalidUtf8 = 9,
    /// The operation does not apply to this kind of model.
    WrongKind = 10,
    /// An output buffer is too small; nothing else was written. `cerebellum_tag`
    /// writes the needed count; for scores the size is `cerebellum_num_labels`.
    BufferTooSmall = 11,
    /// An internal error (a caught panic); the handle should not be used again.
    Panic = 12,
    /// The bundle claims more than the limits allow (see `CerebellumLimits`).
    Limit = 13,
}

/// What a bundle may claim at most; `cerebellum_default_limits` fills one for a phone.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CerebellumLimits {
    /// Bytes of `preprocessor.bin`.
    pub max_preprocessor_bytes: usize,
    /// Bytes of `model.onnx`.
    pub max_model_bytes: usize,
    /// TF-IDF terms, or tagger units.
    pub max_vocabulary: usize,
    /// Labels, or tags.
    pub max_labels: usize,
    /// Character table entries.
    pub max_char_table_entries: usize,
    /// Elements of all ONNX initializers together.
    pub max_initializer_elements: u64,
}

impl From<CerebellumLimits> for cerebellum::Limits {
    fn from(l: CerebellumLimits) -> Self {
        cerebellum::Limits {
            max_preprocessor_bytes: l.max_preprocessor_bytes,
            max_model_bytes: l.max_model_bytes,
            max_vocabulary: l.max_vocabulary,
            max_labels: l.max_labels,
            max_char_table_entries: l.max_char_table_entries,
            max_initializer_elements: l.max_initializer_elements,
        }
    }
}

impl From<cerebellum::Limits> for CerebellumLimits {
    fn from(l: cerebellum::Limits) -> Self {
        CerebellumLimits {
            max_preprocessor_bytes: l.max_preprocessor_bytes,
            max_model_bytes: l.max_model_bytes,
            max_vocabulary: l.max_vocabulary,
            max_labels: l.max_labels,
            max_char_table_entries: l.max_char_table_entries,
            max_initializer_elements: l.max_initializer_elements,
        }
    }
}

/// The default limits (sized for a phone); `microcontroller` non-zero gives the MCU tier's.
#[no_mangle]
pub extern "C" fn cerebellum_default_limits(microcontroller: i32) -> CerebellumLimits {
    if microcontroller != 0 {
        cerebellum::Limits::MICROCONTROLLER.into()
    } else {
        cerebellum::Limits::PHONE.into()
    }
}

/// Kind of a loaded model.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CerebellumKind {
    /// Not a model (a null handle).
    Unknown = 0,
    /// Text classification.
    Classifier = 1,
    /// Sequence tagging.
    Tagger = 2,
}

/// An entity found by a tagger. Offsets are byte offsets into the UTF-8 input.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CerebellumEntity {
    /// Index into the model's entity types ([`cerebellum_entity_type`]).
    pub type_index: usize,
    /// First byte of the entity.
    pub byte_start: usize,
    /// One past its last byte.
    pub byte_end: usize,
}

/// An opaque loaded model.
///
/// Thread safety: a handle is never changed after loading, and each query
/// uses scratch buffers and an error message of the calling thread, so any
/// number of threads may call the query functions (`cerebellum_classify`,
/// `cerebellum_classify_defer`, `cerebellum_tag`, `cerebellum_kind`,
/// `cerebellum_label`, ...) on the same handle at the same time, without a
/// lock. Only `cerebellum_free` must not overlap any other use of that handle.
pub struct CerebellumModel {
    model: cerebellum::Model,
    names: Vec<CString>,
    entity_types: Vec<CString>,
}

// The thread-safety promise above: everything a handle holds is Send + Sync.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<CerebellumModel>();
};

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_error(message: impl Into<String>) {
    let text = message.into().replace('\0', " ");
    LAST_ERROR.with(|e| *e.borrow_mut() = CString::new(text).unwrap_or_default());
}

fn status_of(error: &cerebellum::Error) -> CerebellumStatus {
    use cerebellum::Error as E;
    match error {
        E::NotFound { .. } => CerebellumStatus::NotFound,
        E::Corrupt { .. } => CerebellumStatus::Corrupt,
        E::Version { .. } | E::Unsupported { .. } => CerebellumStatus::Version,
        E::Integrity { .. } => CerebellumStatus::Integrity,
        E::Mismatch { .. } => CerebellumStatus::Mismatch,
        E::Limit { .. } => CerebellumStatus::Limit,
        E::Inference(_) => CerebellumStatus::Inference,
        E::NonFinite(_) => CerebellumStatus::NonFinite,
        // `Error` is non-exhaustive; a kind added later is a failure while running.
        _ => CerebellumStatus::Inference,
    }
}

fn fail(error: cerebellum::Error) -> CerebellumStatus {
    set_error(error.to_string());
    status_of(&error)
}

fn guard(f: impl FnOnce() -> CerebellumStatus) -> CerebellumStatus {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(status) => status,
        Err(_) => {
            set_error("internal error: a panic was caught at the C boundary");
            CerebellumStatus::Panic
        }
    }
}

/// Borrow `len` bytes at `ptr` as UTF-8 text; a null `ptr` with `len == 0` is the empty text.
///
/// # Safety
/// `ptr` must be null or point to `len` readable bytes.
unsafe fn text<'a>(ptr: *const c_char, len: usize) -> Result<&'a str, CerebellumStatus> {
    if ptr.is_null() {
        if len == 0 {
            // A C caller's empty buffer is often a null pointer; there is nothing to read.
            return Ok("");
        }
        set_error(format!("text pointer is null with length {len}"));
        return Err(CerebellumStatus::NullArgument);
    }
    // SAFETY: the caller guarantees `len` readable bytes at `ptr`.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    std::str::from_utf8(bytes).map_err(|e| {
        set_error(format!("text is not valid UTF-8: {e}"));
        CerebellumStatus::InvalidUtf8
    })
}

/// Whether a `scores` buffer (null: not wanted) has room for one score per label.
fn check_scores_room(scores: *const f32, scores_len: usize, labels: usize) -> Result<(), CerebellumStatus> {
    if scores.is_null() || scores_len >= labels {
        return Ok(());
    }
    set_error(format!(
        "scores has room for {scores_len} floats, the model has {labels} labels (cerebellum_num_labels)"
    ));
    Err(CerebellumStatus::BufferTooSmall)
}

fn wrap(model: cerebellum::Model) -> Box<CerebellumModel> {
    let to_c = |names: &[String]| {
        names
            .iter()
            .map(|n| CString::new(n.replace('\0', " ")).unwrap_or_default())
            .collect()
    };
    let (names, entity_types) = match &model {
        cerebellum::Model::Classifier(c) => (to_c(c.labels()), Vec::new()),
        cerebellum::Model::Tagger(t) => (to_c(t.tags()), to_c(t.entity_types())),
    };
    Box::new(CerebellumModel {
        model,
        names,
        entity_types,
    })
}

/// This library's version, `MAJOR.MINOR.PATCH` as in the
/// `CEREBELLUM_VERSION_*` macros of the header it was built with; a static
/// NUL-terminated string (never freed).
#[no_mangle]
pub extern "C" fn cerebellum_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The message of the last failure on this thread (empty if none). Valid
/// until the next call on this thread.
#[no_mangle]
pub extern "C" fn cerebellum_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// Load the bundle in directory `path` (a NUL-terminated UTF-8 string).
///
/// # Safety
/// `path` must be a valid NUL-terminated string; `out` a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn cerebellum_load(path: *const c_char, out: *mut *mut CerebellumModel) -> CerebellumStatus {
    guard(|| {
        if path.is_null() || out.is_null() {
            set_error("path or out is null");
            return CerebellumStatus::NullArgument;
        }
        // SAFETY: checked non-null; the caller guarantees NUL termination.
        let path = match unsafe { CStr::from_ptr(path) }.to_str() {
            Ok(p) => p,
            Err(e) => {
                set_error(format!("path is not valid UTF-8: {e}"));
                return CerebellumStatus::InvalidUtf8;
            }
        };
        match cerebellum::load(path) {
            Ok(model) => {
                // SAFETY: `out` is non-null and valid for writes.
                unsafe { *out = Box::into_raw(wrap(model)) };
                CerebellumStatus::Ok
            }
            Err(e) => fail(e),
        }
    })
}

/// Load a bundle from the bytes of its two files (e.g. embedded in firmware), with the default limits.
///
/// # Safety
/// Both buffers must be readable for their lengths; `out` a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn cerebellum_load_bytes(
    preprocessor: *const u8,
    preprocessor_len: usize,
    model: *const u8,
    model_len: usize,
    out: *mut *mut CerebellumModel,
) -> CerebellumStatus {
    // SAFETY: the caller's guarantees are passed on unchanged.
    unsafe {
        cerebellum_load_bytes_with_limits(preprocessor, preprocessor_len, model, model_len, std::ptr::null(), out)
    }
}

/// [`cerebellum_load_bytes`] with the given limits (null: the defaults).
///
/// # Safety
/// Both buffers must be readable for their lengths; `limits` null or valid; `out` a valid pointer.
#[no_mangle]
pub unsafe extern "C" fn cerebellum_load_bytes_with_limits(
    preprocessor: *const u8,
    preprocessor_len: usize,
    model: *const u8,
    model_len: usize,
    limits: *const CerebellumLimits,
    out: *mut *mut CerebellumModel,
) -> CerebellumStatus {
    guard(|| {
        if preprocessor.is_null() || model.is_null() || out.is_null() {
            set_error("a buffer or out is null");
            return CerebellumStatus::NullArgument;
        }
        // SAFETY: the caller guarantees both buffers are readable for their lengths.
        let (pre, onnx) = unsafe {
            (
                std::slice::from_raw_parts(preprocessor, preprocessor_len),
                std::slice::from_raw_parts(model, model_len),
            )
        };
        let limits = if limits.is_null() {
            cerebellum::Limits::default()
        } else {
            // SAFETY: checked non-null; the caller guarantees it points to a CerebellumLimits.
            unsafe { *limits }.into()
        };
        match cerebellum::load_bytes_with_limits(pre, onnx, &limits) {
            Ok(loaded) => {
                // SAFETY: `out` is non-null and valid for writes.
                unsafe { *out = Box::into_raw(wrap(loaded)) };
                CerebellumStatus::Ok
            }
            Err(e) => fail(e),
        }
    })
}

/// Free a model (null is allowed).
///
/// # Safety
/// `model` must come from a load function and not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn cerebellum_free(model: *mut CerebellumModel) {
    if !model.is_null() {
        // SAFETY: the pointer came from Box::into_raw in a load function.
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(model) })));
    }
}

/// The kind of a model (`CEREBELLUM_KIND_UNKNOWN` for a null handle).
///
/// # Safety
/// `model` must be null or a live handle.
#[no_mangle]
pub unsafe extern "C" fn cerebellum_kind(model: *const CerebellumModel) -> CerebellumKind {
    // SAFETY: null or a live handle, per the contract.
    match unsafe { model.as_ref() } {
        Some(m) => match m.model {
            cerebellum::Model::Classifier(_) => CerebellumKind::Classifier,
            cerebellum::Model::Tagger(_) => CerebellumKind::Tagger,
        },
        None => CerebellumKind::Unknown,
    }
}

/// Number of labels (classifier) or tags (tagger).
///
/// # Safety
/// `model` must be null or a live handle.
#[no_mangle]
pub unsafe extern "C" fn cerebellum_num_labels(model: *const CerebellumModel) -> usize {
    // SAFETY: null or a live handle, per the contract.
    unsafe { model.as_ref() }.map_or(0, |m| m.names.len())
}

/// Label (classifier) or tag (tagger) `index`, or null if out of range.
/// Valid while the model lives.
///
/// # Safety
/// `model` must be null or a live handle.
#[no_mangle]
pub unsafe extern "C" fn cerebellum_label(model: *const CerebellumModel, index: usize) -> *const c_char {
    // SAFETY: null or a live handle, per the contract.
    unsafe { model.as_ref() }
        .and_then(|m| m.names.get(index))
        .map_or(std::ptr::null(), |name| name.as_ptr())
}

/// Number of entity types of a tagger (0 for a classifier).
///
/// # Safety
/// `model` must be null or a live handle.
#[no_mangle]
pub unsafe extern "C" fn cerebellum_num_entity_types(model: *const CerebellumModel) -> usize {
    // SAFETY: null or a live handle, per the contract.
    unsafe { model.as_ref() }.map_or(0, |m| m.entity_types.len())
}

/// Entity type `index` of a tagger, or null. Valid while the model lives.
///
/// # Safety
/// `model` must be null or a live handle.
#[no_mangle]
pub unsafe extern "C" fn cerebellum_entity_type(model: *const CerebellumModel, index: usize) -> *const c_char {
    // SAFETY: null or a live handle, per the contract.
    unsafe { model.as_ref() }
        .and_then(|m| m.entity_types.get(index))
        .map_or(std::ptr::null(), |name| name.as_ptr())
}

/// Classify `text`: writes the label index and, if `scores` is not null,
/// one score per label in label order. `scores_len` must be at least
/// `cerebellum_num_labels(model)`; if it is smaller, nothing is written and
/// the status is `CEREBELLUM_STATUS_BUFFER_TOO_SMALL`. `text` may be null
/// when `text_len` is 0 (the empty text).
///
/// # Safety
/// `model` must be a live handle, `text` null or readable for `text_len`
/// bytes, `label_index` valid, and `scores` null or writable for
/// `scores_len` floats.
#[no_mangle]
pub unsafe extern "C" fn cerebellum_classify(
    model: *const CerebellumModel,
    text: *const c_char,
    text_len: usize,
    label_index: *mut usize,
    scores: *mut f32,
    scores_len: usize,
) -> CerebellumStatus {
    // SAFETY: the caller's guarantees are cerebellum_classify_defer's, without a defer flag.
    unsafe {
        cerebellum_classify_defer(
            model,
            text,
            text_len,
            label_index,
            scores,
            scores_len,
            std::ptr::null_mut(),
        )
    }
}

/// As `cerebellum_classify`, and if `defer` is not null writes whether the
/// bundle's defer rule hands the text on (always false without a rule).
///
/// # Safety
/// As for `cerebellum_classify`, and `defer` null or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn cerebellum_classify_defer(
    model: *const CerebellumModel,
    text: *const c_char,
    text_len: usize,
    label_index: *mut usize,
    scores: *mut f32,
    scores_len: usize,
    defer: *mut bool,
) -> CerebellumStatus {
    guard(|| {
        // SAFETY: null or a live handle, per the contract.
        let Some(handle) = (unsafe { model.as_ref() }) else {
            set_error("model is null");
            return CerebellumStatus::NullArgument;
        };
        let cerebellum::Model::Classifier(classifier) = &handle.model else {
            set_error("cerebellum_classify needs a classification model");
            return CerebellumStatus::WrongKind;
        };
        if label_index.is_null() {
            set_error("label_index is null");
            return CerebellumStatus::NullArgument;
        }
        if let Err(status) = check_scores_room(scores, scores_len, handle.names.len()) {
            return status;
        }
        // SAFETY: the caller guarantees `text_len` readable bytes.
        let text = match unsafe { self::text(text, text_len) } {
            Ok(t) => t,
            Err(status) => return status,
        };
        match classifier.classify(text) {
            Ok(result) => {
                // SAFETY: checked non-null; valid for writes per the contract.
                unsafe { *label_index = result.label_index };
                if !scores.is_null() {
                    // One score per label; min() only guards the copy should the two ever differ.
                    let n = scores_len.min(result.scores.len());
                    // SAFETY: `scores` is writable for `scores_len >= n` floats.
                    unsafe { std::ptr::copy_nonoverlapping(result.scores.as_ptr(), scores, n) };
                }
                if !defer.is_null() {
                    // SAFETY: checked non-null; valid for writes per the contract.
                    unsafe { *defer = result.defer };
                }
                CerebellumStatus::Ok
            }
            Err(e) => fail(e),
        }
    })
}

/// Tag `text`: writes up to `capacity` entities and their number to `count`.
/// If `capacity` is too small, writes the needed number to `count` and
/// returns `CEREBELLUM_STATUS_BUFFER_TOO_SMALL`. `text` may be null when
/// `text_len` is 0 (the empty text).
///
/// # Safety
/// `model` must be a live handle, `text` null or readable for `text_len` bytes,
/// `entities` null or writable for `capacity` entries, `count` valid.
#[no_mangle]
pub unsafe extern "C" fn cerebellum_tag(
    model: *const CerebellumModel,
    text: *const c_char,
    text_len: usize,
    entities: *mut CerebellumEntity,
    capacity: usize,
    count: *mut usize,
) -> CerebellumStatus {
    guard(|| {
        // SAFETY: null or a live handle, per the contract.
        let Some(handle) = (unsafe { model.as_ref() }) else {
            set_error("model is null");
            return CerebellumStatus::NullArgument;
        };
        let cerebellum::Model::Tagger(tagger) = &handle.model else {
            set_error("cerebellum_tag needs a tagging model");
            return CerebellumStatus::WrongKind;
        };
        if count.is_null() {
            set_error("count is null");
            return CerebellumStatus::NullArgument;
        }
        // SAFETY: the caller guarantees `text_len` readable bytes.
        let text = match unsafe { self::text(text, text_len) } {
            Ok(t) => t,
            Err(status) => return status,
        };
        match tagger.tag(text) {
            Ok(found) => {
                // SAFETY: checked non-null; valid for writes.
                unsafe { *count = found.len() };
                if found.len() > capacity || (entities.is_null() && !found.is_empty()) {
                    set_error(format!("{} entities found, room for {capacity}", found.len()));
                    return CerebellumStatus::BufferTooSmall;
                }
                for (i, e) in found.iter().enumerate() {
                    let type_index = tagger
                        .entity_types()
                        .iter()
                        .position(|t| *t == e.kind)
                        .unwrap_or(usize::MAX);
                    let entry = CerebellumEntity {
                        type_index,
                        byte_start: e.byte_start,
                        byte_end: e.byte_end,
                    };
                    // SAFETY: i < found.len() <= capacity, and `entities` is writable for `capacity` entries.
                    unsafe { entities.add(i).write(entry) };
                }
                CerebellumStatus::Ok
            }
            Err(e) => fail(e),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_the_package_version_with_a_nul() {
        // SAFETY: cerebellum_version returns a static NUL-terminated string.
        let version = unsafe { CStr::from_ptr(cerebellum_version()) };
        assert_eq!(version.to_str(), Ok(env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn null_text_of_length_zero_is_the_empty_text() {
        // SAFETY: a null pointer is never read.
        assert_eq!(unsafe { text(std::ptr::null(), 0) }, Ok(""));
        // SAFETY: as above; the length makes it an error before any read.
        assert_eq!(
            unsafe { text(std::ptr::null(), 3) },
            Err(CerebellumStatus::NullArgument)
        );
    }

    #[test]
    fn scores_need_room_for_every_label() {
        let mut room = [0.0f32; 3];
        assert_eq!(check_scores_room(room.as_mut_ptr(), 3, 3), Ok(()));
        assert_eq!(check_scores_room(room.as_mut_ptr(), 3, 2), Ok(()));
        assert_eq!(check_scores_room(std::ptr::null(), 0, 3), Ok(()));
        assert_eq!(
            check_scores_room(room.as_mut_ptr(), 2, 3),
            Err(CerebellumStatus::BufferTooSmall)
        );
    }
}
