//! `polarization`: the Vicsek order parameter.

use agora_engine::prelude::*;
use serde::{Deserialize, Serialize};

/// Polarization, the order parameter of Vicsek, Czirók, Ben-Jacob, Cohen & Shochet (1995),
/// "Novel type of phase transition in a system of self-driven particles", Phys. Rev. Lett.
/// 75, 1226:
///
/// `phi = | sum_i v_i / |v_i| | / N`
///
/// over the `N` agents with a non-zero [`Velocity`]. 1 when all move the same way, about
/// `sqrt(pi / (4 N))` for independent random headings. NaN when no agent moves.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Polarization {
    #[serde(skip)]
    units: Vec<(u32, DVec2)>,
}

impl Metric for Polarization {
    const NAME: &'static str = "polarization";
    const SUMMARY: &'static str = "Vicsek order parameter |mean unit velocity| (1 = aligned).";

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let mut q = world.query::<(&AgentId, &Velocity)>();
        self.units.clear();
        self.units.extend(
            q.iter(world)
                .filter_map(|(id, v)| v.0.try_normalize().map(|u| (id.0, u))),
        );
        if self.units.is_empty() {
            out.push(f64::NAN);
            return;
        }
        if !self.units.is_sorted_by_key(|&(id, _)| id) {
            self.units.sort_unstable_by_key(|&(id, _)| id);
        }
        let sum: DVec2 = self.units.iter().map(|&(_, u)| u).sum();
        out.push(sum.length() / self.units.len() as f64);
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
            true,
            &[(1.0, 1.0, 2.0, 0.0), (2.0, 2.0, 0.0, 0.5)],
        );
        let phi = compute(&mut Polarization::default(), &mut w)[0];
        assert!((phi - 2f64.sqrt() / 2.0).abs() < 1e-15);
        let mut aligned = world(
            10.0,
            10.0,
            true,
            &[(1.0, 1.0, 1.0, 1.0), (5.0, 5.0, 3.0, 3.0)],
        );
        assert!((compute(&mut Polarization::default(), &mut aligned)[0] - 1.0).abs() < 1e-15);
        let mut still = world(10.0, 10.0, true, &[(1.0, 1.0, 0.0, 0.0)]);
        assert!(compute(&mut Polarization::default(), &mut still)[0].is_nan());
    }
}
