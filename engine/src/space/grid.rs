//! Grid worlds: neighbourhoods (Moore / von Neumann, any radius, torus or walls) and the
//! one-agent-per-cell occupancy map.

use super::{Neighborhood, Space};
use crate::agent::GridCell;
use bevy_ecs::prelude::Resource;
use std::collections::BTreeSet;

/// The neighbour cells of any cell for a fixed radius and shape, precomputed once.
///
/// On a torus narrower than the neighbourhood, offsets that land on the same cell are merged,
/// so no neighbour is counted twice.
#[derive(Debug, Clone)]
pub struct GridNeighbors {
    offsets: Vec<(i32, i32)>,
    width: i32,
    height: i32,
    torus: bool,
}

impl GridNeighbors {
    /// Neighbourhood of `radius` cells of the given shape, excluding the centre cell.
    pub fn new(space: &Space, radius: u32, shape: Neighborhood) -> GridNeighbors {
        let (width, height) = (space.width as i32, space.height as i32);
        let torus = space.is_torus();
        let r = radius as i32;
        let mut seen = BTreeSet::new();
        let mut offsets = Vec::new();
        for dy in -r..=r {
            for dx in -r..=r {
                let inside = match shape {
                    Neighborhood::Moore => true,
                    Neighborhood::VonNeumann => dx.abs() + dy.abs() <= r,
                };
                if !inside || (dx == 0 && dy == 0) {
                    continue;
                }
                if torus {
                    let key = (dx.rem_euclid(width.max(1)), dy.rem_euclid(height.max(1)));
                    if key == (0, 0) || !seen.insert(key) {
                        continue;
                    }
                }
                offsets.push((dx, dy));
            }
        }
        GridNeighbors {
            offsets,
            width,
            height,
            torus,
        }
    }

    /// Number of neighbour cells of an interior cell.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// Whether the neighbourhood is empty (radius 0).
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// The neighbour cells of `cell` that exist (walls cut the neighbourhood at the edge).
    #[inline]
    pub fn of(&self, cell: GridCell) -> impl Iterator<Item = GridCell> + '_ {
        self.offsets.iter().filter_map(move |&(dx, dy)| {
            let (x, y) = (cell.x + dx, cell.y + dy);
            if self.torus {
                Some(GridCell::new(
                    x.rem_euclid(self.width),
                    y.rem_euclid(self.height),
                ))
            } else if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
                Some(GridCell::new(x, y))
            } else {
                None
            }
        })
    }
}

/// Which agent occupies each cell of a one-agent-per-cell grid. Kept in step with
/// [`GridCell`] components by whoever moves agents.
#[derive(Resource, Debug, Clone)]
pub struct GridOccupancy {
    width: i32,
    height: i32,
    /// `0` = empty, otherwise agent id + 1.
    cells: Vec<u32>,
    occupied: usize,
}

/// A cell already holds an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cell ({x}, {y}) is already occupied by agent {occupant}")]
pub struct CellOccupied {
    /// Column.
    pub x: i32,
    /// Row.
    pub y: i32,
    /// The agent already there.
    pub occupant: u32,
}

impl GridOccupancy {
    /// An empty map for a grid world.
    pub fn new(space: &Space) -> GridOccupancy {
        GridOccupancy {
            width: space.width as i32,
            height: space.height as i32,
            cells: vec![0; space.cell_count()],
            occupied: 0,
        }
    }

    /// Grid width in cells.
    pub fn width(&self) -> i32 {
        self.width
    }

    /// Grid height in cells.
    pub fn height(&self) -> i32 {
        self.height
    }

    /// Linear index of a cell, or `None` outside the grid.
    #[inline]
    pub fn index(&self, cell: GridCell) -> Option<usize> {
        ((0..self.width).contains(&cell.x) && (0..self.height).contains(&cell.y))
            .then(|| (cell.y * self.width + cell.x) as usize)
    }

    /// The cell at a linear index.
    #[inline]
    pub fn cell_at(&self, index: usize) -> GridCell {
        GridCell::new(index as i32 % self.width, index as i32 / self.width)
    }

    /// The agent in `cell`, if any.
    #[inline]
    pub fn occupant(&self, cell: GridCell) -> Option<u32> {
        let i = self.index(cell)?;
        self.cells[i].checked_sub(1)
    }

    /// Whether `cell` is inside the grid and empty.
    #[inline]
    pub fn is_free(&self, cell: GridCell) -> bool {
        self.index(cell).is_some_and(|i| self.cells[i] == 0)
    }

    /// Number of occupied cells.
    pub fn occupied(&self) -> usize {
        self.occupied
    }

    /// Puts `agent` in `cell`.
    pub fn place(&mut self, cell: GridCell, agent: u32) -> Result<(), CellOccupied> {
        let i = self.index(cell).ok_or(CellOccupied {
            x: cell.x,
            y: cell.y,
            occupant: u32::MAX,
        })?;
        if let Some(occupant) = self.cells[i].checked_sub(1) {
            return Err(CellOccupied {
                x: cell.x,
                y: cell.y,
                occupant,
            });
        }
        self.cells[i] = agent + 1;
        self.occupied += 1;
        Ok(())
    }

    /// Empties `cell`, returning who was there.
    pub fn vacate(&mut self, cell: GridCell) -> Option<u32> {
        let i = self.index(cell)?;
        let who = self.cells[i].checked_sub(1)?;
        self.cells[i] = 0;
        self.occupied -= 1;
        Some(who)
    }

    /// Moves the occupant of `from` to the empty cell `to`.
    pub fn move_agent(&mut self, from: GridCell, to: GridCell) -> Result<(), CellOccupied> {
        let who = self.occupant(from).ok_or(CellOccupied {
            x: from.x,
            y: from.y,
            occupant: u32::MAX,
        })?;
        self.place(to, who)?;
        self.vacate(from);
        Ok(())
    }

    /// Empty cells in row-major order.
    pub fn free_cells(&self) -> impl Iterator<Item = GridCell> + '_ {
        self.cells
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == 0)
            .map(|(i, _)| self.cell_at(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{Boundary, SpaceKind};

    fn grid(w: f64, h: f64, boundary: Boundary) -> Space {
        Space {
            kind: SpaceKind::Grid,
            width: w,
            height: h,
            boundary,
            neighborhood: Neighborhood::Moore,
        }
    }

    #[test]
    fn neighbourhood_sizes() {
        let s = grid(20.0, 20.0, Boundary::Torus);
        assert_eq!(GridNeighbors::new(&s, 1, Neighborhood::Moore).len(), 8);
        assert_eq!(GridNeighbors::new(&s, 2, Neighborhood::Moore).len(), 24);
        assert_eq!(GridNeighbors::new(&s, 1, Neighborhood::VonNeumann).len(), 4);
        assert_eq!(
            GridNeighbors::new(&s, 2, Neighborhood::VonNeumann).len(),
            12
        );
        // A 3x3 torus has only 8 other cells, however large the radius.
        let small = grid(3.0, 3.0, Boundary::Torus);
        let n = GridNeighbors::new(&small, 2, Neighborhood::Moore);
        let cells: BTreeSet<_> = n.of(GridCell::new(0, 0)).collect();
        assert_eq!((n.len(), cells.len()), (8, 8));
    }

    #[test]
    fn walls_cut_neighbourhoods_and_torus_wraps() {
        let walls = grid(5.0, 5.0, Boundary::Walls);
        let n = GridNeighbors::new(&walls, 1, Neighborhood::Moore);
        assert_eq!(n.of(GridCell::new(0, 0)).count(), 3);
        let torus = grid(5.0, 5.0, Boundary::Torus);
        let n = GridNeighbors::new(&torus, 1, Neighborhood::Moore);
        assert!(n.of(GridCell::new(0, 0)).any(|c| c == GridCell::new(4, 4)));
    }

    #[test]
    fn occupancy_places_moves_and_rejects_double_booking() {
        let s = grid(4.0, 3.0, Boundary::Walls);
        let mut occ = GridOccupancy::new(&s);
        occ.place(GridCell::new(1, 1), 7).unwrap();
        assert_eq!(occ.place(GridCell::new(1, 1), 8).unwrap_err().occupant, 7);
        occ.move_agent(GridCell::new(1, 1), GridCell::new(3, 2))
            .unwrap();
        assert_eq!(occ.occupant(GridCell::new(3, 2)), Some(7));
        assert!(occ.is_free(GridCell::new(1, 1)));
        assert!(
            !occ.is_free(GridCell::new(4, 0)),
            "outside the grid is never free"
        );
        assert_eq!(occ.free_cells().count(), 11);
        assert_eq!(occ.occupied(), 1);
    }
}
