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
        // Agents are usually stored in id order, and then the sum is taken as they come:
        // collecting them first held 24 bytes per agent (24 MB at 1M, most of a Flockers 1M
        // run's peak memory above the simulation's own). `fold` keeps the query's fast path.
        let (sum, n, _, sorted) = q.iter(world).fold(
            (DVec2::ZERO, 0usize, None, true),
            |(sum, n, last, sorted), (id, v)| {
                let sorted = sorted && last.is_none_or(|last| last < id.0);
                match v.0.try_normalize() {
                    Some(u) => (sum + u, n + 1, Some(id.0), sorted),
                    None => (sum, n, Some(id.0), sorted),
                }
            },
        );
        let (sum, n) = if sorted {
            (sum, n)
        } else {
            self.units.clear();
            self.units.extend(
                q.iter(world)
                    .filter_map(|(id, v)| v.0.try_normalize().map(|u| (id.0, u))),
            );
            self.units.sort_unstable_by_key(|&(id, _)| id);
            let sum: DVec2 = self.units.iter().map(|&(_, u)| u).sum();
            (sum, self.units.len())
        };
        if n == 0 {
            out.push(f64::NAN);
            return;
        }
        out.push(sum.length() / n as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::{compute, unit, world};

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

    /// The sum runs in id order however the agents are stored, so the value is the same to
    /// the last bit (floating-point sums depend on their order).
    #[test]
    fn same_bits_whatever_the_storage_order() {
        let agents: Vec<_> = (0..500u64)
            .map(|i| {
                let still = i % 7 == 0;
                let (vx, vy) = if still {
                    (0.0, 0.0)
                } else {
                    (unit(i, 1) - 0.3, unit(i, 2) - 0.5)
                };
                (unit(i, 3) * 10.0, unit(i, 4) * 10.0, vx, vy)
            })
            .collect();
        let mut sum = DVec2::ZERO;
        let mut n = 0;
        for &(_, _, vx, vy) in &agents {
            if let Some(u) = DVec2::new(vx, vy).try_normalize() {
                sum += u;
                n += 1;
            }
        }
        let want = sum.length() / n as f64;
        let mut in_order = world(10.0, 10.0, true, &agents);
        let got = compute(&mut Polarization::default(), &mut in_order)[0];
        assert_eq!(got.to_bits(), want.to_bits());
        let mut reversed = world(10.0, 10.0, true, &[]);
        for (i, &(x, y, vx, vy)) in agents.iter().enumerate().rev() {
            reversed.spawn((
                AgentId(i as u32),
                Position(DVec2::new(x, y)),
                Velocity(DVec2::new(vx, vy)),
            ));
        }
        let got = compute(&mut Polarization::default(), &mut reversed)[0];
        assert_eq!(got.to_bits(), want.to_bits());
    }
}
