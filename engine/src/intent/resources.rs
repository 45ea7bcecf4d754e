//! Resources with a capacity (charging stations, tools, radio channels) and task claims: who
//! holds what, who queues for it.

use super::ResourceId;
use crate::agent::GridCell;
use bevy_ecs::prelude::Resource;
use serde::{Deserialize, Serialize};

/// One entry of the scenario's `resources` table: something agents use, a bounded number at a
/// time.
///
/// ```ron
/// resources: [
///     (name: "dock", cells: [(4, 0), (5, 0)], capacity: 2),   // used from next to a dock cell
///     (name: "radio", capacity: 1),                           // used from anywhere
/// ]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSpec {
    /// Name behaviors refer to it by; unique, not empty.
    pub name: String,
    /// How many agents can use it at once; at least 1 (default 1).
    #[serde(default = "one")]
    pub capacity: u32,
    /// Grid cells where it is (a station's footprint). Default none: usable from anywhere.
    #[serde(default)]
    pub cells: Vec<(i32, i32)>,
    /// An agent can use it from cells within this Chebyshev distance of one of `cells`
    /// (default 1: on or next to it). Ignored without `cells`.
    #[serde(default = "one")]
    pub range: u32,
}

fn one() -> u32 {
    1
}

/// The scenario's resources at run time: specs, current holders and queue lengths, updated
/// by the engine in Resolve.
#[derive(Resource, Debug, Clone, Default)]
pub struct Resources {
    specs: Vec<ResourceSpec>,
    holders: Vec<Vec<u32>>,
    queues: Vec<u32>,
}

impl Resources {
    pub(crate) fn new(specs: &[ResourceSpec]) -> Resources {
        Resources {
            specs: specs.to_vec(),
            holders: vec![Vec::new(); specs.len()],
            queues: vec![0; specs.len()],
        }
    }

    /// Number of resources.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Every id, in table order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = ResourceId> {
        (0..self.specs.len() as u32).map(ResourceId)
    }

    /// The id of the resource called `name`.
    pub fn id(&self, name: &str) -> Option<ResourceId> {
        self.specs
            .iter()
            .position(|s| s.name == name)
            .map(|i| ResourceId(i as u32))
    }

    /// The spec of `id`.
    pub fn spec(&self, id: ResourceId) -> Option<&ResourceSpec> {
        self.specs.get(id.0 as usize)
    }

    /// Capacity of `id` (0 for an unknown id).
    pub fn capacity(&self, id: ResourceId) -> u32 {
        self.spec(id).map_or(0, |s| s.capacity)
    }

    /// The agents holding `id` after the last Resolve, ascending.
    pub fn holders(&self, id: ResourceId) -> &[u32] {
        self.holders.get(id.0 as usize).map_or(&[], Vec::as_slice)
    }

    /// Free units of `id` after the last Resolve.
    pub fn free(&self, id: ResourceId) -> u32 {
        self.capacity(id)
            .saturating_sub(self.holders(id).len() as u32)
    }

    /// Agents that wanted `id` in the last Resolve and did not get it.
    pub fn queue_len(&self, id: ResourceId) -> u32 {
        self.queues.get(id.0 as usize).copied().unwrap_or(0)
    }

    /// Whether an agent in `cell` (or anywhere, for a resource without cells) can use `id`.
    pub fn in_range(&self, id: ResourceId, cell: Option<GridCell>) -> bool {
        let Some(spec) = self.spec(id) else {
            return false;
        };
        if spec.cells.is_empty() {
            return true;
        }
        let Some(c) = cell else {
            return false;
        };
        let r = spec.range as i32;
        spec.cells
            .iter()
            .any(|&(x, y)| (c.x - x).abs() <= r && (c.y - y).abs() <= r)
    }

    /// The cells from which an agent can use `id` (inside a `width` x `height` grid), row
    /// by row; empty for a resource usable from anywhere.
    pub fn access_cells(&self, id: ResourceId, width: i32, height: i32) -> Vec<GridCell> {
        let Some(spec) = self.spec(id) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let r = spec.range as i32;
        for y in 0..height {
            for x in 0..width {
                if spec
                    .cells
                    .iter()
                    .any(|&(cx, cy)| (x - cx).abs() <= r && (y - cy).abs() <= r)
                {
                    out.push(GridCell::new(x, y));
                }
            }
        }
        out
    }

    pub(crate) fn begin_tick(&mut self) {
        for h in &mut self.holders {
            h.clear();
        }
        self.queues.fill(0);
    }

    pub(crate) fn add_holder(&mut self, id: ResourceId, agent: u32) {
        self.holders[id.0 as usize].push(agent);
    }

    pub(crate) fn add_waiter(&mut self, id: ResourceId) {
        self.queues[id.0 as usize] += 1;
    }

    pub(crate) fn sort_holders(&mut self) {
        for h in &mut self.holders {
            h.sort_unstable();
        }
    }
}

/// Task claims at run time: capacities set by the task subsystem, and who holds each claimed
/// task after the last Resolve.
#[derive(Resource, Debug, Clone, Default)]
pub struct TaskClaims {
    capacities: std::collections::BTreeMap<u32, u32>,
    /// `(task, agent)`, sorted.
    held: Vec<(u32, u32)>,
}

impl TaskClaims {
    /// How many agents may hold a claim on `task` at once (default 1).
    pub fn capacity(&self, task: u32) -> u32 {
        self.capacities.get(&task).copied().unwrap_or(1)
    }

    /// Sets the capacity of `task` (a task needing several robots); 0 resets it to 1.
    pub fn set_capacity(&mut self, task: u32, capacity: u32) {
        if capacity <= 1 {
            self.capacities.remove(&task);
        } else {
            self.capacities.insert(task, capacity);
        }
    }

    /// The agents holding a claim on `task`, ascending.
    pub fn holders(&self, task: u32) -> impl Iterator<Item = u32> + '_ {
        let start = self.held.partition_point(|&(t, _)| t < task);
        self.held[start..]
            .iter()
            .take_while(move |&&(t, _)| t == task)
            .map(|&(_, a)| a)
    }

    /// Every held claim as `(task, agent)`, sorted.
    pub fn claims(&self) -> &[(u32, u32)] {
        &self.held
    }

    pub(crate) fn set_held(&mut self, held: &[(u32, u32)]) {
        self.held.clear();
        self.held.extend_from_slice(held);
        self.held.sort_unstable();
    }
}
