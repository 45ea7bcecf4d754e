//! Grid navigation for behaviors that move through intents: breadth-first distance fields to
//! a set of goal cells, and A* between two cells, on the static map (obstacles only).
//!
//! A move takes one tick whatever its direction, so every step costs 1: the heuristic is the
//! Chebyshev distance under the Moore neighbourhood and the Manhattan distance under von
//! Neumann's, both admissible, on a torus with wrapped deltas.

use agora_engine::prelude::*;
use agora_engine::{Neighborhood, Obstacles};
use bevy_ecs::prelude::Mut;

/// The static grid: size, boundary, neighbourhood, obstacles.
#[derive(Resource, Debug, Clone)]
pub struct NavMap {
    width: i32,
    height: i32,
    torus: bool,
    moore: bool,
    blocked: Vec<bool>,
}

/// Neighbour offsets, in a fixed order: von Neumann first, then diagonals.
const OFFSETS: [(i32, i32); 8] = [
    (1, 0),
    (0, 1),
    (-1, 0),
    (0, -1),
    (1, 1),
    (-1, 1),
    (-1, -1),
    (1, -1),
];

impl NavMap {
    /// The map of a grid world (an empty map for other worlds).
    pub fn from_world(world: &World) -> NavMap {
        let space = world.resource::<Space>();
        let (width, height) = if space.kind == SpaceKind::Grid {
            (space.width as i32, space.height as i32)
        } else {
            (0, 0)
        };
        let mut blocked = vec![false; (width * height) as usize];
        if let Some(o) = world.get_resource::<Obstacles>() {
            for c in o.cells() {
                blocked[(c.y * width + c.x) as usize] = true;
            }
        }
        NavMap {
            width,
            height,
            torus: space.is_torus(),
            moore: space.neighborhood == Neighborhood::Moore,
            blocked,
        }
    }

    /// Width in cells.
    pub fn width(&self) -> i32 {
        self.width
    }

    /// Height in cells.
    pub fn height(&self) -> i32 {
        self.height
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.blocked.len()
    }

    /// Whether the map has no cells (not a grid world).
    pub fn is_empty(&self) -> bool {
        self.blocked.is_empty()
    }

    /// Linear index of an in-grid cell.
    #[inline]
    pub fn index(&self, c: GridCell) -> usize {
        (c.y * self.width + c.x) as usize
    }

    /// The cell at a linear index.
    #[inline]
    pub fn cell(&self, i: usize) -> GridCell {
        GridCell::new(i as i32 % self.width, i as i32 / self.width)
    }

    /// The cell `c` wrapped onto a torus, or `None` outside a walled grid.
    #[inline]
    pub fn wrap(&self, c: GridCell) -> Option<GridCell> {
        if self.torus {
            Some(GridCell::new(
                c.x.rem_euclid(self.width),
                c.y.rem_euclid(self.height),
            ))
        } else if (0..self.width).contains(&c.x) && (0..self.height).contains(&c.y) {
            Some(c)
        } else {
            None
        }
    }

    /// Whether `c` is inside the grid and not an obstacle.
    #[inline]
    pub fn passable(&self, c: GridCell) -> bool {
        self.wrap(c).is_some_and(|c| !self.blocked[self.index(c)])
    }

    /// The passable neighbours of `c`, in a fixed order (east, north, west, south, then the
    /// diagonals under Moore).
    pub fn neighbors(&self, c: GridCell) -> impl Iterator<Item = GridCell> + '_ {
        let n = if self.moore { 8 } else { 4 };
        OFFSETS[..n].iter().filter_map(move |&(dx, dy)| {
            self.wrap(GridCell::new(c.x + dx, c.y + dy))
                .filter(|&t| !self.blocked[self.index(t)] && t != c)
        })
    }

    /// Lower bound on the steps from `a` to `b`.
    pub fn heuristic(&self, a: GridCell, b: GridCell) -> u32 {
        let d = |p: i32, q: i32, n: i32| {
            let d = (p - q).abs();
            if self.torus { d.min(n - d) } else { d }
        };
        let (dx, dy) = (d(a.x, b.x, self.width), d(a.y, b.y, self.height));
        (if self.moore { dx.max(dy) } else { dx + dy }) as u32
    }
}

/// Steps from every cell to the nearest of a set of goal cells; `u32::MAX` where no goal can
/// be reached.
#[derive(Debug, Clone)]
pub struct DistanceField {
    dist: Vec<u32>,
}

impl DistanceField {
    /// Breadth-first search from every goal at once.
    pub fn new(map: &NavMap, goals: impl IntoIterator<Item = GridCell>) -> DistanceField {
        let mut dist = vec![u32::MAX; map.len()];
        let mut queue = std::collections::VecDeque::new();
        for g in goals {
            if map.passable(g) {
                let i = map.index(g);
                if dist[i] == u32::MAX {
                    dist[i] = 0;
                    queue.push_back(g);
                }
            }
        }
        while let Some(c) = queue.pop_front() {
            let d = dist[map.index(c)];
            for n in map.neighbors(c) {
                let i = map.index(n);
                if dist[i] == u32::MAX {
                    dist[i] = d + 1;
                    queue.push_back(n);
                }
            }
        }
        DistanceField { dist }
    }

    /// Steps from `c` to the nearest goal, `None` if unreachable or outside the map.
    #[inline]
    pub fn get(&self, map: &NavMap, c: GridCell) -> Option<u32> {
        let c = map.wrap(c)?;
        Some(self.dist[map.index(c)]).filter(|&d| d != u32::MAX)
    }
}

/// Distance fields shared by every agent heading for the same set of cells, built once.
#[derive(Resource, Debug, Default, Clone)]
pub struct Fields {
    keys: Vec<Vec<GridCell>>,
    fields: Vec<DistanceField>,
}

impl Fields {
    /// The index of the field towards `goals` (sorted and deduplicated here), built on first
    /// use.
    pub fn index_of(&mut self, map: &NavMap, mut goals: Vec<GridCell>) -> usize {
        goals.sort_unstable();
        goals.dedup();
        if let Some(i) = self.keys.iter().position(|k| *k == goals) {
            return i;
        }
        self.fields
            .push(DistanceField::new(map, goals.iter().copied()));
        self.keys.push(goals);
        self.fields.len() - 1
    }

    /// The field at `index`.
    pub fn field(&self, index: usize) -> &DistanceField {
        &self.fields[index]
    }

    /// The goal cells of the field at `index`.
    pub fn goals(&self, index: usize) -> &[GridCell] {
        &self.keys[index]
    }
}

/// Inserts the [`NavMap`] and the shared [`Fields`] (once per simulation).
pub fn install(sim: &mut SimBuilder) {
    if sim.first_time::<NavMap>() {
        let map = NavMap::from_world(sim.world());
        sim.insert_resource(map);
        sim.init_resource::<Fields>();
    }
}

/// The field index towards `goals`, from a behavior's `spawn`.
pub fn field_for(agent: &mut AgentSpawn, goals: Vec<GridCell>) -> usize {
    agent
        .world_mut()
        .resource_scope(|world, mut fields: Mut<Fields>| {
            fields.index_of(world.resource::<NavMap>(), goals)
        })
}

/// The neighbours of `cell` with their distance in `field`, in the map's fixed order rotated
/// by `bias` (each agent draws its own, so crowds spread over equally good cells), unreachable
/// ones left out.
pub fn ranked_neighbors(
    map: &NavMap,
    field: &DistanceField,
    cell: GridCell,
    bias: u8,
) -> ([(GridCell, u32); 8], usize) {
    let mut all = [(cell, 0u32); 8];
    let mut n = 0;
    for c in map.neighbors(cell) {
        if let Some(d) = field.get(map, c) {
            all[n] = (c, d);
            n += 1;
        }
    }
    if n > 0 {
        all[..n].rotate_left(bias as usize % n);
    }
    (all, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(w: i32, h: i32, torus: bool, moore: bool, walls: &[(i32, i32)]) -> NavMap {
        let mut blocked = vec![false; (w * h) as usize];
        for &(x, y) in walls {
            blocked[(y * w + x) as usize] = true;
        }
        NavMap {
            width: w,
            height: h,
            torus,
            moore,
            blocked,
        }
    }

    #[test]
    fn distance_fields_match_the_planning_library_on_four_connected_maps() {
        use agora_engine::planning::grid::{Connectivity, GridMap, distance_field};
        let walls: Vec<(i32, i32)> = (0..6).map(|y| (4, y)).chain([(2, 2), (6, 5)]).collect();
        let m = map(9, 7, false, false, &walls);
        let mut g = GridMap::new(9, 7).unwrap();
        for &(x, y) in &walls {
            g.set_passable((x as u32, y as u32), false).unwrap();
        }
        for from in (0..63).map(|i| m.cell(i)).filter(|&c| m.passable(c)) {
            let ours = DistanceField::new(&m, [from]);
            let theirs =
                distance_field(&g, (from.x as u32, from.y as u32), Connectivity::Four).unwrap();
            for (i, d) in theirs.iter().enumerate() {
                let want = d.is_finite().then_some(*d as u32);
                assert_eq!(ours.get(&m, m.cell(i)), want, "{from:?} {:?}", m.cell(i));
            }
        }
    }
}
