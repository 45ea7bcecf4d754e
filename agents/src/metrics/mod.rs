//! Metrics: named functions of the world, recorded as columns.

mod comms;
mod count;
mod flock;
mod forage;
mod opinion;
mod segregation;

pub use comms::{CommGraph, MemoryUse, Messages, TopologyShape};
pub use count::AgentCount;
pub use flock::{MeanNnDistance, Polarization};
pub use forage::{Foraging, Pheromone};
pub use opinion::{ConsensusTick, OpinionSpread, OpinionVariance};
pub use segregation::{FractionHappy, MeanSimilarFraction};

/// Sums `(agent id, value)` pairs in agent-id order, so the result does not depend on entity
/// iteration order (floating-point addition is not associative).
pub(crate) fn sum_by_id(values: &mut [(u32, f64)]) -> f64 {
    values.sort_unstable_by_key(|&(id, _)| id);
    values.iter().map(|&(_, v)| v).sum()
}
