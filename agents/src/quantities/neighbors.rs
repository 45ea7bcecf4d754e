//! `neighbors`: how crowded each agent is.

use crate::metrics::agent_points;
use agora_engine::prelude::*;
use serde::{Deserialize, Serialize};

/// `neighbors`: the number of other agents within distance 1 (one world unit; in a grid, the
/// 8 cells around the agent's own and that cell itself, i.e. Chebyshev distance at most 1).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Neighbors {
    #[serde(skip)]
    points: Vec<(u32, DVec2)>,
    #[serde(skip)]
    grid: UniformGrid<()>,
}

impl AgentQuantity for Neighbors {
    const NAME: &'static str = "neighbors";
    const SUMMARY: &'static str =
        "Other agents within distance 1 (grids: in the 3x3 block of cells around the agent).";

    fn collect(&mut self, world: &mut World, out: &mut Vec<(u32, f64)>) {
        let space = world.resource::<Space>().clone();
        agent_points(world, &mut self.points);
        // Integer cells within Chebyshev distance 1 are exactly those within Euclidean 1.5.
        let radius = match space.kind {
            SpaceKind::Continuous => 1.0,
            SpaceKind::Grid => 1.5,
        };
        self.grid.rebuild(
            &space,
            radius,
            self.points
                .iter()
                .map(|&(id, pos)| GridItem { pos, id, data: () }),
        );
        for &(id, pos) in &self.points {
            let mut n = 0u32;
            self.grid.for_each_within(pos, radius, |other, _, _| {
                n += u32::from(other.id != id);
            });
            out.push((id, f64::from(n)));
        }
    }
}
