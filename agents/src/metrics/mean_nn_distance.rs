//! `mean_nn_distance`.

use super::{NnScratch, sum_by_id};
use agora_engine::prelude::*;
use serde::{Deserialize, Serialize};

/// Mean nearest-neighbour distance, `(1/N) sum_i min_{j != i} d(i, j)`, with the minimum image
/// on a torus and cell centres in a grid: the spacing measure of flocking studies (e.g.
/// Ballerini et al. 2008, "Interaction ruling animal collective behavior depends on topological
/// rather than metric distance", PNAS 105, 1232). For `N` points placed uniformly at random
/// at density `rho` it is about `1 / (2 sqrt(rho))`. NaN with fewer than two agents.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeanNnDistance {
    #[serde(skip)]
    nn: NnScratch,
}

impl Metric for MeanNnDistance {
    const NAME: &'static str = "mean_nn_distance";
    const SUMMARY: &'static str = "Mean distance to the nearest other agent.";

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        self.nn.compute(world);
        let n = self.nn.distances.len();
        out.push(if n == 0 {
            f64::NAN
        } else {
            sum_by_id(&mut self.nn.distances) / n as f64
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::{compute, unit, world};

    #[test]
    fn hand_computed_with_the_minimum_image() {
        // On a 10x10 torus, (0.5, 5) and (9.5, 5) are 1 apart; (5, 5) is 4.5 from both.
        let mut w = world(
            10.0,
            10.0,
            true,
            &[
                (0.5, 5.0, 1.0, 0.0),
                (9.5, 5.0, 1.0, 0.0),
                (5.0, 5.0, 1.0, 0.0),
            ],
        );
        let got = compute(&mut MeanNnDistance::default(), &mut w)[0];
        assert!((got - (1.0 + 1.0 + 4.5) / 3.0).abs() < 1e-12, "{got}");
    }

    #[test]
    fn matches_brute_force_on_random_layouts() {
        for torus in [true, false] {
            let pts: Vec<_> = (0..300)
                .map(|i| (unit(i, 1) * 40.0, unit(i, 2) * 25.0, 0.0, 0.0))
                .collect();
            let space = Space {
                kind: SpaceKind::Continuous,
                width: 40.0,
                height: 25.0,
                boundary: if torus {
                    agora_engine::Boundary::Torus
                } else {
                    agora_engine::Boundary::Walls
                },
                neighborhood: agora_engine::Neighborhood::Moore,
            };
            let brute: f64 = pts
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    pts.iter()
                        .enumerate()
                        .filter(|&(j, _)| j != i)
                        .map(|(_, b)| {
                            space
                                .distance_squared(DVec2::new(a.0, a.1), DVec2::new(b.0, b.1))
                                .sqrt()
                        })
                        .fold(f64::INFINITY, f64::min)
                })
                .sum::<f64>()
                / pts.len() as f64;
            let mut w = world(40.0, 25.0, torus, &pts);
            let got = compute(&mut MeanNnDistance::default(), &mut w)[0];
            assert!(
                (got - brute).abs() < 1e-9,
                "torus {torus}: {got} vs {brute}"
            );
        }
    }
}
