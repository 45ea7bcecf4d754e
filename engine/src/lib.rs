//! # agora-engine
//!
//! The mechanism of Agora, a headless multi-agent simulation engine: an ECS world (bevy_ecs)
//! run tick by tick through fixed phases, counter-based deterministic randomness, continuous
//! and grid spaces with a uniform-grid spatial index, versioned RON scenario files, a plug-in
//! registry, recorders and run folders; message buses, agent memory and planning.
//!
//! It knows no particular behavior: behaviors, protocols and metrics live in `agora-agents`
//! and use only this crate's public API. See `ARCHITECTURE.md` at the repository root for the
//! design and the determinism contract.
//!
//! ```
//! use agora_engine::prelude::*;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Component, Clone, Debug, Default, Serialize, Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Still {}
//! impl Behavior for Still {
//!     const NAME: &'static str = "still";
//!     const SUMMARY: &'static str = "Does nothing.";
//!     fn build(_: &mut SimBuilder) {}
//! }
//!
//! let mut registry = Registry::new();
//! registry.behavior::<Still>();
//! let scenario = Scenario::parse(
//!     "#![enable(implicit_some)]
//!      (schema: 1, seed: 1, ticks: 3, world: (width: 10.0, height: 10.0),
//!       populations: [(behavior: \"still\", count: 5)])",
//!     "inline",
//!     &registry,
//! )
//! .unwrap();
//! let mut sim = Sim::new(&scenario, &registry, SimOptions::default()).unwrap();
//! assert_eq!(sim.run().unwrap(), StopReason::Ticks);
//! assert_eq!(sim.tick(), 3);
//! ```

#![warn(missing_docs)]

mod agent;
pub mod comms;
mod digest;
mod error;
mod events;
mod field;
pub mod intent;
pub mod memory;
mod observables;
mod par;
mod phase;
pub mod planning;
mod plugin;
mod prefetch;
mod quantity;
mod record;
mod rng;
mod run;
pub mod scenario;
mod sim;
pub mod simd;
pub mod space;
pub mod stats;
pub mod sweep;
pub mod task;

pub use agent::{AgentId, AgentState, GridCell, Population, Position, Velocity};
pub use digest::{DigestState, StableHasher, world_digest};
pub use error::{Error, ScenarioError};
pub use events::{AgentDirectory, EventAction, EventSpec, Journal, JournalEntry};
pub use field::GridField;
pub use intent::{
    Conflict, ConflictEvent, ConflictKind, ConflictMut, ConflictStats, Conflicts, Contested,
    DeadlockAction, DeadlockSpec, Intent, Outcome, Party, ResolveClock, ResourceId, Resources,
    Ruling, TaskClaims, Urgency, VictimOrder, VictimRule,
};
pub use observables::{Opinion, TaskTally};
pub use par::{par_chunks_mut, par_each_mut, par_parts_mut};
pub use phase::{Phase, Tick, TickSchedule};
pub use plugin::{
    Behavior, Mechanism, Metric, PluginInfo, PluginKind, Registry, Section, ValidateCtx,
    is_snake_case, unknown_name_message,
};
pub use quantity::{AgentQuantity, Quantities, QuantitySource, collect_quantity};
pub use record::{
    Cadence, DetectedChange, DirSink, EventLog, FileId, LogEvent, MemorySink, NullSink, OutputSink,
    Recorder, Rows, SNAPSHOT_CSV_HEADER, SNAPSHOT_HEADER_BYTES, SNAPSHOT_MAGIC,
    SNAPSHOT_RECORD_BYTES, SNAPSHOT_VERSION, SnapshotRow, encode_snapshot, snapshot_rows,
    write_atomic,
};
pub use rng::{AgentRng, Purpose, SimRng, unit_f64_from_words};
pub use run::{ENGINE_VERSION, RunOptions, RunReport, run_scenario};
pub use scenario::{Scenario, ScenarioOf};
pub use sim::{
    AgentSpawn, Obstacles, RunSummary, Sim, SimBuilder, SimOptions, SpatialIndex, StopReason,
    init_compute_pool,
};
pub use space::{
    Boundary, GridItem, GridNeighbors, GridOccupancy, IndexedItems, Neighborhood, QueryTables,
    Space, SpaceKind, TableRows, UniformGrid,
};

/// Re-exports / glob import for plug-in authors: `use agora_engine::prelude::*;`.
pub mod prelude {
    pub use crate::{
        AgentId, AgentQuantity, AgentRng, AgentSpawn, AgentState, Behavior, ConflictKind,
        Conflicts, DigestState, EventLog, GridCell, GridItem, GridNeighbors, GridOccupancy,
        IndexedItems, Intent, LogEvent, Mechanism, Metric, Opinion, Outcome, Phase, Population,
        Position, Purpose, QueryTables, Registry, ResourceId, Resources, Ruling, Scenario, Section,
        Sim, SimBuilder, SimOptions, SimRng, Space, SpaceKind, SpatialIndex, StableHasher,
        StopReason, TableRows, TaskTally, Tick, UniformGrid, Urgency, ValidateCtx, Velocity,
    };
    pub use bevy_ecs::prelude::{
        Commands, Component, Entity, Query, Res, ResMut, Resource, With, Without, World,
    };
    pub use bevy_ecs::schedule::IntoScheduleConfigs;
    pub use glam::DVec2;
    pub use rand::{Rng, RngExt};

    pub use crate::comms::{Bus, Mailbox, Outbox, Performative, Recipients};
    pub use crate::{AgentDirectory, GridField, Journal};
}
