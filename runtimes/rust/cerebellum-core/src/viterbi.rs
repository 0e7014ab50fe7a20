//! CRF decoding with float32 additions and comparisons only (spec section 8).

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

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
/// let path = cerebellum_core::viterbi(&emissions, 2, &transitions, &[0.0, 0.0], &[0.0, 0.0])?;
/// assert_eq!(path, vec![1, 0]);
/// assert!(cerebellum_core::viterbi(&emissions, 2, &transitions, &[0.0], &[0.0, 0.0]).is_err());
/// # Ok::<(), cerebellum_core::Error>(())
/// ```
pub fn viterbi(emissions: &[f32], tags: usize, transitions: &[f32], start: &[f32], end: &[f32]) -> Result<Vec<usize>> {
    check_shapes(emissions.len(), tags, transitions.len(), start.len(), end.len())?;
    if emissions.is_empty() {
        return Ok(Vec::new());
    }
    let n = emissions.len() / tags;
    let mut score: Vec<f32> = (0..tags).map(|j| start[j] + emissions[j]).collect();
    let mut next = vec![0.0f32; tags];
    let mut pointers = vec![0usize; n * tags];
    for t in 1..n {
        for j in 0..tags {
            let mut best_from = 0;
            let mut best = score[0] + transitions[j];
            for i in 1..tags {
                let candidate = score[i] + transitions[i * tags + j];
                if candidate > best {
                    best = candidate;
                    best_from = i;
                }
            }
            pointers[t * tags + j] = best_from;
            next[j] = best + emissions[t * tags + j];
        }
        core::mem::swap(&mut score, &mut next);
    }
    let mut last = 0;
    let mut best = score[0] + end[0];
    for j in 1..tags {
        let candidate = score[j] + end[j];
        if candidate > best {
            best = candidate;
            last = j;
        }
    }
    let mut path = vec![0usize; n];
    path[n - 1] = last;
    for t in (1..n).rev() {
        last = pointers[t * tags + last];
        path[t - 1] = last;
    }
    Ok(path)
}

fn check_shapes(emissions: usize, tags: usize, transitions: usize, start: usize, end: usize) -> Result<()> {
    let whole_rows = emissions.is_multiple_of(tags); // with no tags, only no emissions
    let problem = if !whole_rows {
        Some(format!(
            "viterbi: {emissions} emission scores are not whole rows of {tags} tags"
        ))
    } else if Some(transitions) != tags.checked_mul(tags) {
        Some(format!(
            "viterbi: {transitions} transition scores for {tags} tags (needs {tags}x{tags})"
        ))
    } else if start != tags || end != tags {
        Some(format!("viterbi: {start} start and {end} end scores for {tags} tags"))
    } else {
        None
    };
    problem.map_or(Ok(()), |problem| Err(Error::Shape(problem)))
}
