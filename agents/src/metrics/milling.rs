//! `milling`: rotation of the group about its centre.

use super::{agent_points, sum_by_id};
use agora_engine::prelude::*;
use serde::{Deserialize, Serialize};
use std::f64::consts::TAU;

/// Milling (normalised angular momentum) order parameter of Tunstrøm et al. (2013),
/// "Collective states, multistability and transitional behavior in schooling fish", PLoS
/// Comput. Biol. 9, e1002915 (after Couzin et al. 2002, J. theor. Biol. 218, 1):
///
/// `O_M = | (1/N) sum_i  r_i/|r_i|  x  v_i/|v_i| |`
///
/// where `r_i` points from the group's centroid to agent `i` and `x` is the 2-D cross
/// product. 1 for a perfect mill (every agent circling the centroid, either way round), near
/// 0 for a polarised or disordered group. On a torus the centroid is the per-axis circular
/// mean (Bai & Breen 2008, J. Graphics Tools 13, 53) and `r_i` the minimum image. Agents
/// without a velocity, or exactly at the centroid, are left out; NaN when none remain.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Milling {
    #[serde(skip)]
    points: Vec<(u32, DVec2)>,
    #[serde(skip)]
    terms: Vec<(u32, f64)>,
}

/// The centroid of `points`, by the circular mean on a torus.
fn centroid(space: &Space, points: &[(u32, DVec2)]) -> DVec2 {
    let n = points.len() as f64;
    if !space.is_torus() {
        return points.iter().map(|&(_, p)| p).sum::<DVec2>() / n;
    }
    let axis = |coord: fn(DVec2) -> f64, extent: f64| {
        let (s, c) = points.iter().fold((0.0, 0.0), |(s, c), &(_, p)| {
            let (sin, cos) = (coord(p) / extent * TAU).sin_cos();
            (s + sin, c + cos)
        });
        (s.atan2(c) / TAU * extent).rem_euclid(extent)
    };
    DVec2::new(axis(|p| p.x, space.width), axis(|p| p.y, space.height))
}

impl Metric for Milling {
    const NAME: &'static str = "milling";
    const SUMMARY: &'static str = "Normalised angular momentum about the centroid (1 = mill).";

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let space = world.resource::<Space>().clone();
        agent_points(world, &mut self.points);
        let mut q = world.query::<(&AgentId, &Velocity)>();
        let mut moving: Vec<(u32, DVec2)> = q
            .iter(world)
            .filter_map(|(id, v)| v.0.try_normalize().map(|u| (id.0, u)))
            .collect();
        moving.sort_unstable_by_key(|&(id, _)| id);
        // Only moving agents define the group whose rotation is measured: keep the agents
        // that have both a location and a heading (both lists are in id order).
        let mut headings = Vec::with_capacity(moving.len());
        let mut j = 0;
        self.points.retain(|&(id, _)| {
            while j < moving.len() && moving[j].0 < id {
                j += 1;
            }
            let keep = moving.get(j).is_some_and(|&(m, _)| m == id);
            if keep {
                headings.push(moving[j].1);
            }
            keep
        });
        if self.points.is_empty() {
            out.push(f64::NAN);
            return;
        }
        let c = centroid(&space, &self.points);
        self.terms.clear();
        for (&(id, p), &u) in self.points.iter().zip(&headings) {
            if let Some(r) = space.delta(c, p).try_normalize() {
                self.terms.push((id, r.perp_dot(u)));
            }
        }
        let n = self.terms.len();
        out.push(if n == 0 {
            f64::NAN
        } else {
            (sum_by_id(&mut self.terms) / n as f64).abs()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::{compute, world};

    fn ring(cx: f64, cy: f64, r: f64, n: usize, tangential: bool) -> Vec<(f64, f64, f64, f64)> {
        (0..n)
            .map(|i| {
                let a = TAU * i as f64 / n as f64;
                let (vx, vy) = if tangential {
                    (-a.sin(), a.cos())
                } else {
                    (1.0, 0.0)
                };
                (cx + r * a.cos(), cy + r * a.sin(), vx, vy)
            })
            .collect()
    }

    #[test]
    fn a_mill_is_one_and_a_translating_ring_is_zero() {
        let mut mill = world(50.0, 50.0, false, &ring(20.0, 20.0, 5.0, 24, true));
        assert!((compute(&mut Milling::default(), &mut mill)[0] - 1.0).abs() < 1e-12);
        let mut school = world(50.0, 50.0, false, &ring(20.0, 20.0, 5.0, 24, false));
        assert!(compute(&mut Milling::default(), &mut school)[0] < 1e-12);
    }

    #[test]
    fn a_mill_across_the_torus_seam_is_still_a_mill() {
        let agents: Vec<_> = ring(0.0, 49.0, 3.0, 16, true)
            .into_iter()
            .map(|(x, y, vx, vy)| (x.rem_euclid(50.0), y.rem_euclid(50.0), vx, vy))
            .collect();
        let mut w = world(50.0, 50.0, true, &agents);
        let m = compute(&mut Milling::default(), &mut w)[0];
        assert!((m - 1.0).abs() < 1e-9, "{m}");
    }

    #[test]
    fn hand_computed_pair() {
        // Centroid (5, 5); agent 0 at r = (-1, 0) moving +y: cross = -1; agent 1 at r = (1, 0)
        // moving +x: cross = 0. |(-1 + 0) / 2| = 0.5.
        let mut w = world(
            10.0,
            10.0,
            false,
            &[(4.0, 5.0, 0.0, 2.0), (6.0, 5.0, 3.0, 0.0)],
        );
        assert!((compute(&mut Milling::default(), &mut w)[0] - 0.5).abs() < 1e-15);
    }
}
