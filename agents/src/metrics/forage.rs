//! Foraging metrics for `forager`.

use crate::behaviors::{Ant, Colony};
use agora_engine::prelude::*;
use serde::{Deserialize, Serialize};

/// Food brought to the nest so far, food left in the world, and the fraction of ants
/// carrying food now (NaN without a colony).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Foraging {}

impl Metric for Foraging {
    const NAME: &'static str = "foraging";
    const SUMMARY: &'static str =
        "Food delivered to the nest, food remaining, fraction of ants carrying.";

    fn columns(&self) -> Vec<String> {
        ["food_delivered", "food_remaining", "ants_carrying"]
            .map(str::to_owned)
            .to_vec()
    }

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let (delivered, remaining) = world
            .get_resource::<Colony>()
            .map_or((f64::NAN, f64::NAN), |c| {
                (c.delivered as f64, c.remaining as f64)
            });
        let mut q = world.query::<&Ant>();
        let (mut n, mut carrying) = (0u64, 0u64);
        for a in q.iter(world) {
            n += 1;
            carrying += u64::from(a.carrying);
        }
        out.push(delivered);
        out.push(remaining);
        out.push(if n == 0 {
            f64::NAN
        } else {
            carrying as f64 / n as f64
        });
    }
}

/// Total pheromone on the grid (NaN without a colony).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pheromone {}

impl Metric for Pheromone {
    const NAME: &'static str = "pheromone";
    const SUMMARY: &'static str = "Total pheromone laid and not yet evaporated.";

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        out.push(
            world
                .get_resource::<Colony>()
                .map_or(f64::NAN, |c| c.pheromone.total()),
        );
    }
}
