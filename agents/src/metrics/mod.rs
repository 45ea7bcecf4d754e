//! Metrics: named functions of the world, recorded as columns. One file per metric; each
//! doc comment gives the formula and a reference.

mod clusters;
mod comms;
mod conflicts;
mod count;
mod division_of_labor;
mod fairness;
mod forage;
mod mean_nn_distance;
mod milling;
mod min_nn_distance;
mod opinion;
mod opinion_clusters;
mod opinion_variance;
mod polarization;
mod segregation;
mod spatial_entropy;

pub use clusters::Clusters;
pub use comms::{CommGraph, MemoryUse, Messages, TopologyShape};
pub use conflicts::{
    Charging, ConflictCounts, ConflictFairness, Deadlocks, Mapf, NegotiationMetric,
    ResolutionMessages, TaskClaimsMetric, TripsMetric, Waits,
};
pub use count::AgentCount;
pub use division_of_labor::DivisionOfLabor;
pub use fairness::{Gini, Jain};
pub use forage::{Foraging, Pheromone};
pub use mean_nn_distance::MeanNnDistance;
pub use milling::Milling;
pub use min_nn_distance::MinNnDistance;
pub use opinion::{ConsensusTick, OpinionSpread};
pub use opinion_clusters::OpinionClusters;
pub use opinion_variance::OpinionVariance;
pub use polarization::Polarization;
pub use segregation::{FractionHappy, MeanSimilarFraction};
pub use spatial_entropy::SpatialEntropy;

use agora_engine::prelude::*;

/// Sums `(agent id, value)` pairs in agent-id order, so the result does not depend on entity
/// iteration order (floating-point addition is not associative).
pub(crate) fn sum_by_id(values: &mut [(u32, f64)]) -> f64 {
    values.sort_unstable_by_key(|&(id, _)| id);
    values.iter().map(|&(_, v)| v).sum()
}

/// Every agent's location in agent-id order: its [`Position`] in a continuous world, the
/// centre of its cell in a grid (cell `(i, j)` covers `[i, i+1) x [j, j+1)`).
pub(crate) fn agent_points(world: &mut World, out: &mut Vec<(u32, DVec2)>) {
    out.clear();
    let mut q = world.query::<(&AgentId, Option<&Position>, Option<&GridCell>)>();
    out.extend(
        q.iter(world)
            .filter_map(|(id, pos, cell)| match (pos, cell) {
                (_, Some(c)) => {
                    Some((id.0, DVec2::new(f64::from(c.x) + 0.5, f64::from(c.y) + 0.5)))
                }
                (Some(p), None) => Some((id.0, p.0)),
                (None, None) => None,
            }),
    );
    if !out.is_sorted_by_key(|&(id, _)| id) {
        out.sort_unstable_by_key(|&(id, _)| id);
    }
}

/// Nearest-neighbour distances (minimum image on a torus), in agent-id order, with the index
/// and scratch buffers a metric keeps between calls.
#[derive(Debug, Default)]
pub(crate) struct NnScratch {
    points: Vec<(u32, DVec2)>,
    grid: UniformGrid<()>,
    /// `(agent id, distance to its nearest other agent)`.
    pub(crate) distances: Vec<(u32, f64)>,
}

impl Clone for NnScratch {
    /// Scratch is not state: a clone starts empty.
    fn clone(&self) -> Self {
        NnScratch::default()
    }
}

impl NnScratch {
    /// Fills `distances`; leaves it empty with fewer than two agents.
    pub(crate) fn compute(&mut self, world: &mut World) {
        let space = world.resource::<Space>().clone();
        agent_points(world, &mut self.points);
        self.distances.clear();
        if self.points.len() < 2 {
            return;
        }
        // Cells about the mean spacing keep the ring search short (half that was measured
        // slower on Flockers 100k: more rings to visit for the same candidates).
        let spacing = (space.area() / self.points.len() as f64).sqrt();
        self.grid.rebuild(
            &space,
            spacing,
            self.points
                .iter()
                .map(|&(id, pos)| GridItem { pos, id, data: () }),
        );
        let grid = &self.grid;
        self.distances.extend(
            self.points
                .iter()
                .filter_map(|&(id, pos)| grid.nearest(pos, Some(id)).map(|(_, d)| (id, d))),
        );
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Small worlds built by hand for metric tests.

    use agora_engine::prelude::*;
    use agora_engine::{Boundary, Neighborhood};

    /// A continuous `w x h` world holding agents at `points` with velocities `vels` (ids in
    /// order), plus the registry's quantities.
    pub(crate) fn world(w: f64, h: f64, torus: bool, agents: &[(f64, f64, f64, f64)]) -> World {
        let mut world = World::new();
        world.insert_resource(Space {
            kind: SpaceKind::Continuous,
            width: w,
            height: h,
            boundary: if torus {
                Boundary::Torus
            } else {
                Boundary::Walls
            },
            neighborhood: Neighborhood::Moore,
        });
        world.insert_resource(crate::registry().quantities());
        for (i, &(x, y, vx, vy)) in agents.iter().enumerate() {
            world.spawn((
                AgentId(i as u32),
                Population(0),
                Position(DVec2::new(x, y)),
                Velocity(DVec2::new(vx, vy)),
                AgentState::default(),
            ));
        }
        world
    }

    /// The values a metric pushes for `world`.
    pub(crate) fn compute<M: Metric>(metric: &mut M, world: &mut World) -> Vec<f64> {
        let mut out = Vec::new();
        metric.compute(world, &mut out);
        assert_eq!(out.len(), metric.columns().len(), "one value per column");
        out
    }

    /// A deterministic pseudo-random number in [0, 1) for test layouts.
    pub(crate) fn unit(i: u64, salt: u64) -> f64 {
        let mut z = i
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(salt.wrapping_mul(0xBF58_476D_1CE4_E5B9));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}
