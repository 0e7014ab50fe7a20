//! The core's character table under the names the tagger uses (it moves into the core
//! with the tagger, issue #12): errors name the preprocessor's path.

use std::path::Path;

pub(crate) use cerebellum_core::internal::CharClass;

use crate::error::{Error, Locations, Result};
use crate::proto;

/// The core's table; `Deref` gives its methods.
#[derive(Debug)]
pub(crate) struct CharTable(cerebellum_core::internal::CharTable);

impl CharTable {
    /// Decode and check the table of the preprocessor at `path`.
    pub(crate) fn new(table: &proto::CharTable, path: &Path) -> Result<Self> {
        let at = Locations {
            preprocessor: path.to_path_buf(),
            model: path.to_path_buf(),
        };
        cerebellum_core::internal::CharTable::decode(table)
            .map(CharTable)
            .map_err(|e| Error::located(e, &at))
    }
}

impl std::ops::Deref for CharTable {
    type Target = cerebellum_core::internal::CharTable;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
