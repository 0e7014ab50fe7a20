//! The runtime crate's synthetic bundles, shared by path rather than copied.

#[path = "../../../../runtimes/rust/cerebellum/tests/common/mod.rs"]
mod shared;

pub use shared::*;
