//! Parameter sweeps: a sweep file expands into runs that execute in parallel, shard across
//! machines, stream their rows to `results.csv`, resume after interruption, and merge.
//!
//! The pieces, in the order a sweep uses them:
//!
//! 1. [`SweepFile`] reads and validates a sweep file (base scenario, seed, replications,
//!    axes); [`expand()`] turns it into a [`SweepPlan`] of [`RunSpec`]s, each with a stable id
//!    and seed that depend only on its parameter values;
//! 2. [`Shard`] picks a deterministic subset (`--shard i/n` or from a launcher's
//!    environment);
//! 3. [`run_sweep`] runs the plan on a pool of worker threads and appends one row per
//!    finished run to `results.csv` (format in [`table`]); it knows nothing about scenarios:
//!    it calls an executor for each run, and [`SweepExecutor`] is the one that builds and
//!    runs real simulations;
//! 4. [`merge()`] joins the tables of shards or resumed directories, checking for duplicate,
//!    conflicting and missing runs.
//!
//! Everything here is deterministic: the set of runs, their ids, seeds and shard membership
//! are pure functions of the sweep file, and each run is the same simulation it would be under
//! `agora run` with the same scenario and seed (the `digest` column proves it).

pub(crate) use crate::scenario::overrides;

pub mod dry_run;
mod exec;
pub mod expand;
pub mod file;
pub mod hash;
pub mod manifest;
pub mod merge;
pub mod runner;
pub mod sample;
pub mod shard;
pub mod table;

pub use exec::{SweepExecutor, SweepSetupError};
pub use expand::{ExpandError, RunSpec, SweepPlan, expand};
pub use file::{BaseScenario, SweepFile, SweepFileError};
pub use manifest::Manifest;
pub use merge::{MergeError, MergeReport, merge};
pub use runner::{Durability, Keep, Progress, RunOutcome, RunnerConfig, RunnerError, run_sweep};
pub use shard::{Shard, ShardArg, ShardError, ShardSource};
