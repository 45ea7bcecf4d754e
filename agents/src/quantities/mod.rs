//! Per-agent quantities that distribution metrics (`gini`, `jain`) summarise, by name.
//!
//! Each is a plug-in with a stable `NAME`, registered in [`crate::register_all`]; a behavior
//! with a number worth measuring adds its own file here and one registration line.

mod neighbors;
mod simple;

pub use neighbors::Neighbors;
pub use simple::{OpinionValue, Speed, State, Work};
