//! `spatial_entropy`: how evenly agents cover the world.

use super::agent_points;
use agora_engine::prelude::*;
use agora_engine::stats::GridEntropy;
use serde::{Deserialize, Serialize};

/// Normalised Shannon entropy (Shannon 1948, "A mathematical theory of communication", Bell
/// Syst. Tech. J. 27, 379) of agent positions binned on a coarse `bins x bins` grid over the
/// world:
///
/// `H = -(sum_c p_c ln p_c) / ln(bins^2)`, with `p_c` the fraction of agents in cell `c`.
///
/// 0 when every agent shares one cell (aggregation), 1 when they spread evenly over all cells
/// (dispersion); it cannot exceed `ln N / ln(bins^2)` with fewer agents than cells. 0 without
/// agents. Grid worlds bin cell centres.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpatialEntropy {
    /// Cells per side of the binning grid (default 10, at least 1).
    pub bins: u32,
    #[serde(skip)]
    points: Vec<(u32, DVec2)>,
    #[serde(skip)]
    grid: Option<GridEntropy>,
}

impl Default for SpatialEntropy {
    fn default() -> Self {
        SpatialEntropy {
            bins: 10,
            points: Vec::new(),
            grid: None,
        }
    }
}

impl Metric for SpatialEntropy {
    const NAME: &'static str = "spatial_entropy";
    const SUMMARY: &'static str =
        "Normalised entropy of agent positions on a coarse grid (0 = clumped, 1 = even).";

    fn validate(&self, _ctx: &ValidateCtx) -> Result<(), String> {
        if self.bins == 0 || self.bins > 4096 {
            return Err(format!(
                "`bins` must be between 1 and 4096, got {}",
                self.bins
            ));
        }
        Ok(())
    }

    fn compute(&mut self, world: &mut World, out: &mut Vec<f64>) {
        let space = world.resource::<Space>().clone();
        if self.grid.is_none() {
            let b = self.bins.max(1) as usize;
            self.grid = GridEntropy::new([0.0, 0.0], [space.width, space.height], [b, b]).ok();
        }
        let Some(grid) = self.grid.as_mut() else {
            out.push(f64::NAN);
            return;
        };
        agent_points(world, &mut self.points);
        out.push(
            grid.compute(self.points.iter().map(|&(_, p)| [p.x, p.y]))
                .normalized,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::{compute, world};

    #[test]
    fn clumped_even_and_hand_computed() {
        let mut metric = SpatialEntropy {
            bins: 2,
            ..SpatialEntropy::default()
        };
        let mut clumped = world(
            10.0,
            10.0,
            true,
            &[(1.0, 1.0, 0.0, 0.0), (2.0, 2.0, 0.0, 0.0)],
        );
        assert_eq!(compute(&mut metric, &mut clumped)[0], 0.0);
        let corners = [(1.0, 1.0), (9.0, 1.0), (1.0, 9.0), (9.0, 9.0)];
        let even: Vec<_> = corners.iter().map(|&(x, y)| (x, y, 0.0, 0.0)).collect();
        let mut w = world(10.0, 10.0, true, &even);
        assert!((compute(&mut metric, &mut w)[0] - 1.0).abs() < 1e-15);
        // Counts 2, 1, 1, 0: H = 0.75 ln 4, normalised 0.75.
        let mut uneven = world(
            10.0,
            10.0,
            true,
            &[
                (1.0, 1.0, 0.0, 0.0),
                (2.0, 1.0, 0.0, 0.0),
                (9.0, 1.0, 0.0, 0.0),
                (1.0, 9.0, 0.0, 0.0),
            ],
        );
        assert!((compute(&mut metric, &mut uneven)[0] - 0.75).abs() < 1e-15);
    }
}
