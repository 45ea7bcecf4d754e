//! Shannon entropy of point positions binned on a coarse rectangular grid: 0 when every point
//! shares one cell, 1 when the points spread evenly over all cells.

use super::StatsError;

/// Result of one [`GridEntropy::compute`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BinnedEntropy {
    /// Entropy divided by `ln(cells)`, in `[0, 1]`; 0 when the grid has a single cell or there
    /// are no points. With fewer points than cells it cannot exceed `ln(points) / ln(cells)`.
    pub normalized: f64,
    /// Entropy `-sum p ln p` over cell occupancy fractions, in nats.
    pub nats: f64,
    /// Points binned (finite ones only).
    pub points: u64,
    /// Cells holding at least one point.
    pub occupied_cells: usize,
}

/// A grid over the rectangle `[min, max]`, with reusable cell counts so that computing the
/// entropy every sample period does not allocate.
///
/// Points outside the rectangle count in the nearest border cell (a point exactly on `max`
/// belongs to the last cell): positions in a walled or wrapped world stay inside anyway, and
/// clamping keeps rounding at the edges from dropping points. Points with a NaN or infinite
/// coordinate are skipped.
#[derive(Debug, Clone)]
pub struct GridEntropy {
    min: [f64; 2],
    extent: [f64; 2],
    cells: [usize; 2],
    counts: Vec<u64>,
}

impl GridEntropy {
    /// A grid of `cells[0] x cells[1]` cells over `[min, max]`.
    ///
    /// # Errors
    /// [`StatsError::InvalidParameter`] when a bound is not finite, `min` is not below `max` on
    /// an axis, an axis has no cells, or the cell count overflows.
    pub fn new(min: [f64; 2], max: [f64; 2], cells: [usize; 2]) -> Result<Self, StatsError> {
        let names = [("min_x", "max_x", "cells_x"), ("min_y", "max_y", "cells_y")];
        for axis in 0..2 {
            let (lo_name, hi_name, cells_name) = names[axis];
            if !min[axis].is_finite() {
                return Err(invalid(lo_name, min[axis], "a finite bound"));
            }
            if !(max[axis].is_finite() && max[axis] > min[axis]) {
                return Err(invalid(hi_name, max[axis], "a finite bound above min"));
            }
            if cells[axis] == 0 {
                return Err(invalid(cells_name, 0.0, "at least 1 cell"));
            }
        }
        let total = cells[0].checked_mul(cells[1]).ok_or_else(|| {
            invalid(
                "cells_y",
                cells[1] as f64,
                "a cell count that fits in memory",
            )
        })?;
        Ok(Self {
            min,
            extent: [max[0] - min[0], max[1] - min[1]],
            cells,
            counts: vec![0; total],
        })
    }

    /// Number of cells, `cells_x * cells_y`.
    #[must_use]
    pub fn cells(&self) -> usize {
        self.counts.len()
    }

    fn cell_of(&self, axis: usize, coordinate: f64) -> usize {
        let scaled = (coordinate - self.min[axis]) / self.extent[axis] * self.cells[axis] as f64;
        // Float-to-int casts saturate, so negative and huge values land on the border cells.
        (scaled.floor().max(0.0) as usize).min(self.cells[axis] - 1)
    }

    /// Bins `points` and returns their entropy.
    pub fn compute<I: IntoIterator<Item = [f64; 2]>>(&mut self, points: I) -> BinnedEntropy {
        self.counts.fill(0);
        let mut total = 0u64;
        for [x, y] in points {
            if !(x.is_finite() && y.is_finite()) {
                continue;
            }
            let cell = self.cell_of(1, y) * self.cells[0] + self.cell_of(0, x);
            self.counts[cell] += 1;
            total += 1;
        }
        if total == 0 {
            return BinnedEntropy {
                normalized: 0.0,
                nats: 0.0,
                points: 0,
                occupied_cells: 0,
            };
        }
        // H = ln N - (1/N) sum c ln c: one pass over the integer counts in cell order.
        let n = total as f64;
        let (weighted, occupied) =
            self.counts
                .iter()
                .filter(|&&c| c > 0)
                .fold((0.0, 0usize), |(w, o), &c| {
                    let c = c as f64;
                    (w + c * c.ln(), o + 1)
                });
        let nats = (n.ln() - weighted / n).max(0.0);
        let max_nats = (self.counts.len() as f64).ln();
        BinnedEntropy {
            normalized: if max_nats > 0.0 { nats / max_nats } else { 0.0 },
            nats,
            points: total,
            occupied_cells: occupied,
        }
    }
}

fn invalid(name: &'static str, value: f64, expected: &'static str) -> StatsError {
    StatsError::InvalidParameter {
        name,
        value,
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(cells: [usize; 2]) -> GridEntropy {
        GridEntropy::new([0.0, 0.0], [10.0, 10.0], cells).unwrap()
    }

    #[test]
    fn one_cell_is_zero_and_even_spread_is_one() {
        let mut g = grid([4, 4]);
        let clumped = g.compute((0..50).map(|i| [1.0 + f64::from(i) * 0.01, 1.0]));
        assert_eq!((clumped.normalized, clumped.occupied_cells), (0.0, 1));
        let centres = (0..16).map(|i| [2.5 * f64::from(i % 4) + 1.0, 2.5 * f64::from(i / 4) + 1.0]);
        let even = g.compute(centres);
        assert!((even.normalized - 1.0).abs() < 1e-15);
        assert_eq!((even.points, even.occupied_cells), (16, 16));
    }

    #[test]
    fn hand_computed_occupancy() {
        // Counts 2, 1, 1 over 4 cells: H = 0.5 ln 2 + 0.5 ln 4 = 0.75 ln 4.
        let mut g = grid([2, 2]);
        let e = g.compute([[1.0, 1.0], [2.0, 2.0], [6.0, 1.0], [1.0, 6.0]]);
        assert!((e.nats - 0.75 * 4.0_f64.ln()).abs() < 1e-15);
        assert!((e.normalized - 0.75).abs() < 1e-15);
    }

    #[test]
    fn outside_points_clamp_to_border_cells_and_non_finite_are_skipped() {
        let mut g = grid([2, 1]);
        let e = g.compute([
            [-5.0, 3.0],
            [0.0, 50.0],
            [10.0, 3.0],
            [99.0, -1.0],
            [f64::NAN, 1.0],
        ]);
        // Two points in each of the two cells.
        assert_eq!((e.points, e.occupied_cells), (4, 2));
        assert!((e.normalized - 1.0).abs() < 1e-15);
        assert_eq!(g.compute(std::iter::empty()).points, 0);
        let mut single = grid([1, 1]);
        assert_eq!(single.compute([[1.0, 1.0], [9.0, 9.0]]).normalized, 0.0);
    }

    #[test]
    fn invalid_grids_are_errors() {
        assert!(GridEntropy::new([0.0, 0.0], [0.0, 1.0], [2, 2]).is_err());
        assert!(GridEntropy::new([0.0, f64::NAN], [1.0, 1.0], [2, 2]).is_err());
        assert!(GridEntropy::new([0.0, 0.0], [1.0, 1.0], [0, 2]).is_err());
        assert!(GridEntropy::new([0.0, 0.0], [1.0, 1.0], [usize::MAX, 2]).is_err());
    }
}
