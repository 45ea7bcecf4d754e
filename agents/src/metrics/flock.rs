//! Flock metrics.

use super::sum_by_id;
use agora_engine::prelude::*;
use serde::{Deserialize, Serialize};

/// Polarization, the order parameter of Vicsek et al. (1995):
/// `phi = |sum_i v_i / |v_i|| / N` over agents with a non-zero velocity. 1 when all move the
/// same way, about `1/sqrt(N)` for random headings. NaN when no agent moves.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Polarization {}

impl Metric for Polarization {
    const NAME: &'static str = "polarization";
    const SUMMARY: &'static str = "Vicsek order parameter |mean unit velocity| (1 = aligned).";

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let mut q = world.query::<(&AgentId, &Velocity)>();
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for (id, v) in q.iter(world) {
            if let Some(u) = v.0.try_normalize() {
                xs.push((id.0, u.x));
                ys.push((id.0, u.y));
            }
        }
        if xs.is_empty() {
            out.push(f64::NAN);
            return;
        }
        let n = xs.len() as f64;
        out.push(DVec2::new(sum_by_id(&mut xs), sum_by_id(&mut ys)).length() / n);
    }
}

/// Mean distance from each agent to its nearest neighbour (minimum image on a torus), over
/// agents with a continuous position. NaN with fewer than two agents.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeanNnDistance {
    #[serde(skip)]
    grid: UniformGrid<()>,
}

impl Metric for MeanNnDistance {
    const NAME: &'static str = "mean_nn_distance";
    const SUMMARY: &'static str = "Mean distance to the nearest other agent.";

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let space = world.resource::<Space>().clone();
        let mut q = world.query::<(&AgentId, &Position)>();
        let items: Vec<GridItem<()>> = q
            .iter(world)
            .map(|(id, p)| GridItem {
                pos: p.0,
                id: id.0,
                data: (),
            })
            .collect();
        if items.len() < 2 {
            out.push(f64::NAN);
            return;
        }
        // Cells about the mean spacing keep the ring search short.
        let spacing = (space.area() / items.len() as f64).sqrt();
        self.grid.rebuild(&space, spacing, items);
        let mut d: Vec<(u32, f64)> = self
            .grid
            .items()
            .iter()
            .filter_map(|it| {
                self.grid
                    .nearest(it.pos, Some(it.id))
                    .map(|(_, d)| (it.id, d))
            })
            .collect();
        let n = d.len() as f64;
        out.push(sum_by_id(&mut d) / n);
    }
}
