//! Grid path planning against the world: the world's obstacles as a [`GridMap`], and a cache
//! of A* results towards one goal.

use super::grid::{AstarScratch, Cell, Connectivity, GridMap, astar_into};
use crate::agent::GridCell;
use crate::sim::Obstacles;
use crate::space::Space;

/// The world's grid as a planning map: obstacles blocked, unit costs. `None` for a
/// continuous world.
pub fn grid_map(space: &Space, obstacles: Option<&Obstacles>) -> Option<GridMap> {
    if space.kind != crate::space::SpaceKind::Grid {
        return None;
    }
    let mut map = GridMap::new(space.width as u32, space.height as u32).ok()?;
    if let Some(o) = obstacles {
        for c in o.cells() {
            let _ = map.set_passable((c.x as u32, c.y as u32), false);
        }
    }
    Some(map)
}

const UNKNOWN: u32 = u32::MAX;
const UNREACHABLE: u32 = u32::MAX - 1;

/// Least-cost paths towards one goal cell, shared by every agent heading there: each A*
/// query stores, for every cell on the path it found, the next cell. Any suffix of a
/// least-cost path is a least-cost path, so following stored hops from any cell is optimal
/// too, and later queries from cells already on a stored path cost nothing. Queries must be
/// made in a fixed order (agent-id order) for the stored hops, among equal-cost paths, not to
/// depend on thread count. Call [`PathCache::clear`] when the map changes.
#[derive(Debug, Clone)]
pub struct PathCache {
    goal: Cell,
    connectivity: Connectivity,
    width: u32,
    next: Vec<u32>,
    path: Vec<Cell>,
    searches: u64,
    hits: u64,
}

impl PathCache {
    /// An empty cache for paths to `goal` on maps the size of `map`.
    pub fn new(map: &GridMap, goal: Cell, connectivity: Connectivity) -> PathCache {
        PathCache {
            goal,
            connectivity,
            width: map.width(),
            next: vec![UNKNOWN; map.cell_count()],
            path: Vec::new(),
            searches: 0,
            hits: 0,
        }
    }

    /// The goal.
    pub fn goal(&self) -> Cell {
        self.goal
    }

    /// Forgets every stored hop.
    pub fn clear(&mut self) {
        self.next.fill(UNKNOWN);
    }

    /// `(A* searches run, queries answered from stored hops)`.
    pub fn stats(&self) -> (u64, u64) {
        (self.searches, self.hits)
    }

    fn index(&self, c: Cell) -> usize {
        c.1 as usize * self.width as usize + c.0 as usize
    }

    /// The next cell on a least-cost path from `from` to the goal (`from` itself at the
    /// goal), searching (with `scratch`, which several caches may share) only when no stored
    /// hop is known; `None` if the goal cannot be reached.
    pub fn next_step(
        &mut self,
        map: &GridMap,
        from: Cell,
        scratch: &mut AstarScratch,
    ) -> Option<Cell> {
        if from == self.goal {
            return Some(from);
        }
        let i = map.index_of(from)?;
        match self.next[i] {
            UNREACHABLE => return None,
            UNKNOWN => {}
            hop => {
                self.hits += 1;
                return map.cell_at(hop as usize);
            }
        }
        self.searches += 1;
        let found = astar_into(
            map,
            from,
            self.goal,
            self.connectivity,
            scratch,
            &mut self.path,
        );
        if found.is_none() {
            self.next[i] = UNREACHABLE;
            return None;
        }
        for k in 0..self.path.len().saturating_sub(1) {
            let here = self.index(self.path[k]);
            let hop = self.index(self.path[k + 1]) as u32;
            if self.next[here] == UNKNOWN {
                self.next[here] = hop;
            }
        }
        self.path.get(1).copied()
    }

    /// [`PathCache::next_step`] for grid cells.
    pub fn next_cell(
        &mut self,
        map: &GridMap,
        from: GridCell,
        scratch: &mut AstarScratch,
    ) -> Option<GridCell> {
        let c = (u32::try_from(from.x).ok()?, u32::try_from(from.y).ok()?);
        self.next_step(map, c, scratch)
            .map(|(x, y)| GridCell::new(x as i32, y as i32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planning::grid::astar;

    #[test]
    fn cached_hops_give_least_cost_paths_from_everywhere() {
        let mut map = GridMap::new(12, 9).unwrap();
        for y in 1..9 {
            map.set_passable((5, y), false).unwrap();
        }
        map.set_passable((8, 4), false).unwrap();
        let goal = (10, 7);
        let mut cache = PathCache::new(&map, goal, Connectivity::Eight);
        let mut scratch = AstarScratch::new();
        for y in 0..9 {
            for x in 0..12 {
                if !map.is_passable((x, y)) {
                    continue;
                }
                let best = astar(&map, (x, y), goal, Connectivity::Eight, &mut scratch)
                    .unwrap()
                    .cost;
                let mut at = (x, y);
                let mut cost = 0.0;
                while at != goal {
                    let next = cache.next_step(&map, at, &mut scratch).unwrap();
                    cost += map.step_cost(at, next, Connectivity::Eight).unwrap();
                    at = next;
                }
                assert!(
                    (cost - best).abs() < 1e-9,
                    "from ({x}, {y}): {cost} vs {best}"
                );
            }
        }
        let (searches, hits) = cache.stats();
        assert!(hits > searches * 3, "{searches} searches, {hits} hits");
        let mut walled = GridMap::new(3, 3).unwrap();
        walled.set_passable((1, 0), false).unwrap();
        walled.set_passable((1, 1), false).unwrap();
        walled.set_passable((1, 2), false).unwrap();
        let mut c = PathCache::new(&walled, (2, 2), Connectivity::Four);
        assert_eq!(c.next_step(&walled, (0, 0), &mut scratch), None);
        assert_eq!(
            c.next_step(&walled, (0, 0), &mut scratch),
            None,
            "remembered as unreachable"
        );
    }
}
