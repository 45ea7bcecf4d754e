//! `clusters`: groups of agents linked by proximity.

use super::agent_points;
use agora_engine::prelude::*;
use agora_engine::stats::Clustering;
use serde::{Deserialize, Serialize};

/// Radius-linkage clusters: two agents are linked when they are within `radius` of each
/// other (minimum image on a torus, cell centres in a grid), and a cluster is a connected
/// component of links (single linkage, as in the cluster-size statistics of the Vicsek model
/// by Huepe & Aldana 2004, "Intermittency and clustering in a system of self-driven
/// particles", Phys. Rev. Lett. 92, 168701). Links come from a uniform-grid index (never all
/// pairs) and components from union-find.
///
/// Columns, for `N` agents in `C` clusters of sizes `s_k`:
/// * `cluster_count` = `C` (isolated agents count as clusters of size 1);
/// * `largest_cluster_fraction` = `max_k s_k / N`;
/// * `mean_cluster_size` = `N / C`;
/// * the size distribution in powers of two, `histogram` columns: `clusters_size_1`,
///   `clusters_size_2_3`, `clusters_size_4_7`, ..., the last one open-ended
///   (`clusters_size_128_plus` for the default 8), each the number of clusters in that range.
///
/// With no agents the count is 0 and the other columns are NaN. Scenario:
/// `metric_params: {"clusters": (radius: 2.0, histogram: 6)}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Clusters {
    /// Link distance in world units (default 1.0; in a grid 1.0 links the 4 side neighbours,
    /// 1.5 the 8 around a cell).
    pub radius: f64,
    /// Number of size-distribution columns (default 8; 0 for none, at most 32).
    pub histogram: u32,
    #[serde(skip)]
    points: Vec<(u32, DVec2)>,
    #[serde(skip)]
    grid: UniformGrid<u32>,
    #[serde(skip)]
    links: Vec<(usize, usize)>,
    #[serde(skip)]
    clustering: Clustering,
}

impl Default for Clusters {
    fn default() -> Self {
        Clusters {
            radius: 1.0,
            histogram: 8,
            points: Vec::new(),
            grid: UniformGrid::new(),
            links: Vec::new(),
            clustering: Clustering::new(),
        }
    }
}

/// The histogram bin of a cluster of `size` agents: `floor(log2(size))`, capped at `last`.
fn bin_of(size: usize, last: usize) -> usize {
    (size.max(1).ilog2() as usize).min(last)
}

impl Metric for Clusters {
    const NAME: &'static str = "clusters";
    const SUMMARY: &'static str =
        "Radius-linkage clusters: count, largest fraction, mean size, size distribution.";

    fn columns(&self) -> Vec<String> {
        let mut cols = vec![
            "cluster_count".to_owned(),
            "largest_cluster_fraction".to_owned(),
            "mean_cluster_size".to_owned(),
        ];
        let bins = self.histogram as usize;
        for b in 0..bins {
            let lo = 1usize << b;
            cols.push(if b + 1 == bins {
                format!("clusters_size_{lo}_plus")
            } else if lo == 1 {
                "clusters_size_1".to_owned()
            } else {
                format!("clusters_size_{lo}_{}", 2 * lo - 1)
            });
        }
        cols
    }

    fn validate(&self, _ctx: &ValidateCtx) -> Result<(), String> {
        if !(self.radius.is_finite() && self.radius > 0.0) {
            return Err(format!(
                "`radius` must be a positive number, got {}",
                self.radius
            ));
        }
        if self.histogram > 32 {
            return Err(format!(
                "`histogram` is at most 32 columns, got {}",
                self.histogram
            ));
        }
        Ok(())
    }

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let space = world.resource::<Space>().clone();
        agent_points(world, &mut self.points);
        let n = self.points.len();
        self.grid.rebuild(
            &space,
            self.radius,
            self.points
                .iter()
                .enumerate()
                .map(|(k, &(id, pos))| GridItem {
                    pos,
                    id,
                    data: k as u32,
                }),
        );
        self.links.clear();
        for (k, &(_, pos)) in self.points.iter().enumerate() {
            let links = &mut self.links;
            self.grid.for_each_within(pos, self.radius, |other, _, _| {
                if other.data as usize > k {
                    links.push((k, other.data as usize));
                }
            });
        }
        let Ok(clusters) = self.clustering.compute(n, self.links.iter().copied()) else {
            // Indices come from `points` itself, so they are always in range.
            out.resize(out.len() + self.columns().len(), f64::NAN);
            return;
        };
        let count = clusters.count();
        out.push(count as f64);
        if n == 0 {
            out.resize(out.len() + 2, f64::NAN);
        } else {
            out.push(clusters.largest_fraction());
            out.push(n as f64 / count as f64);
        }
        let bins = self.histogram as usize;
        let start = out.len();
        out.resize(start + bins, 0.0);
        if bins > 0 {
            for &s in clusters.sizes() {
                out[start + bin_of(s, bins - 1)] += 1.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::{compute, unit, world};

    #[test]
    fn columns_name_the_bins() {
        let c = Clusters {
            histogram: 4,
            ..Clusters::default()
        };
        assert_eq!(
            c.columns()[3..],
            [
                "clusters_size_1",
                "clusters_size_2_3",
                "clusters_size_4_7",
                "clusters_size_8_plus"
            ]
        );
        assert_eq!(
            (bin_of(1, 3), bin_of(3, 3), bin_of(7, 3), bin_of(100, 3)),
            (0, 1, 2, 3)
        );
    }

    #[test]
    fn hand_built_chains_and_the_torus_seam() {
        // A chain of three 0.9 apart, a pair across the seam (x = 0.2 and 9.6), a loner.
        let agents = [
            (2.0, 5.0, 0.0, 0.0),
            (2.9, 5.0, 0.0, 0.0),
            (3.8, 5.0, 0.0, 0.0),
            (0.2, 1.0, 0.0, 0.0),
            (9.6, 1.0, 0.0, 0.0),
            (6.0, 8.0, 0.0, 0.0),
        ];
        let mut w = world(10.0, 10.0, true, &agents);
        let got = compute(&mut Clusters::default(), &mut w);
        assert_eq!(got[..3], [3.0, 0.5, 2.0]);
        assert_eq!(got[3..6], [1.0, 2.0, 0.0]);
        let mut walls = world(10.0, 10.0, false, &agents);
        assert_eq!(compute(&mut Clusters::default(), &mut walls)[0], 4.0);
    }

    #[test]
    fn matches_breadth_first_search_on_random_layouts() {
        let space = Space {
            kind: SpaceKind::Continuous,
            width: 30.0,
            height: 20.0,
            boundary: agora_engine::Boundary::Torus,
            neighborhood: agora_engine::Neighborhood::Moore,
        };
        for seed in 0..5u64 {
            let pts: Vec<_> = (0..250)
                .map(|i| {
                    (
                        unit(i, seed * 2) * 30.0,
                        unit(i, seed * 2 + 1) * 20.0,
                        0.0,
                        0.0,
                    )
                })
                .collect();
            let radius = 1.0 + seed as f64 * 0.3;
            let near = |a: usize, b: usize| {
                let (p, q) = (pts[a], pts[b]);
                space.distance_squared(DVec2::new(p.0, p.1), DVec2::new(q.0, q.1))
                    <= radius * radius
            };
            let mut seen = vec![false; pts.len()];
            let mut sizes = Vec::new();
            for s in 0..pts.len() {
                if seen[s] {
                    continue;
                }
                seen[s] = true;
                let (mut stack, mut size) = (vec![s], 0);
                while let Some(v) = stack.pop() {
                    size += 1;
                    for (w, done) in seen.iter_mut().enumerate() {
                        if !*done && near(v, w) {
                            *done = true;
                            stack.push(w);
                        }
                    }
                }
                sizes.push(size);
            }
            let mut w = world(30.0, 20.0, true, &pts);
            let mut metric = Clusters {
                radius,
                ..Clusters::default()
            };
            let got = compute(&mut metric, &mut w);
            let largest = *sizes.iter().max().unwrap() as f64 / pts.len() as f64;
            assert_eq!(got[0], sizes.len() as f64, "seed {seed}");
            assert!((got[1] - largest).abs() < 1e-15);
            let mut hist = [0.0; 8];
            for &s in &sizes {
                hist[bin_of(s, 7)] += 1.0;
            }
            assert_eq!(got[3..], hist);
        }
    }
}
