//! The tick and its phases.

use bevy_ecs::prelude::{Resource, SystemSet};
use bevy_ecs::schedule::ScheduleLabel;

/// The schedule that runs one tick.
#[derive(ScheduleLabel, Debug, Clone, PartialEq, Eq, Hash)]
pub struct TickSchedule;

/// The phases of a tick, run in this order. Behaviors add systems to them through
/// [`crate::SimBuilder::add_systems`].
///
/// Within a phase, systems of different plug-ins run in population order (so two behaviors
/// that both move agents never race); systems of one plug-in must order themselves, and
/// schedule building fails if two of them conflict without an order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Perceive: the spatial index is fresh; read neighbours, update memory.
    Sense,
    /// The message bus moves due messages into mailboxes.
    Deliver,
    /// Read perception, memory and mailbox; write messages and intents. Never mutate shared
    /// world state here.
    Decide,
    /// Conflicting intents are detected and resolved.
    Resolve,
    /// Winning intents are applied: movement, task progress, resource use.
    Act,
    /// Task arrivals, fields (diffusion, evaporation), scheduled events.
    Environment,
    /// Read-only observation; the engine's recorders run at the end of it.
    Record,
}

impl Phase {
    /// All phases in execution order.
    pub const ALL: [Phase; 7] = [
        Phase::Sense,
        Phase::Deliver,
        Phase::Decide,
        Phase::Resolve,
        Phase::Act,
        Phase::Environment,
        Phase::Record,
    ];
}

/// Engine work that brackets the phases: index rebuilds before Sense, output after Record.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum EngineSet {
    /// Before Sense: rebuild the spatial index.
    Prepare,
    /// Start of Deliver, before plug-ins' Deliver systems: message buses fill mailboxes.
    Deliver,
    /// Between Decide and Resolve: message buses empty outboxes into the channel.
    Transmit,
    /// After Environment: scheduled scenario events (agents failing and joining).
    Events,
    /// After Record: metrics, snapshots and the output writer.
    Output,
}

/// One plug-in's systems within one phase; slots are chained in population order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Slot(pub(crate) Phase, pub(crate) u16);

/// The index of the tick being executed (0 for the first). After `n` steps the simulation's
/// state is "tick n" in outputs.
#[derive(Resource, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tick(pub u64);
