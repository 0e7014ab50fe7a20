//! The tagger's check of a defer rule (a tagger has none), under the name it uses until
//! it moves into the core (issue #12). The public [`cerebellum_core::DeferRule`] is
//! re-exported at the crate root.

use std::path::Path;

use crate::error::{Error, Locations, Result};
use crate::proto;

/// Only a namespace: see the module documentation.
pub(crate) enum DeferRule {}

impl DeferRule {
    /// The bundle's rule, `None` when it has none; checked as the spec requires.
    pub(crate) fn of(pre: &proto::Preprocessor, path: &Path) -> Result<Option<cerebellum_core::DeferRule>> {
        let at = Locations {
            preprocessor: path.to_path_buf(),
            model: path.to_path_buf(),
        };
        cerebellum_core::DeferRule::of(pre).map_err(|e| Error::located(e, &at))
    }
}
