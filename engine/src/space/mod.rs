//! Spaces: 2-D continuous (torus or walled) and 2-D grid, plus the spatial indexes that make
//! neighbour queries cost O(neighbours) instead of O(agents).

mod grid;
mod index;

pub use grid::{GridNeighbors, GridOccupancy};
pub use index::{GridItem, IndexedItems, QueryTables, Runs, TableRows, UniformGrid};

use bevy_ecs::prelude::Resource;
use glam::DVec2;
use serde::{Deserialize, Serialize};

/// Continuous plane or grid of unit cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SpaceKind {
    /// Real-valued positions ([`crate::Position`]).
    #[default]
    Continuous,
    /// Integer cells ([`crate::GridCell`]).
    Grid,
}

/// What happens at the edges of the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Boundary {
    /// Periodic: leaving one side re-enters on the opposite side; distances use the minimum
    /// image.
    #[default]
    Torus,
    /// Closed: positions are clamped to the world.
    Walls,
}

/// Which cells count as neighbours in a grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Neighborhood {
    /// The (2r+1)^2 - 1 cells within Chebyshev distance r.
    #[default]
    Moore,
    /// The cells within Manhattan distance r.
    VonNeumann,
}

/// The world's geometry, available to systems as a resource.
#[derive(Resource, Debug, Clone, PartialEq)]
pub struct Space {
    /// Continuous or grid.
    pub kind: SpaceKind,
    /// Extent along x (cells for a grid).
    pub width: f64,
    /// Extent along y (cells for a grid).
    pub height: f64,
    /// Torus or walls.
    pub boundary: Boundary,
    /// Grid neighbourhood shape.
    pub neighborhood: Neighborhood,
}

impl Space {
    /// Whether the world wraps around.
    #[inline]
    pub fn is_torus(&self) -> bool {
        self.boundary == Boundary::Torus
    }

    /// Brings a position back into the world: wraps on a torus, clamps against walls.
    #[inline]
    pub fn wrap(&self, p: DVec2) -> DVec2 {
        match self.boundary {
            Boundary::Torus => {
                DVec2::new(wrap_coord(p.x, self.width), wrap_coord(p.y, self.height))
            }
            Boundary::Walls => DVec2::new(p.x.clamp(0.0, self.width), p.y.clamp(0.0, self.height)),
        }
    }

    /// The shortest vector from `from` to `to` (minimum image on a torus).
    #[inline]
    pub fn delta(&self, from: DVec2, to: DVec2) -> DVec2 {
        let d = to - from;
        match self.boundary {
            Boundary::Torus => DVec2::new(min_image(d.x, self.width), min_image(d.y, self.height)),
            Boundary::Walls => d,
        }
    }

    /// Squared distance under [`Space::delta`].
    #[inline]
    pub fn distance_squared(&self, a: DVec2, b: DVec2) -> f64 {
        self.delta(a, b).length_squared()
    }

    /// Number of cells of a grid world (`width * height`).
    pub fn cell_count(&self) -> usize {
        self.width as usize * self.height as usize
    }

    /// Area of the world.
    pub fn area(&self) -> f64 {
        self.width * self.height
    }
}

#[inline]
fn wrap_coord(x: f64, extent: f64) -> f64 {
    if (0.0..extent).contains(&x) {
        return x;
    }
    let r = x.rem_euclid(extent);
    // rem_euclid of a tiny negative number rounds to `extent` itself.
    if r >= extent { r - extent } else { r }
}

#[inline]
fn min_image(d: f64, extent: f64) -> f64 {
    let half = extent * 0.5;
    if d > half {
        d - extent
    } else if d < -half {
        d + extent
    } else {
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn torus(w: f64, h: f64) -> Space {
        Space {
            kind: SpaceKind::Continuous,
            width: w,
            height: h,
            boundary: Boundary::Torus,
            neighborhood: Neighborhood::Moore,
        }
    }

    #[test]
    fn torus_distances_use_the_minimum_image() {
        let s = torus(100.0, 50.0);
        let d = s.delta(DVec2::new(1.0, 1.0), DVec2::new(99.0, 49.0));
        assert_eq!(d, DVec2::new(-2.0, -2.0));
        assert_eq!(
            s.distance_squared(DVec2::new(0.0, 0.0), DVec2::new(60.0, 0.0)),
            1600.0
        );
        let d = s.delta(DVec2::new(99.0, 25.0), DVec2::new(1.0, 25.0));
        assert_eq!(d, DVec2::new(2.0, 0.0));
    }

    #[test]
    fn wrap_stays_inside_even_for_tiny_negatives() {
        let s = torus(100.0, 100.0);
        let p = s.wrap(DVec2::new(-1e-17, 100.0));
        assert!(p.x >= 0.0 && p.x < 100.0, "{p}");
        assert!(p.y >= 0.0 && p.y < 100.0, "{p}");
        assert_eq!(s.wrap(DVec2::new(-5.0, 205.0)), DVec2::new(95.0, 5.0));
        let walls = Space {
            boundary: Boundary::Walls,
            ..s
        };
        assert_eq!(walls.wrap(DVec2::new(-5.0, 205.0)), DVec2::new(0.0, 100.0));
    }
}
