//! Metrics: named functions of the world, recorded as columns.

mod conflicts;
mod count;
mod flock;
mod segregation;

pub use conflicts::{
    Charging, ConflictCounts, ConflictFairness, Deadlocks, Mapf, ResolutionMessages, TripsMetric,
    Waits, gini_sorted, jain,
};
pub use count::AgentCount;
pub use flock::{MeanNnDistance, Polarization};
pub use segregation::{FractionHappy, MeanSimilarFraction};

/// Sums `(agent id, value)` pairs in agent-id order, so the result does not depend on entity
/// iteration order (floating-point addition is not associative).
pub(crate) fn sum_by_id(values: &mut [(u32, f64)]) -> f64 {
    values.sort_unstable_by_key(|&(id, _)| id);
    values.iter().map(|&(_, v)| v).sum()
}
