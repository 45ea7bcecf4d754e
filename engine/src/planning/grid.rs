//! Grid maps and grid path finding: A* with reusable scratch memory, a Dijkstra distance field,
//! path following with replanning, and space-time A* for prioritised multi-agent planning.
//!
//! Conventions shared by every search here:
//! - A cell is `(x, y)` with `x < width` (column) and `y < height` (row); its index is
//!   `y * width + x`.
//! - Entering a cell costs its traversal cost (`>= 1.0`, default `1.0`) for an orthogonal step
//!   and `sqrt(2)` times that for a diagonal step. Charging the entered cell (rather than
//!   averaging both ends) keeps the cost of a path independent of the start cell, which is where
//!   an agent already stands.
//! - A diagonal step is legal only when both orthogonally adjacent cells it passes between are
//!   passable (no corner cutting), matching the MovingAI octile benchmarks.
//! - The start cell's own passability is not checked: the agent already occupies it, and a cell
//!   that became blocked under an agent must not strand it.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::f64::consts::SQRT_2;

use thiserror::Error;

/// A grid cell as `(x, y)`: column then row.
pub type Cell = (u32, u32);

/// Sentinel parent index for a search root; no grid may have this many cells.
const NO_PARENT: u32 = u32::MAX;

/// Which neighbours a move may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Connectivity {
    /// North, east, south, west. The default.
    #[default]
    Four,
    /// The four orthogonal neighbours plus the four diagonals (without corner cutting).
    Eight,
}

/// Errors from building or editing a [`GridMap`].
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum GridError {
    /// The requested dimensions are empty or too large to index with `u32`.
    #[error(
        "grid size {width}x{height} is invalid: expected both sides >= 1 and fewer than {max} cells",
        max = u32::MAX
    )]
    InvalidSize {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// A per-cell vector does not have one entry per cell.
    #[error("{what} has {found} entries, expected width * height = {expected}")]
    LengthMismatch {
        /// Which vector was wrong (`"passable flags"` or `"cost map"`).
        what: &'static str,
        /// `width * height`.
        expected: usize,
        /// Length supplied.
        found: usize,
    },
    /// A cell lies outside the grid.
    #[error("cell ({x}, {y}) is outside the {width}x{height} grid")]
    OutOfBounds {
        /// Column of the offending cell.
        x: u32,
        /// Row of the offending cell.
        y: u32,
        /// Grid width.
        width: u32,
        /// Grid height.
        height: u32,
    },
    /// A traversal cost is below 1.0, infinite or NaN.
    #[error("traversal cost {cost} at cell ({x}, {y}) is invalid: expected a finite value >= 1.0")]
    InvalidCost {
        /// Column of the offending cell.
        x: u32,
        /// Row of the offending cell.
        y: u32,
        /// The rejected cost.
        cost: f32,
    },
}

/// A rectangular grid of passable or blocked cells with an optional traversal-cost map.
#[derive(Debug, Clone, PartialEq)]
pub struct GridMap {
    width: u32,
    height: u32,
    passable: Vec<bool>,
    /// `None` means every cell costs 1.0; saves memory and a load per step on plain maps.
    costs: Option<Vec<f32>>,
    /// Minimum over all cells (passable or not): scaling the heuristic by it keeps it
    /// admissible whatever the cost map says.
    min_cost: f32,
}

impl GridMap {
    /// An all-passable grid with unit costs.
    pub fn new(width: u32, height: u32) -> Result<Self, GridError> {
        let n = checked_cell_count(width, height)?;
        Ok(Self {
            width,
            height,
            passable: vec![true; n],
            costs: None,
            min_cost: 1.0,
        })
    }

    /// A grid from row-major passable flags (`passable[y * width + x]`), unit costs.
    pub fn from_passable(width: u32, height: u32, passable: Vec<bool>) -> Result<Self, GridError> {
        let n = checked_cell_count(width, height)?;
        if passable.len() != n {
            return Err(GridError::LengthMismatch {
                what: "passable flags",
                expected: n,
                found: passable.len(),
            });
        }
        Ok(Self {
            width,
            height,
            passable,
            costs: None,
            min_cost: 1.0,
        })
    }

    /// Replaces the cost map with row-major costs (each finite and `>= 1.0`).
    pub fn with_costs(mut self, costs: Vec<f32>) -> Result<Self, GridError> {
        if costs.len() != self.passable.len() {
            return Err(GridError::LengthMismatch {
                what: "cost map",
                expected: self.passable.len(),
                found: costs.len(),
            });
        }
        let mut min_cost = f32::INFINITY;
        for (i, &cost) in costs.iter().enumerate() {
            let (x, y) = self.cell_of(i);
            validate_cost(x, y, cost)?;
            min_cost = min_cost.min(cost);
        }
        self.costs = Some(costs);
        self.min_cost = min_cost;
        Ok(self)
    }

    /// Number of columns.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Number of rows.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// `width * height`.
    pub fn cell_count(&self) -> usize {
        self.passable.len()
    }

    /// Whether `cell` lies inside the grid.
    pub fn contains(&self, cell: Cell) -> bool {
        cell.0 < self.width && cell.1 < self.height
    }

    /// Row-major index of `cell`, or `None` outside the grid.
    pub fn index_of(&self, cell: Cell) -> Option<usize> {
        self.contains(cell)
            .then(|| cell.1 as usize * self.width as usize + cell.0 as usize)
    }

    /// The cell at row-major `index`, or `None` past the end.
    pub fn cell_at(&self, index: usize) -> Option<Cell> {
        (index < self.passable.len()).then(|| self.cell_of(index))
    }

    /// Whether `cell` can be entered; `false` outside the grid.
    pub fn is_passable(&self, cell: Cell) -> bool {
        self.index_of(cell).is_some_and(|i| self.passable[i])
    }

    /// Marks `cell` passable or blocked.
    pub fn set_passable(&mut self, cell: Cell, passable: bool) -> Result<(), GridError> {
        let i = self.checked_index(cell)?;
        self.passable[i] = passable;
        Ok(())
    }

    /// Traversal cost of entering `cell` orthogonally (1.0 without a cost map), `None` outside.
    pub fn cost(&self, cell: Cell) -> Option<f32> {
        self.index_of(cell).map(|i| self.cost_at(i))
    }

    /// Sets the traversal cost of `cell` (finite, `>= 1.0`), creating a unit cost map if needed.
    pub fn set_cost(&mut self, cell: Cell, cost: f32) -> Result<(), GridError> {
        let i = self.checked_index(cell)?;
        validate_cost(cell.0, cell.1, cost)?;
        let n = self.passable.len();
        let costs = self.costs.get_or_insert_with(|| vec![1.0; n]);
        let old = costs[i];
        costs[i] = cost;
        if cost < self.min_cost {
            self.min_cost = cost;
        } else if old == self.min_cost && cost > old {
            self.min_cost = costs.iter().copied().fold(f32::INFINITY, f32::min);
        }
        Ok(())
    }

    /// Smallest traversal cost of any cell (1.0 without a cost map).
    pub fn min_cost(&self) -> f32 {
        self.min_cost
    }

    /// Cost of one legal move from `from` to the adjacent cell `to`, or `None` if the move is
    /// not legal now (not adjacent under `connectivity`, `to` blocked or outside, or a diagonal
    /// cutting a blocked corner). `from`'s own passability is not checked.
    pub fn step_cost(&self, from: Cell, to: Cell, connectivity: Connectivity) -> Option<f64> {
        if !self.contains(from) || !self.is_passable(to) {
            return None;
        }
        let dx = from.0.abs_diff(to.0);
        let dy = from.1.abs_diff(to.1);
        let cost = f64::from(self.cost(to)?);
        match (dx, dy) {
            (1, 0) | (0, 1) => Some(cost),
            (1, 1) if connectivity == Connectivity::Eight => {
                let corners_open =
                    self.is_passable((to.0, from.1)) && self.is_passable((from.0, to.1));
                corners_open.then_some(SQRT_2 * cost)
            }
            _ => None,
        }
    }

    /// The admissible and consistent A* estimate from `from` to `to`: Manhattan (four-connected)
    /// or octile (eight-connected) distance times [`GridMap::min_cost`].
    pub fn heuristic(&self, from: Cell, to: Cell, connectivity: Connectivity) -> f64 {
        let dx = f64::from(from.0.abs_diff(to.0));
        let dy = f64::from(from.1.abs_diff(to.1));
        let steps = match connectivity {
            Connectivity::Four => dx + dy,
            Connectivity::Eight => dx.max(dy) + (SQRT_2 - 1.0) * dx.min(dy),
        };
        steps * f64::from(self.min_cost)
    }

    fn cell_of(&self, index: usize) -> Cell {
        let w = self.width as usize;
        ((index % w) as u32, (index / w) as u32)
    }

    fn cost_at(&self, index: usize) -> f32 {
        self.costs.as_ref().map_or(1.0, |c| c[index])
    }

    fn checked_index(&self, cell: Cell) -> Result<usize, GridError> {
        self.index_of(cell).ok_or(GridError::OutOfBounds {
            x: cell.0,
            y: cell.1,
            width: self.width,
            height: self.height,
        })
    }
}

fn checked_cell_count(width: u32, height: u32) -> Result<usize, GridError> {
    let n = u64::from(width) * u64::from(height);
    if width == 0 || height == 0 || n >= u64::from(NO_PARENT) {
        return Err(GridError::InvalidSize { width, height });
    }
    usize::try_from(n).map_err(|_| GridError::InvalidSize { width, height })
}

fn validate_cost(x: u32, y: u32, cost: f32) -> Result<(), GridError> {
    if cost.is_finite() && cost >= 1.0 {
        Ok(())
    } else {
        Err(GridError::InvalidCost { x, y, cost })
    }
}

/// A path found on a grid: every cell from start to goal inclusive, and its total cost.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GridPath {
    /// Cells from start to goal; consecutive cells are one legal move apart.
    pub cells: Vec<Cell>,
    /// Sum of the step costs (0.0 when start equals goal).
    pub cost: f64,
}

/// Neighbour offsets: orthogonal first so that, at equal priority, straight moves are
/// discovered before diagonal ones (only relevant to which of several equal parents is kept).
const ORTHOGONAL: [(i32, i32); 4] = [(0, -1), (1, 0), (0, 1), (-1, 0)];
const DIAGONAL: [(i32, i32); 4] = [(1, -1), (1, 1), (-1, 1), (-1, -1)];
/// For each diagonal, the indices in `ORTHOGONAL` of the two sides it passes between.
const DIAGONAL_SIDES: [(usize, usize); 4] = [(1, 0), (1, 2), (3, 2), (3, 0)];

/// Open-list entry. `Ord` is arranged so that `BinaryHeap` (a max-heap) pops the lowest `f`,
/// then the highest `g` (deeper nodes first, which shortens ties on open grids), then the
/// lowest cell index. `f` and `g` are stored as their IEEE bit patterns: both are finite and
/// non-negative, where bit order equals numeric order, and integer comparison is markedly
/// cheaper in the heap, which dominates the search time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OpenEntry {
    f_bits: u64,
    g_bits: u64,
    index: u32,
}

impl OpenEntry {
    fn new(f: f64, g: f64, index: u32) -> Self {
        Self {
            f_bits: f.to_bits(),
            g_bits: g.to_bits(),
            index,
        }
    }

    fn g(&self) -> f64 {
        f64::from_bits(self.g_bits)
    }
}

impl Ord for OpenEntry {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .f_bits
            .cmp(&self.f_bits)
            .then(self.g_bits.cmp(&other.g_bits))
            .then(other.index.cmp(&self.index))
    }
}

impl PartialOrd for OpenEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Per-cell search state. `stamp == generation` means seen (open) this query,
/// `generation + 1` means closed, anything lower means untouched: one field serves as both seen
/// and closed sets and makes clearing between queries O(1).
#[derive(Debug, Clone, Copy)]
struct CellRecord {
    stamp: u32,
    parent: u32,
    g: f64,
}

/// Reusable memory for [`astar`]: per-cell arrays invalidated in O(1) by a generation stamp, and
/// the open heap. After the first query on a map size, further queries allocate nothing (except
/// the returned path in [`astar`]; [`astar_into`] reuses the caller's buffer).
#[derive(Debug, Clone, Default)]
pub struct AstarScratch {
    /// One record per cell, kept together so that relaxing a neighbour touches one cache line.
    cells: Vec<CellRecord>,
    open: BinaryHeap<OpenEntry>,
    generation: u32,
    expanded: usize,
}

impl AstarScratch {
    /// Empty scratch; arrays grow on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of nodes expanded by the most recent query (a cost measure for tests and tuning).
    pub fn last_expanded(&self) -> usize {
        self.expanded
    }

    fn begin(&mut self, cells: usize) {
        if self.cells.len() != cells {
            self.cells.clear();
            self.cells.resize(
                cells,
                CellRecord {
                    stamp: 0,
                    parent: NO_PARENT,
                    g: 0.0,
                },
            );
            self.generation = 0;
        }
        if self.generation >= u32::MAX - 2 {
            self.cells.iter_mut().for_each(|c| c.stamp = 0);
            self.generation = 0;
        }
        self.generation += 2;
        self.open.clear();
        self.expanded = 0;
    }
}

/// Finds a least-cost path from `start` to `goal`, or `None` when either is outside the grid,
/// `goal` is blocked, or no path exists. Ties between equal-cost paths are broken by the fixed
/// open-list order (lowest `f`, then highest `g`, then lowest cell index), so results are
/// reproducible.
pub fn astar(
    map: &GridMap,
    start: Cell,
    goal: Cell,
    connectivity: Connectivity,
    scratch: &mut AstarScratch,
) -> Option<GridPath> {
    let mut cells = Vec::new();
    let cost = astar_into(map, start, goal, connectivity, scratch, &mut cells)?;
    Some(GridPath { cells, cost })
}

/// [`astar`] writing the path into `out` (cleared first; left empty on failure) and returning
/// its cost, so that repeated queries allocate nothing once `out` has grown.
pub fn astar_into(
    map: &GridMap,
    start: Cell,
    goal: Cell,
    connectivity: Connectivity,
    scratch: &mut AstarScratch,
    out: &mut Vec<Cell>,
) -> Option<f64> {
    astar_avoiding(
        map,
        start,
        goal,
        connectivity,
        scratch,
        out,
        |_| false,
        usize::MAX,
    )
}

/// [`astar_into`] that also treats the cells for which `avoid` is true as blocked (the goal
/// excepted), for planning around other agents, and gives up (`None`) after expanding
/// `max_expanded` cells.
#[expect(
    clippy::too_many_arguments,
    reason = "the plain search's arguments plus the two that narrow it"
)]
pub fn astar_avoiding(
    map: &GridMap,
    start: Cell,
    goal: Cell,
    connectivity: Connectivity,
    scratch: &mut AstarScratch,
    out: &mut Vec<Cell>,
    avoid: impl Fn(Cell) -> bool,
    max_expanded: usize,
) -> Option<f64> {
    out.clear();
    let limits = Limits {
        avoid,
        max_expanded,
    };
    match &map.costs {
        None => astar_impl(
            map,
            start,
            goal,
            connectivity,
            scratch,
            out,
            |_| 1.0,
            &limits,
        ),
        Some(costs) => astar_impl(
            map,
            start,
            goal,
            connectivity,
            scratch,
            out,
            |i| f64::from(costs[i]),
            &limits,
        ),
    }
}

struct Limits<A> {
    avoid: A,
    max_expanded: usize,
}

/// Monomorphised per cost source so the unit-cost case pays no per-step branch or load.
#[expect(
    clippy::too_many_arguments,
    reason = "one private body behind the public entry points"
)]
fn astar_impl<A: Fn(Cell) -> bool>(
    map: &GridMap,
    start: Cell,
    goal: Cell,
    connectivity: Connectivity,
    scratch: &mut AstarScratch,
    out: &mut Vec<Cell>,
    cost_of: impl Fn(usize) -> f64,
    limits: &Limits<A>,
) -> Option<f64> {
    let start_i = map.index_of(start)?;
    let goal_i = map.index_of(goal)?;
    if !map.passable[goal_i] {
        return None;
    }
    scratch.begin(map.cell_count());
    let open_mark = scratch.generation;
    let closed_mark = open_mark + 1;
    let w = map.width as i64;
    let h = map.height as i64;
    let (gx, gy) = (i64::from(goal.0), i64::from(goal.1));
    let min_cost = f64::from(map.min_cost);
    let heuristic = |x: i64, y: i64| -> f64 {
        let dx = (x - gx).abs() as f64;
        let dy = (y - gy).abs() as f64;
        let steps = match connectivity {
            Connectivity::Four => dx + dy,
            Connectivity::Eight => dx.max(dy) + (SQRT_2 - 1.0) * dx.min(dy),
        };
        steps * min_cost
    };

    scratch.cells[start_i] = CellRecord {
        stamp: open_mark,
        parent: NO_PARENT,
        g: 0.0,
    };
    let (sx, sy) = (i64::from(start.0), i64::from(start.1));
    scratch
        .open
        .push(OpenEntry::new(heuristic(sx, sy), 0.0, start_i as u32));

    while let Some(entry) = scratch.open.pop() {
        let i = entry.index as usize;
        if scratch.cells[i].stamp == closed_mark {
            continue;
        }
        scratch.cells[i].stamp = closed_mark;
        scratch.expanded += 1;
        if scratch.expanded > limits.max_expanded {
            return None;
        }
        if i == goal_i {
            let mut at = entry.index;
            while at != NO_PARENT {
                out.push(map.cell_of(at as usize));
                at = scratch.cells[at as usize].parent;
            }
            out.reverse();
            return Some(entry.g());
        }
        let x = i as i64 % w;
        let y = i as i64 / w;
        let relax = |nx: i64, ny: i64, step: f64, scratch: &mut AstarScratch| {
            let n = (ny * w + nx) as usize;
            let record = &mut scratch.cells[n];
            if record.stamp == closed_mark {
                return;
            }
            let g = entry.g() + step * cost_of(n);
            if record.stamp == open_mark && g >= record.g {
                return;
            }
            *record = CellRecord {
                stamp: open_mark,
                parent: entry.index,
                g,
            };
            scratch
                .open
                .push(OpenEntry::new(g + heuristic(nx, ny), g, n as u32));
        };
        let open_at = |nx: i64, ny: i64| -> bool {
            nx >= 0
                && ny >= 0
                && nx < w
                && ny < h
                && map.passable[(ny * w + nx) as usize]
                && ((ny * w + nx) as usize == goal_i || !(limits.avoid)((nx as u32, ny as u32)))
        };
        let mut side_open = [false; 4];
        for (k, (dx, dy)) in ORTHOGONAL.into_iter().enumerate() {
            let (nx, ny) = (x + i64::from(dx), y + i64::from(dy));
            side_open[k] = open_at(nx, ny);
            if side_open[k] {
                relax(nx, ny, 1.0, scratch);
            }
        }
        if connectivity == Connectivity::Eight {
            for ((dx, dy), (a, b)) in DIAGONAL.into_iter().zip(DIAGONAL_SIDES) {
                let (nx, ny) = (x + i64::from(dx), y + i64::from(dy));
                if side_open[a] && side_open[b] && open_at(nx, ny) {
                    relax(nx, ny, SQRT_2, scratch);
                }
            }
        }
    }
    None
}

/// Least cost from `source` to every cell by plain Dijkstra (no heuristic), row-major, with
/// `f64::INFINITY` for unreachable cells. A brute-force reference for [`astar`], and a distance
/// field for callers that need all costs from one cell at once. Returns `None` if `source` is
/// outside the grid.
pub fn distance_field(map: &GridMap, source: Cell, connectivity: Connectivity) -> Option<Vec<f64>> {
    let source_i = map.index_of(source)?;
    let mut dist = vec![f64::INFINITY; map.cell_count()];
    let mut heap = BinaryHeap::new();
    dist[source_i] = 0.0;
    heap.push(OpenEntry::new(0.0, 0.0, source_i as u32));
    while let Some(entry) = heap.pop() {
        let (g, i) = (entry.g(), entry.index as usize);
        if g > dist[i] {
            continue;
        }
        let from = map.cell_of(i);
        for next in neighbours(map, from) {
            if let Some(step) = map.step_cost(from, next, connectivity) {
                let j = map.index_of(next).unwrap_or(i);
                let candidate = g + step;
                if candidate < dist[j] {
                    dist[j] = candidate;
                    heap.push(OpenEntry::new(candidate, candidate, j as u32));
                }
            }
        }
    }
    Some(dist)
}

/// The up-to-eight in-bounds cells around `cell` (legality is decided by `step_cost`).
fn neighbours(map: &GridMap, cell: Cell) -> impl Iterator<Item = Cell> + '_ {
    ORTHOGONAL
        .into_iter()
        .chain(DIAGONAL)
        .filter_map(move |(dx, dy)| {
            let x = cell.0.checked_add_signed(dx)?;
            let y = cell.1.checked_add_signed(dy)?;
            map.contains((x, y)).then_some((x, y))
        })
}

/// What [`PathFollower::advance`] did this step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FollowStep {
    /// Stepped along the existing path onto this cell.
    Moved(Cell),
    /// The next step was blocked; a new path was planned and its first step taken onto this
    /// cell.
    Replanned(Cell),
    /// Already at the goal; nothing to do.
    Arrived,
    /// The next step is blocked and no path to the goal exists now; the follower stays put and
    /// keeps its old path so that it can resume if the obstruction clears.
    Blocked,
}

/// A path plus a cursor: steps along a planned path and replans from the current cell when the
/// way ahead becomes blocked. Replanning reuses an internal buffer, so following and replanning
/// allocate nothing once buffers have grown.
#[derive(Debug, Clone, PartialEq)]
pub struct PathFollower {
    path: GridPath,
    cursor: usize,
    spare: Vec<Cell>,
}

impl PathFollower {
    /// Starts following `path` at its first cell; `None` if the path has no cells.
    pub fn new(path: GridPath) -> Option<Self> {
        (!path.cells.is_empty()).then_some(Self {
            path,
            cursor: 0,
            spare: Vec::new(),
        })
    }

    /// The path being followed (replaced by [`PathFollower::replan`]; its `cost` is the cost of
    /// the whole path, not what remains).
    pub fn path(&self) -> &GridPath {
        &self.path
    }

    /// The cell the follower is on.
    pub fn current(&self) -> Cell {
        self.path.cells[self.cursor]
    }

    /// The final cell of the path.
    pub fn goal(&self) -> Cell {
        self.path.cells[self.path.cells.len() - 1]
    }

    /// The next cell, or `None` at the goal.
    pub fn peek(&self) -> Option<Cell> {
        self.path.cells.get(self.cursor + 1).copied()
    }

    /// Cells from the current one to the goal, inclusive.
    pub fn remaining(&self) -> &[Cell] {
        &self.path.cells[self.cursor..]
    }

    /// Whether the current cell is the goal.
    pub fn is_finished(&self) -> bool {
        self.cursor + 1 == self.path.cells.len()
    }

    /// Moves the cursor one cell and returns the new current cell, or `None` at the goal. Does
    /// not look at the map: pair with [`PathFollower::is_blocked`] or use
    /// [`PathFollower::advance`].
    pub fn next_step(&mut self) -> Option<Cell> {
        let next = self.peek()?;
        self.cursor += 1;
        Some(next)
    }

    /// Whether the next step is no longer a legal move on `map` (its cell became blocked, or a
    /// diagonal step now cuts a blocked corner). `false` at the goal.
    pub fn is_blocked(&self, map: &GridMap) -> bool {
        self.blocked_within(map, 1)
    }

    /// Whether any of the next `lookahead` steps is no longer legal on `map`, for callers that
    /// prefer to replan before reaching an obstruction. Each step is judged by its own shape
    /// (orthogonal or diagonal), so no connectivity is needed.
    pub fn blocked_within(&self, map: &GridMap, lookahead: usize) -> bool {
        self.path.cells[self.cursor..]
            .windows(2)
            .take(lookahead)
            .any(|pair| {
                map.step_cost(pair[0], pair[1], Connectivity::Eight)
                    .is_none()
            })
    }

    /// Plans a fresh path from the current cell to the goal and follows it from its start.
    /// Returns the new path's cost, or `None` (keeping the old path) if the goal is unreachable.
    pub fn replan(
        &mut self,
        map: &GridMap,
        connectivity: Connectivity,
        scratch: &mut AstarScratch,
    ) -> Option<f64> {
        let cost = astar_into(
            map,
            self.current(),
            self.goal(),
            connectivity,
            scratch,
            &mut self.spare,
        )?;
        std::mem::swap(&mut self.path.cells, &mut self.spare);
        self.path.cost = cost;
        self.cursor = 0;
        Some(cost)
    }

    /// Takes one step: along the path if the next step is still legal, otherwise after
    /// replanning from the current cell.
    pub fn advance(
        &mut self,
        map: &GridMap,
        connectivity: Connectivity,
        scratch: &mut AstarScratch,
    ) -> FollowStep {
        if self.is_finished() {
            return FollowStep::Arrived;
        }
        if !self.is_blocked(map) {
            return self
                .next_step()
                .map_or(FollowStep::Arrived, FollowStep::Moved);
        }
        if self.replan(map, connectivity, scratch).is_none() {
            return FollowStep::Blocked;
        }
        self.next_step()
            .map_or(FollowStep::Arrived, FollowStep::Replanned)
    }
}

/// A path through space and time: the agent is at `cells[k]` at tick `start_tick + k`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TimedPath {
    /// Tick at which the agent stands on `cells[0]`.
    pub start_tick: u64,
    /// One cell per tick; consecutive cells are equal (a wait) or one legal move apart.
    pub cells: Vec<Cell>,
    /// Sum of move and wait costs.
    pub cost: f64,
}

impl TimedPath {
    /// Tick at which the agent reaches the last cell.
    pub fn arrival_tick(&self) -> u64 {
        self.start_tick
            .saturating_add(self.cells.len().saturating_sub(1) as u64)
    }

    /// Where the agent is at `tick`: `None` before `start_tick` or for an empty path, the last
    /// cell after arrival (agents stay at their goal).
    pub fn cell_at(&self, tick: u64) -> Option<Cell> {
        let offset = usize::try_from(tick.checked_sub(self.start_tick)?).unwrap_or(usize::MAX);
        self.cells.get(offset).or(self.cells.last()).copied()
    }
}

/// Parameters of a [`astar_spacetime`] query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpaceTimeQuery {
    /// Cell occupied at `start_tick`.
    pub start: Cell,
    /// Cell to reach and then stay on.
    pub goal: Cell,
    /// Tick of the first path entry.
    pub start_tick: u64,
    /// Planning horizon: the goal must be reached by `start_tick + max_ticks`, and the search
    /// never considers later ticks, which is what bounds it when the goal is unreachable.
    pub max_ticks: u32,
    /// Move set. Every action (move or wait) takes exactly one tick.
    pub connectivity: Connectivity,
}

#[derive(Debug, Clone, Copy)]
struct SpaceTimeNode {
    cell: u32,
    g: f64,
    parent: u32,
    closed: bool,
}

/// Open-list entry for space-time search: lowest `f`, then highest `g`, then earliest tick, then
/// lowest cell index, then lowest node id (fully determined by the previous keys, kept so that
/// the order is total).
#[derive(Debug, Clone, Copy)]
struct SpaceTimeEntry {
    f: f64,
    g: f64,
    offset: u32,
    cell: u32,
    node: u32,
}

impl Ord for SpaceTimeEntry {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .f
            .total_cmp(&self.f)
            .then_with(|| self.g.total_cmp(&other.g))
            .then_with(|| other.offset.cmp(&self.offset))
            .then_with(|| other.cell.cmp(&self.cell))
            .then_with(|| other.node.cmp(&self.node))
    }
}

impl PartialOrd for SpaceTimeEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for SpaceTimeEntry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for SpaceTimeEntry {}

/// Reusable memory for [`astar_spacetime`]. The time-expanded state space is too large for
/// dense arrays (cells times ticks), so states live in an arena indexed by a hash map that is
/// only looked up, never iterated, keeping results independent of hash order.
#[derive(Debug, Clone, Default)]
pub struct SpaceTimeScratch {
    nodes: Vec<SpaceTimeNode>,
    index: HashMap<u64, u32>,
    open: BinaryHeap<SpaceTimeEntry>,
}

impl SpaceTimeScratch {
    /// Empty scratch; storage grows on first use and is kept between queries.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of time-expanded states created by the most recent query.
    pub fn last_states(&self) -> usize {
        self.nodes.len()
    }
}

/// Space-time A* for prioritised multi-agent path finding. Finds a least-cost timed path from
/// `query.start` at `query.start_tick` to `query.goal`, where each tick the agent either moves
/// to a neighbour (cost as in [`astar`]) or waits (cost: the traversal cost of the cell it
/// waits on).
///
/// - `reserved(cell, tick)` forbids standing on `cell` at `tick` (the start state is exempt).
/// - `edge_reserved(from, to, tick)` forbids moving from `from` at `tick` to `to` at `tick + 1`
///   (not consulted for waits, which `reserved` already covers); callers forbid swaps by
///   reserving the reverse of every move other agents make.
/// - The goal counts as reached at tick `t` only if `reserved(goal, t')` is false for every
///   `t'` in `t + 1 ..= start_tick + max_ticks`, so the agent can stay there.
///
/// Returns `None` if the start or goal is outside the grid, the goal is blocked, or no such path
/// exists within the horizon. Ties are broken by a fixed order (see the open-list rule: lowest
/// `f`, highest `g`, earliest tick, lowest cell index), so results are reproducible.
pub fn astar_spacetime(
    map: &GridMap,
    query: &SpaceTimeQuery,
    reserved: impl Fn(Cell, u64) -> bool,
    edge_reserved: impl Fn(Cell, Cell, u64) -> bool,
    scratch: &mut SpaceTimeScratch,
) -> Option<TimedPath> {
    let start_i = map.index_of(query.start)?;
    let goal_i = map.index_of(query.goal)?;
    if !map.passable[goal_i] {
        return None;
    }
    let SpaceTimeScratch { nodes, index, open } = scratch;
    nodes.clear();
    index.clear();
    open.clear();
    let key = |cell: u32, offset: u32| (u64::from(offset) << 32) | u64::from(cell);
    // Saturating: a start tick near `u64::MAX` must not panic; such horizons are meaningless
    // anyway and merely stop advancing.
    let tick_of = |offset: u32| query.start_tick.saturating_add(u64::from(offset));
    let goal_free_after = |offset: u32| {
        (offset..query.max_ticks).all(|before| !reserved(query.goal, tick_of(before + 1)))
    };

    nodes.push(SpaceTimeNode {
        cell: start_i as u32,
        g: 0.0,
        parent: NO_PARENT,
        closed: false,
    });
    index.insert(key(start_i as u32, 0), 0);
    open.push(SpaceTimeEntry {
        f: map.heuristic(query.start, query.goal, query.connectivity),
        g: 0.0,
        offset: 0,
        cell: start_i as u32,
        node: 0,
    });

    while let Some(entry) = open.pop() {
        let node_id = entry.node as usize;
        if nodes[node_id].closed {
            continue;
        }
        nodes[node_id].closed = true;
        let here = map.cell_of(entry.cell as usize);
        if entry.cell as usize == goal_i && goal_free_after(entry.offset) {
            let mut cells = Vec::with_capacity(entry.offset as usize + 1);
            let mut at = entry.node;
            while at != NO_PARENT {
                let node = nodes[at as usize];
                cells.push(map.cell_of(node.cell as usize));
                at = node.parent;
            }
            cells.reverse();
            return Some(TimedPath {
                start_tick: query.start_tick,
                cells,
                cost: entry.g,
            });
        }
        if entry.offset >= query.max_ticks {
            continue;
        }
        let next_offset = entry.offset + 1;
        let now = tick_of(entry.offset);
        let wait = std::iter::once(here);
        for next in wait.chain(neighbours(map, here)) {
            let step = if next == here {
                f64::from(map.cost_at(entry.cell as usize))
            } else {
                match map.step_cost(here, next, query.connectivity) {
                    Some(step) => step,
                    None => continue,
                }
            };
            if reserved(next, now.saturating_add(1))
                || (next != here && edge_reserved(here, next, now))
            {
                continue;
            }
            let next_i = map.index_of(next).unwrap_or(entry.cell as usize) as u32;
            let g = entry.g + step;
            let slot = match index.get(&key(next_i, next_offset)) {
                Some(&id) => {
                    let node = &mut nodes[id as usize];
                    if node.closed || g >= node.g {
                        continue;
                    }
                    node.g = g;
                    node.parent = entry.node;
                    id
                }
                None => {
                    let id = nodes.len() as u32;
                    nodes.push(SpaceTimeNode {
                        cell: next_i,
                        g,
                        parent: entry.node,
                        closed: false,
                    });
                    index.insert(key(next_i, next_offset), id);
                    id
                }
            };
            open.push(SpaceTimeEntry {
                f: g + map.heuristic(next, query.goal, query.connectivity),
                g,
                offset: next_offset,
                cell: next_i,
                node: slot,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    const EPS: f64 = 1e-9;

    fn parse(rows: &[&str]) -> GridMap {
        let width = rows[0].len() as u32;
        let passable = rows
            .iter()
            .flat_map(|r| r.chars().map(|c| c != '#'))
            .collect();
        GridMap::from_passable(width, rows.len() as u32, passable).unwrap()
    }

    /// Unit-cost four-connected breadth-first search: an independent check of step counts.
    fn bfs_steps(map: &GridMap, start: Cell, goal: Cell) -> Option<usize> {
        let mut dist = vec![usize::MAX; map.cell_count()];
        let mut queue = VecDeque::new();
        dist[map.index_of(start)?] = 0;
        queue.push_back(start);
        while let Some(c) = queue.pop_front() {
            let d = dist[map.index_of(c)?];
            if c == goal {
                return Some(d);
            }
            for n in neighbours(map, c) {
                let j = map.index_of(n)?;
                if map.step_cost(c, n, Connectivity::Four).is_some() && dist[j] == usize::MAX {
                    dist[j] = d + 1;
                    queue.push_back(n);
                }
            }
        }
        None
    }

    fn assert_valid(map: &GridMap, path: &GridPath, start: Cell, goal: Cell, conn: Connectivity) {
        assert_eq!(path.cells.first(), Some(&start));
        assert_eq!(path.cells.last(), Some(&goal));
        let mut total = 0.0;
        for pair in path.cells.windows(2) {
            let step = map.step_cost(pair[0], pair[1], conn);
            assert!(
                step.is_some(),
                "illegal step {:?} -> {:?}",
                pair[0],
                pair[1]
            );
            total += step.unwrap_or(0.0);
        }
        assert!(
            (total - path.cost).abs() < EPS,
            "sum {total} vs reported {}",
            path.cost
        );
    }

    #[test]
    fn open_grid_costs_are_manhattan_and_octile() {
        let map = GridMap::new(10, 7).unwrap();
        let mut scratch = AstarScratch::new();
        let four = astar(&map, (0, 0), (9, 6), Connectivity::Four, &mut scratch).unwrap();
        assert_eq!(four.cost, 15.0);
        assert_eq!(four.cells.len(), 16);
        let eight = astar(&map, (0, 0), (9, 6), Connectivity::Eight, &mut scratch).unwrap();
        assert!((eight.cost - (3.0 + 6.0 * SQRT_2)).abs() < EPS);
        assert_valid(&map, &eight, (0, 0), (9, 6), Connectivity::Eight);
    }

    #[test]
    fn no_corner_cutting() {
        // The only diagonal from (0,0) to (1,1) squeezes between two walls.
        let map = parse(&[".#", "#."]);
        let mut scratch = AstarScratch::new();
        assert_eq!(
            astar(&map, (0, 0), (1, 1), Connectivity::Eight, &mut scratch),
            None
        );
        // One open corner is not enough either.
        let map = parse(&["..", "#."]);
        let path = astar(&map, (0, 0), (1, 1), Connectivity::Eight, &mut scratch).unwrap();
        assert_eq!(path.cells, vec![(0, 0), (1, 0), (1, 1)]);
        assert_eq!(path.cost, 2.0);
    }

    #[test]
    fn wall_detour_and_unreachable() {
        let map = parse(&["...#...", ".#.#.#.", ".#...#.", ".#####."]);
        let mut scratch = AstarScratch::new();
        let path = astar(&map, (0, 0), (6, 0), Connectivity::Four, &mut scratch).unwrap();
        // Down column 2, along row 2, up column 4: the walls force 4 extra steps.
        assert_eq!(path.cost, 10.0);
        assert_eq!(bfs_steps(&map, (0, 0), (6, 0)), Some(10));
        let walled = parse(&["..#..", "..#..", "..#.."]);
        assert_eq!(
            astar(&walled, (0, 0), (4, 2), Connectivity::Eight, &mut scratch),
            None
        );
        assert_eq!(
            astar(&walled, (0, 0), (2, 0), Connectivity::Four, &mut scratch),
            None
        );
        assert_eq!(
            astar(&walled, (0, 0), (9, 0), Connectivity::Four, &mut scratch),
            None
        );
    }

    #[test]
    fn start_equals_goal_and_blocked_start() {
        let mut map = GridMap::new(3, 3).unwrap();
        let mut scratch = AstarScratch::new();
        let path = astar(&map, (1, 1), (1, 1), Connectivity::Four, &mut scratch).unwrap();
        assert_eq!(
            path,
            GridPath {
                cells: vec![(1, 1)],
                cost: 0.0
            }
        );
        map.set_passable((1, 1), false).unwrap();
        let path = astar(&map, (1, 1), (2, 1), Connectivity::Four, &mut scratch).unwrap();
        assert_eq!(path.cost, 1.0);
    }

    #[test]
    fn cost_map_prefers_cheap_detour() {
        // A swamp column costs 6 per cell: straight through is 1 + 6 + 1 + 1 = 9, around
        // through row 0 is 8 unit steps.
        let mut map = GridMap::new(5, 3).unwrap();
        for y in 1..3 {
            map.set_cost((2, y), 6.0).unwrap();
        }
        let mut scratch = AstarScratch::new();
        let path = astar(&map, (0, 2), (4, 2), Connectivity::Four, &mut scratch).unwrap();
        assert_eq!(path.cost, 8.0);
        assert!(path.cells.contains(&(2, 0)));
        assert_eq!(map.min_cost(), 1.0);
    }

    #[test]
    fn min_cost_tracks_edits() {
        let map = GridMap::new(2, 1)
            .unwrap()
            .with_costs(vec![2.0, 3.0])
            .unwrap();
        assert_eq!(map.min_cost(), 2.0);
        let mut map = map;
        map.set_cost((0, 0), 4.0).unwrap();
        assert_eq!(map.min_cost(), 3.0);
        map.set_cost((1, 0), 1.5).unwrap();
        assert_eq!(map.min_cost(), 1.5);
    }

    #[test]
    fn invalid_inputs_are_typed_errors() {
        assert_eq!(
            GridMap::new(0, 3),
            Err(GridError::InvalidSize {
                width: 0,
                height: 3
            })
        );
        assert!(matches!(
            GridMap::from_passable(2, 2, vec![true; 3]),
            Err(GridError::LengthMismatch {
                expected: 4,
                found: 3,
                ..
            })
        ));
        let mut map = GridMap::new(2, 2).unwrap();
        let err = map.set_cost((1, 0), 0.5).unwrap_err();
        assert_eq!(
            err,
            GridError::InvalidCost {
                x: 1,
                y: 0,
                cost: 0.5
            }
        );
        assert!(err.to_string().contains("expected a finite value >= 1.0"));
        assert!(map.set_cost((0, 0), f32::NAN).is_err());
        assert!(matches!(
            map.set_passable((2, 0), false),
            Err(GridError::OutOfBounds { .. })
        ));
        assert!(
            GridMap::new(2, 2)
                .unwrap()
                .with_costs(vec![1.0, 1.0, 0.0, 1.0])
                .is_err()
        );
    }

    #[test]
    fn scratch_survives_generation_wrap_and_resizes() {
        let map = parse(&["....", ".##.", "...."]);
        let mut scratch = AstarScratch::new();
        let first = astar(&map, (0, 0), (3, 2), Connectivity::Four, &mut scratch).unwrap();
        scratch.generation = u32::MAX - 3;
        let wrapped = astar(&map, (0, 0), (3, 2), Connectivity::Four, &mut scratch).unwrap();
        let again = astar(&map, (0, 0), (3, 2), Connectivity::Four, &mut scratch).unwrap();
        assert_eq!(first, wrapped);
        assert_eq!(first, again);
        let big = GridMap::new(9, 9).unwrap();
        let path = astar(&big, (0, 0), (8, 8), Connectivity::Four, &mut scratch).unwrap();
        assert_eq!(path.cost, 16.0);
    }

    #[test]
    fn tie_breaking_is_deterministic_across_scratch_history() {
        let map = GridMap::new(12, 12).unwrap();
        let mut fresh = AstarScratch::new();
        let reference = astar(&map, (0, 0), (11, 11), Connectivity::Four, &mut fresh).unwrap();
        let mut used = AstarScratch::new();
        for k in 0..20 {
            astar(
                &map,
                (k % 12, 0),
                (11 - k % 12, 11),
                Connectivity::Eight,
                &mut used,
            );
        }
        assert_eq!(
            astar(&map, (0, 0), (11, 11), Connectivity::Four, &mut used),
            Some(reference)
        );
    }

    #[test]
    fn heuristic_guides_search() {
        let map = GridMap::new(64, 64).unwrap();
        let mut scratch = AstarScratch::new();
        astar(&map, (0, 0), (63, 0), Connectivity::Four, &mut scratch).unwrap();
        // A straight run on an open grid expands the path and nothing else.
        assert_eq!(scratch.last_expanded(), 64);
    }

    #[test]
    fn follower_replans_around_new_obstacle() {
        let mut map = GridMap::new(5, 3).unwrap();
        let mut scratch = AstarScratch::new();
        let path = astar(&map, (0, 1), (4, 1), Connectivity::Four, &mut scratch).unwrap();
        assert_eq!(path.cells[1], (1, 1));
        let mut follower = PathFollower::new(path).unwrap();
        assert_eq!(
            follower.advance(&map, Connectivity::Four, &mut scratch),
            FollowStep::Moved((1, 1))
        );
        map.set_passable((2, 1), false).unwrap();
        assert!(follower.is_blocked(&map));
        let step = follower.advance(&map, Connectivity::Four, &mut scratch);
        assert!(
            matches!(step, FollowStep::Replanned((1, 0) | (1, 2))),
            "{step:?}"
        );
        assert_eq!(follower.path().cost, 5.0);
        let mut steps = 0;
        while follower.advance(&map, Connectivity::Four, &mut scratch) != FollowStep::Arrived {
            steps += 1;
            assert!(steps < 10);
        }
        assert_eq!(follower.current(), (4, 1));
        assert_eq!(steps, 4);
    }

    #[test]
    fn follower_reports_blocked_and_keeps_path() {
        let mut map = GridMap::new(3, 1).unwrap();
        let mut scratch = AstarScratch::new();
        let path = astar(&map, (0, 0), (2, 0), Connectivity::Four, &mut scratch).unwrap();
        let mut follower = PathFollower::new(path.clone()).unwrap();
        map.set_passable((1, 0), false).unwrap();
        assert_eq!(
            follower.advance(&map, Connectivity::Four, &mut scratch),
            FollowStep::Blocked
        );
        assert_eq!(follower.path(), &path);
        assert_eq!(follower.current(), (0, 0));
        map.set_passable((1, 0), true).unwrap();
        assert_eq!(
            follower.advance(&map, Connectivity::Four, &mut scratch),
            FollowStep::Moved((1, 0))
        );
        assert!(PathFollower::new(GridPath::default()).is_none());
    }

    #[test]
    fn follower_lookahead_sees_distant_block() {
        let mut map = GridMap::new(6, 1).unwrap();
        let mut scratch = AstarScratch::new();
        let path = astar(&map, (0, 0), (5, 0), Connectivity::Four, &mut scratch).unwrap();
        let mut follower = PathFollower::new(path).unwrap();
        map.set_passable((4, 0), false).unwrap();
        assert!(!follower.is_blocked(&map));
        assert!(!follower.blocked_within(&map, 3));
        assert!(follower.blocked_within(&map, 4));
        assert_eq!(follower.next_step(), Some((1, 0)));
        assert_eq!(
            follower.remaining(),
            &[(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]
        );
    }

    fn no_cell(_: Cell, _: u64) -> bool {
        false
    }

    fn no_edge(_: Cell, _: Cell, _: u64) -> bool {
        false
    }

    fn query(start: Cell, goal: Cell, max_ticks: u32, conn: Connectivity) -> SpaceTimeQuery {
        SpaceTimeQuery {
            start,
            goal,
            start_tick: 100,
            max_ticks,
            connectivity: conn,
        }
    }

    #[test]
    fn spacetime_without_reservations_matches_astar() {
        let map = parse(&["....#", ".##.#", "....."]);
        let mut st = SpaceTimeScratch::new();
        let mut scratch = AstarScratch::new();
        for conn in [Connectivity::Four, Connectivity::Eight] {
            let q = query((0, 0), (4, 2), 30, conn);
            let timed = astar_spacetime(&map, &q, no_cell, no_edge, &mut st).unwrap();
            let plain = astar(&map, (0, 0), (4, 2), conn, &mut scratch).unwrap();
            assert!((timed.cost - plain.cost).abs() < EPS);
            assert_eq!(timed.cells.len(), plain.cells.len());
            assert_eq!(timed.start_tick, 100);
            assert_eq!(timed.cell_at(99), None);
            assert_eq!(timed.cell_at(100), Some((0, 0)));
            assert_eq!(timed.cell_at(10_000), Some((4, 2)));
        }
    }

    #[test]
    fn spacetime_waits_for_a_passing_agent() {
        // Corridor: another agent occupies (2,0) at ticks 101 and 102.
        let map = GridMap::new(5, 1).unwrap();
        let reserved = |c: Cell, t: u64| c == (2, 0) && (101..=102).contains(&t);
        let q = query((0, 0), (4, 0), 20, Connectivity::Four);
        let mut st = SpaceTimeScratch::new();
        let path = astar_spacetime(&map, &q, reserved, no_edge, &mut st).unwrap();
        assert_eq!(path.cost, 5.0);
        assert_eq!(path.arrival_tick(), 105);
        for (k, &c) in path.cells.iter().enumerate() {
            assert!(!reserved(c, 100 + k as u64));
        }
    }

    #[test]
    fn spacetime_respects_edge_reservations_and_goal_holding() {
        // Another agent moves (1,0) -> (0,0) at tick 100: swapping with it is forbidden.
        let map = GridMap::new(3, 2).unwrap();
        let edge = |a: Cell, b: Cell, t: u64| t == 100 && a == (0, 0) && b == (1, 0);
        let q = query((0, 0), (1, 0), 10, Connectivity::Four);
        let mut st = SpaceTimeScratch::new();
        let path = astar_spacetime(&map, &q, no_cell, edge, &mut st).unwrap();
        assert_eq!(path.cost, 2.0);
        assert_ne!(path.cells[1], (1, 0));
        // The goal is taken at tick 105: arriving earlier and staying would collide.
        let late = |c: Cell, t: u64| c == (2, 0) && t == 105;
        let q = query((0, 0), (2, 0), 10, Connectivity::Four);
        let path = astar_spacetime(&map, &q, late, no_edge, &mut st).unwrap();
        assert_eq!(path.arrival_tick(), 106);
        assert_eq!(path.cost, 6.0);
        assert_ne!(path.cell_at(105), Some((2, 0)));
        // Horizon too short.
        let q = query((0, 0), (2, 1), 2, Connectivity::Four);
        assert_eq!(astar_spacetime(&map, &q, no_cell, no_edge, &mut st), None);
    }

    #[test]
    fn spacetime_near_tick_limit_does_not_overflow() {
        let map = GridMap::new(3, 1).unwrap();
        let mut st = SpaceTimeScratch::new();
        let q = SpaceTimeQuery {
            start_tick: u64::MAX - 1,
            ..query((0, 0), (2, 0), 5, Connectivity::Four)
        };
        let path = astar_spacetime(&map, &q, no_cell, no_edge, &mut st).unwrap();
        assert_eq!(path.cost, 2.0);
        assert_eq!(path.arrival_tick(), u64::MAX);
    }

    #[test]
    fn prioritised_planning_gives_conflict_free_paths() {
        // Two agents cross in a plus-shaped junction; the second plans around the first.
        let map = parse(&["#.#", "...", "#.#"]);
        let mut st = SpaceTimeScratch::new();
        let q1 = query((0, 1), (2, 1), 10, Connectivity::Four);
        let first = astar_spacetime(&map, &q1, no_cell, no_edge, &mut st).unwrap();
        let cell_res = |c: Cell, t: u64| first.cell_at(t) == Some(c);
        let edge_res = |a: Cell, b: Cell, t: u64| {
            first.cell_at(t) == Some(b) && first.cell_at(t + 1) == Some(a)
        };
        let q2 = query((1, 0), (1, 2), 10, Connectivity::Four);
        let second = astar_spacetime(&map, &q2, cell_res, edge_res, &mut st).unwrap();
        assert_eq!(second.cost, 3.0);
        for t in 100..=110 {
            assert_ne!(first.cell_at(t), second.cell_at(t), "collision at tick {t}");
        }
    }

    /// Layered dynamic programme over ticks: every action takes one tick, so the cheapest way
    /// to be at each cell at tick t+1 follows from tick t alone.
    fn spacetime_brute_force(
        map: &GridMap,
        q: &SpaceTimeQuery,
        reserved: &dyn Fn(Cell, u64) -> bool,
        edge_reserved: &dyn Fn(Cell, Cell, u64) -> bool,
    ) -> Option<f64> {
        let n = map.cell_count();
        let mut layer = vec![f64::INFINITY; n];
        layer[map.index_of(q.start)?] = 0.0;
        let goal_i = map.index_of(q.goal)?;
        let horizon = q.max_ticks as u64;
        let free_after =
            |k: u64| (k + 1..=horizon).all(|later| !reserved(q.goal, q.start_tick + later));
        let mut best = f64::INFINITY;
        for k in 0..=horizon {
            if map.passable[goal_i] && free_after(k) {
                best = best.min(layer[goal_i]);
            }
            let mut next = vec![f64::INFINITY; n];
            for (i, &here) in layer.iter().enumerate() {
                if here.is_infinite() {
                    continue;
                }
                let from = map.cell_of(i);
                let t = q.start_tick + k;
                let wait = (!reserved(from, t + 1)).then(|| (i, f64::from(map.cost_at(i))));
                let moves = neighbours(map, from).filter_map(|to| {
                    let step = map.step_cost(from, to, q.connectivity)?;
                    let ok = !reserved(to, t + 1) && !edge_reserved(from, to, t);
                    ok.then(|| (map.index_of(to).unwrap_or(i), step))
                });
                for (j, step) in wait.into_iter().chain(moves) {
                    next[j] = next[j].min(here + step);
                }
            }
            layer = next;
        }
        best.is_finite().then_some(best)
    }

    fn arb_map(max_side: u32) -> impl Strategy<Value = GridMap> {
        (1..=max_side, 1..=max_side, 0.0..0.45f64, any::<bool>()).prop_flat_map(
            |(w, h, density, weighted)| {
                let n = (w * h) as usize;
                let blocks = proptest::collection::vec(0.0..1.0f64, n);
                let costs = proptest::collection::vec(prop_oneof![Just(1.0f32), 1.0..4.0f32], n);
                (blocks, costs).prop_map(move |(blocks, costs)| {
                    let passable = blocks.iter().map(|&b| b >= density).collect();
                    let map = GridMap::from_passable(w, h, passable).unwrap();
                    if weighted {
                        map.with_costs(costs).unwrap()
                    } else {
                        map
                    }
                })
            },
        )
    }

    fn arb_cell(map: &GridMap) -> impl Strategy<Value = Cell> + use<> {
        (0..map.width(), 0..map.height())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn astar_matches_dijkstra(
            (map, start, goal, eight) in arb_map(14).prop_flat_map(|m| {
                let (s, g) = (arb_cell(&m), arb_cell(&m));
                (Just(m), s, g, any::<bool>())
            })
        ) {
            let conn = if eight { Connectivity::Eight } else { Connectivity::Four };
            let mut scratch = AstarScratch::new();
            let field = distance_field(&map, start, conn).unwrap();
            let expected = field[map.index_of(goal).unwrap()];
            let found = astar(&map, start, goal, conn, &mut scratch);
            match found {
                None => prop_assert!(expected.is_infinite() || !map.is_passable(goal)),
                Some(path) => {
                    prop_assert!((path.cost - expected).abs() < EPS, "{} vs {}", path.cost, expected);
                    assert_valid(&map, &path, start, goal, conn);
                    // Reusing the scratch must not change the answer.
                    let again = astar(&map, start, goal, conn, &mut scratch);
                    prop_assert_eq!(again, Some(path));
                }
            }
            if conn == Connectivity::Four && map.costs.is_none() && map.is_passable(goal) {
                let steps = bfs_steps(&map, start, goal);
                prop_assert_eq!(steps.map(|s| s as f64), expected.is_finite().then_some(expected));
            }
        }

        #[test]
        fn spacetime_matches_layered_brute_force(
            (map, start, goal, eight, res) in arb_map(6).prop_flat_map(|m| {
                let (s, g) = (arb_cell(&m), arb_cell(&m));
                let res = proptest::collection::vec((arb_cell(&m), 0u64..10), 0..12);
                (Just(m), s, g, any::<bool>(), res)
            }),
            edges in proptest::collection::vec((0u32..6, 0u32..6, 0usize..8, 0u64..10), 0..8),
        ) {
            let conn = if eight { Connectivity::Eight } else { Connectivity::Four };
            let q = SpaceTimeQuery { start, goal, start_tick: 50, max_ticks: 12, connectivity: conn };
            let reserved = |c: Cell, t: u64| res.iter().any(|&(rc, rt)| rc == c && rt + 50 == t);
            let offsets = ORTHOGONAL.into_iter().chain(DIAGONAL).collect::<Vec<_>>();
            let edge_reserved = |a: Cell, b: Cell, t: u64| {
                edges.iter().any(|&(x, y, d, et)| {
                    let (dx, dy) = offsets[d];
                    a == (x, y)
                        && Some(b) == x.checked_add_signed(dx).zip(y.checked_add_signed(dy))
                        && et + 50 == t
                })
            };
            let expected = spacetime_brute_force(&map, &q, &reserved, &edge_reserved);
            let mut st = SpaceTimeScratch::new();
            let found = astar_spacetime(&map, &q, reserved, edge_reserved, &mut st);
            match (&found, expected) {
                (None, None) => {}
                (Some(path), Some(cost)) => {
                    prop_assert!((path.cost - cost).abs() < EPS, "{} vs {}", path.cost, cost);
                    prop_assert_eq!(path.cells[0], start);
                    prop_assert_eq!(*path.cells.last().unwrap(), goal);
                    let mut total = 0.0;
                    for (k, pair) in path.cells.windows(2).enumerate() {
                        let t = 50 + k as u64;
                        prop_assert!(!reserved(pair[1], t + 1));
                        prop_assert!(!edge_reserved(pair[0], pair[1], t));
                        total += if pair[0] == pair[1] {
                            f64::from(map.cost(pair[0]).unwrap())
                        } else {
                            map.step_cost(pair[0], pair[1], conn).unwrap()
                        };
                    }
                    prop_assert!((total - path.cost).abs() < EPS);
                }
                _ => prop_assert!(false, "astar {:?} vs brute force {:?}", found, expected),
            }
        }
    }

    #[test]
    fn avoided_cells_force_a_detour_or_no_path_and_the_limit_stops_the_search() {
        let map = parse(&[".....", ".....", "....."]);
        let mut scratch = AstarScratch::new();
        let mut out = Vec::new();
        let four = Connectivity::Four;
        let run = |avoid: &dyn Fn(Cell) -> bool, limit, scratch: &mut AstarScratch, out: &mut _| {
            astar_avoiding(&map, (0, 1), (4, 1), four, scratch, out, avoid, limit)
        };
        assert_eq!(
            run(&|_| false, usize::MAX, &mut scratch, &mut out),
            Some(4.0)
        );
        assert_eq!(
            run(&|c| c == (2, 1), usize::MAX, &mut scratch, &mut out),
            Some(6.0)
        );
        assert!(out.iter().all(|&c| c != (2, 1)));
        assert_eq!(run(&|c| c.0 == 2, usize::MAX, &mut scratch, &mut out), None);
        assert!(out.is_empty());
        // The goal is never avoided.
        assert_eq!(
            run(&|c| c == (4, 1), usize::MAX, &mut scratch, &mut out),
            Some(4.0)
        );
        assert_eq!(run(&|_| false, 3, &mut scratch, &mut out), None);
    }
}
