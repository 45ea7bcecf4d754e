//! Scalar fields over a grid (pheromone, scent, heat): deposit, diffusion and evaporation,
//! updated in the Environment phase by whoever owns the field.

use crate::agent::GridCell;

/// A value per grid cell. Diffusion follows NetLogo's `diffuse`: each cell gives away a
/// fraction of its value, shared equally among its eight neighbours; at walls the share of a
/// missing neighbour stays home, so diffusion conserves the total.
#[derive(Debug, Clone, PartialEq)]
pub struct GridField {
    width: i32,
    height: i32,
    torus: bool,
    values: Vec<f32>,
    next: Vec<f32>,
}

impl GridField {
    /// A field of zeros.
    pub fn new(width: u32, height: u32, torus: bool) -> GridField {
        let n = width as usize * height as usize;
        GridField {
            width: width as i32,
            height: height as i32,
            torus,
            values: vec![0.0; n],
            next: vec![0.0; n],
        }
    }

    /// Width in cells.
    pub fn width(&self) -> u32 {
        self.width as u32
    }

    /// Height in cells.
    pub fn height(&self) -> u32 {
        self.height as u32
    }

    #[inline]
    fn index(&self, c: GridCell) -> Option<usize> {
        ((0..self.width).contains(&c.x) && (0..self.height).contains(&c.y))
            .then(|| (c.y * self.width + c.x) as usize)
    }

    /// The value at `cell` (0 outside).
    #[inline]
    pub fn get(&self, cell: GridCell) -> f32 {
        self.index(cell).map_or(0.0, |i| self.values[i])
    }

    /// Sets the value at `cell` (ignored outside).
    pub fn set(&mut self, cell: GridCell, v: f32) {
        if let Some(i) = self.index(cell) {
            self.values[i] = v;
        }
    }

    /// Adds to the value at `cell` (ignored outside).
    #[inline]
    pub fn add(&mut self, cell: GridCell, amount: f32) {
        if let Some(i) = self.index(cell) {
            self.values[i] += amount;
        }
    }

    /// All values, row-major.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// The sum over all cells, in row-major order.
    pub fn total(&self) -> f64 {
        self.values.iter().map(|&v| f64::from(v)).sum()
    }

    /// One diffusion step: every cell gives `rate` (0 to 1) of its value to its eight
    /// neighbours in equal shares.
    pub fn diffuse(&mut self, rate: f32) {
        if rate <= 0.0 {
            return;
        }
        let (w, h) = (self.width, self.height);
        self.next.copy_from_slice(&self.values);
        for y in 0..h {
            for x in 0..w {
                let i = (y * w + x) as usize;
                let share = self.values[i] * rate / 8.0;
                if share == 0.0 {
                    continue;
                }
                for (dx, dy) in NEIGHBOURS {
                    let (mut nx, mut ny) = (x + dx, y + dy);
                    if self.torus {
                        nx = nx.rem_euclid(w);
                        ny = ny.rem_euclid(h);
                    } else if !(0..w).contains(&nx) || !(0..h).contains(&ny) {
                        continue;
                    }
                    self.next[i] -= share;
                    self.next[(ny * w + nx) as usize] += share;
                }
            }
        }
        std::mem::swap(&mut self.values, &mut self.next);
    }

    /// Multiplies every value by `1 - rate`, and zeroes values below `floor` so that the
    /// field does not keep denormal dust forever.
    pub fn evaporate(&mut self, rate: f32, floor: f32) {
        let keep = 1.0 - rate;
        for v in &mut self.values {
            *v *= keep;
            if *v < floor {
                *v = 0.0;
            }
        }
    }

    /// The neighbour of `cell` (eight-neighbourhood) with the highest value, ties to the
    /// first in the fixed order N, NE, E, SE, S, SW, W, NW; `None` if none is above 0.
    pub fn uphill(&self, cell: GridCell) -> Option<(GridCell, f32)> {
        let mut best: Option<(GridCell, f32)> = None;
        for (dx, dy) in NEIGHBOURS {
            let (mut x, mut y) = (cell.x + dx, cell.y + dy);
            if self.torus {
                x = x.rem_euclid(self.width);
                y = y.rem_euclid(self.height);
            }
            let c = GridCell::new(x, y);
            let Some(i) = self.index(c) else { continue };
            let v = self.values[i];
            if v > 0.0 && best.is_none_or(|(_, b)| v > b) {
                best = Some((c, v));
            }
        }
        best
    }
}

const NEIGHBOURS: [(i32, i32); 8] = [
    (0, 1),
    (1, 1),
    (1, 0),
    (1, -1),
    (0, -1),
    (-1, -1),
    (-1, 0),
    (-1, 1),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffusion_conserves_and_spreads_evaporation_decays() {
        for torus in [true, false] {
            let mut f = GridField::new(9, 7, torus);
            f.set(GridCell::new(0, 0), 8.0);
            f.set(GridCell::new(4, 3), 80.0);
            for _ in 0..20 {
                f.diffuse(0.5);
            }
            assert!((f.total() - 88.0).abs() < 1e-3, "{}", f.total());
            assert!(f.get(GridCell::new(8, 6)) > 0.0);
        }
        let mut f = GridField::new(3, 3, false);
        f.set(GridCell::new(1, 1), 1.0);
        f.diffuse(1.0);
        assert_eq!(f.get(GridCell::new(1, 1)), 0.0);
        assert_eq!(f.get(GridCell::new(0, 0)), 0.125);
        f.evaporate(0.5, 0.07);
        assert_eq!(f.get(GridCell::new(0, 0)), 0.0, "below the floor");
        f.set(GridCell::new(2, 2), 3.0);
        assert_eq!(
            f.uphill(GridCell::new(1, 1)),
            Some((GridCell::new(2, 2), 3.0))
        );
    }
}
