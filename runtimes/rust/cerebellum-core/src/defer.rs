//! The defer rule of a classifier: when to hand a text on instead of answering it (spec section 6).

use alloc::format;

use crate::error::{BundleFile, Error, Result};
use crate::proto;

/// The feature name of a bundle with a defer rule (spec section 6).
pub const DEFER_RULE: &str = "defer-rule";

/// What a defer rule measures of a row's scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeferMeasure {
    /// The largest score.
    TopScore,
    /// The largest score minus the second largest.
    Margin,
}

/// Defer a text when the measure of its scores is below `threshold`.
///
/// ```
/// use cerebellum_core::{DeferMeasure, DeferRule};
///
/// let rule = DeferRule { measure: DeferMeasure::Margin, threshold: 0.25 };
/// assert!(rule.defers(&[0.5, 0.4, 0.1]));
/// assert!(!rule.defers(&[0.7, 0.2, 0.1]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DeferRule {
    /// What is compared with the threshold.
    pub measure: DeferMeasure,
    /// Rows whose measure is below it are deferred.
    pub threshold: f32,
}

impl DeferRule {
    /// The bundle's rule, `None` when it has none; checked as the spec requires.
    #[doc(hidden)]
    pub fn of(pre: &proto::Preprocessor) -> Result<Option<Self>> {
        let file = BundleFile::Preprocessor;
        let listed = pre.required_features.iter().any(|f| f == DEFER_RULE);
        let Some(rule) = pre.defer_rule.as_ref() else {
            if listed {
                return Err(Error::corrupt(
                    file,
                    format!("required_features lists '{DEFER_RULE}' but there is no defer_rule"),
                ));
            }
            return Ok(None);
        };
        if !listed {
            return Err(Error::corrupt(
                file,
                format!("defer_rule is set but required_features does not list '{DEFER_RULE}'"),
            ));
        }
        if pre.kind != proto::TaskKind::TextClassification as i32 {
            return Err(Error::corrupt(file, "defer_rule: only classifiers defer"));
        }
        let measure = match proto::defer_rule::Measure::try_from(rule.measure) {
            Ok(proto::defer_rule::Measure::TopScore) => DeferMeasure::TopScore,
            Ok(proto::defer_rule::Measure::Margin) => DeferMeasure::Margin,
            _ => {
                return Err(Error::corrupt(
                    file,
                    format!("defer_rule: unknown measure {}", rule.measure),
                ))
            }
        };
        if !rule.threshold.is_finite() {
            return Err(Error::corrupt(file, "defer_rule: the threshold must be finite"));
        }
        Ok(Some(DeferRule {
            measure,
            threshold: rule.threshold,
        }))
    }

    /// The rule's measure of `scores`, in f64 (exact for these differences of f32 values).
    pub fn measure_of(&self, scores: &[f32]) -> f64 {
        if scores.is_empty() {
            return 0.0;
        }
        let top_index = crate::classifier::first_max(scores);
        let top = f64::from(scores[top_index]);
        match self.measure {
            DeferMeasure::TopScore => top,
            DeferMeasure::Margin => {
                // The largest of the others; a single score has none, and the spec takes 0.
                let second = scores
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| i != top_index)
                    .map(|(_, &s)| f64::from(s))
                    .fold(f64::NEG_INFINITY, f64::max);
                top - if scores.len() > 1 { second } else { 0.0 }
            }
        }
    }

    /// Whether a row with these scores is deferred (always, when a score is NaN).
    pub fn defers(&self, scores: &[f32]) -> bool {
        scores.iter().any(|s| s.is_nan()) || self.measure_of(scores) < f64::from(self.threshold)
    }
}
