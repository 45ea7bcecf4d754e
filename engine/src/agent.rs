//! The components every agent has, whatever its behavior.

use bevy_ecs::prelude::Component;
use glam::DVec2;

/// Stable agent identity: assigned in spawn order, never reused, the key of every output row.
/// Outputs are ordered by it, never by entity iteration order.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentId(pub u32);

/// Index of the scenario population the agent was spawned from (its group).
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Population(pub u16);

/// Position in a continuous world, in world units. In a torus world it is kept in
/// `[0, width) x [0, height)`.
#[derive(Component, Debug, Clone, Copy, PartialEq, Default)]
pub struct Position(pub DVec2);

/// Velocity in world units per tick. Optional: behaviors that move with momentum carry it, and
/// recorders derive the heading from it.
#[derive(Component, Debug, Clone, Copy, PartialEq, Default)]
pub struct Velocity(pub DVec2);

/// Cell of an agent in a grid world; `(0, 0)` is the bottom-left cell.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct GridCell {
    /// Column, `0..width`.
    pub x: i32,
    /// Row, `0..height`.
    pub y: i32,
}

impl GridCell {
    /// The cell at `(x, y)`.
    pub const fn new(x: i32, y: i32) -> GridCell {
        GridCell { x, y }
    }
}

/// A small integer label a behavior sets to describe what the agent is doing (searching,
/// carrying, happy, ...). Recorded in snapshots and used to colour replays; 0 when unused.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct AgentState(pub u32);
