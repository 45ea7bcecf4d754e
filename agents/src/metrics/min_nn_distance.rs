//! `min_nn_distance`.

use super::NnScratch;
use agora_engine::prelude::*;
use serde::{Deserialize, Serialize};

/// Smallest distance between any two agents, `min_{i != j} d(i, j)` (minimum image on a
/// torus, cell centres in a grid): the closest approach, the collision measure of flocking
/// and crowd models (e.g. Reynolds 1987, "Flocks, herds and schools", SIGGRAPH, where
/// separation keeps it above a threshold). NaN with fewer than two agents.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MinNnDistance {
    #[serde(skip)]
    nn: NnScratch,
}

impl Metric for MinNnDistance {
    const NAME: &'static str = "min_nn_distance";
    const SUMMARY: &'static str = "Smallest distance between two agents.";

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        self.nn.compute(world);
        // `min` is exact in any order, so no id-ordered reduction is needed.
        out.push(
            self.nn
                .distances
                .iter()
                .map(|&(_, d)| d)
                .reduce(f64::min)
                .unwrap_or(f64::NAN),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::{compute, world};

    #[test]
    fn hand_computed() {
        let mut w = world(
            10.0,
            10.0,
            false,
            &[
                (1.0, 1.0, 0.0, 0.0),
                (4.0, 5.0, 0.0, 0.0),
                (9.0, 9.0, 0.0, 0.0),
            ],
        );
        assert_eq!(compute(&mut MinNnDistance::default(), &mut w)[0], 5.0);
        let mut one = world(10.0, 10.0, false, &[(1.0, 1.0, 0.0, 0.0)]);
        assert!(compute(&mut MinNnDistance::default(), &mut one)[0].is_nan());
    }
}
