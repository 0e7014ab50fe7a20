//! CRF decoding with float32 additions and comparisons only (spec section 8): the core's,
//! with this crate's [`Error`].

use crate::error::{Error, Result};

/// The highest-scoring tag path; ties go to the lowest tag index.
///
/// `emissions` is row-major `[n, tags]`, `transitions` row-major `[from, to]`,
/// `start` and `end` one score per tag. Slices whose lengths do not fit `tags`
/// are an [`Error::Shape`]; no emissions give an empty path.
///
/// ```
/// let emissions = [0.0f32, 1.0, 2.0, 0.0];
/// let transitions = [0.0f32; 4];
/// let path = cerebellum::viterbi(&emissions, 2, &transitions, &[0.0, 0.0], &[0.0, 0.0])?;
/// assert_eq!(path, vec![1, 0]);
/// assert!(cerebellum::viterbi(&emissions, 2, &transitions, &[0.0], &[0.0, 0.0]).is_err());
/// # Ok::<(), cerebellum::Error>(())
/// ```
pub fn viterbi(emissions: &[f32], tags: usize, transitions: &[f32], start: &[f32], end: &[f32]) -> Result<Vec<usize>> {
    cerebellum_core::viterbi(emissions, tags, transitions, start, end).map_err(Error::of_call)
}
