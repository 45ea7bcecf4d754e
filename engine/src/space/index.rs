//! A uniform-grid spatial index over a continuous space, rebuilt every tick.
//!
//! Rebuilding is a counting sort into compressed rows (`starts[cell]..starts[cell+1]`), so it
//! costs O(agents) and allocates nothing once the buffers have grown. Each item carries a
//! copy of whatever neighbour state the behavior needs (`T`), so a query never touches the ECS
//! and a sensing system reads a consistent snapshot while agents update in parallel.

use super::Space;
use glam::DVec2;
use wide::f64x2;

/// One indexed agent: where it is, who it is, and the snapshot `T` its neighbours may read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridItem<T> {
    /// Position at rebuild time.
    pub pos: DVec2,
    /// The agent's id ([`crate::AgentId`]'s value).
    pub id: u32,
    /// Snapshot payload.
    pub data: T,
}

/// Uniform-grid index with exact radius and nearest-neighbour queries, on a torus or inside
/// walls. Items inside a cell are kept in agent-id order so that iteration order, and hence
/// every floating-point sum over neighbours, is independent of entity storage order.
#[derive(Debug, Clone)]
pub struct UniformGrid<T> {
    torus: bool,
    width: f64,
    height: f64,
    nx: usize,
    ny: usize,
    cell_w: f64,
    cell_h: f64,
    starts: Vec<u32>,
    items: Vec<GridItem<T>>,
    /// Rebuild scratch: each item's destination slot.
    dest: Vec<u32>,
    /// Rebuild scratch: the next free slot of each cell.
    cursor: Vec<u32>,
    /// Rebuild scratch of [`UniformGrid::rebuild_indexed`]: one per part of the input.
    parts: Vec<Part>,
    /// Whether `dest` holds each input item's slot (see [`UniformGrid::input_slots`]).
    dest_is_slots: bool,
}

/// One part of the input of [`UniformGrid::rebuild_indexed`].
#[derive(Debug, Clone, Default)]
struct Part {
    /// The part's items per cell, then the part's next free slot in each cell.
    counts: Vec<u32>,
    /// The part's items per range of cells (the ranges the cursors are placed by).
    range_counts: Vec<u32>,
    /// Whether ids ascend within the part.
    sorted: bool,
    /// The part's first and last ids.
    first: u32,
    last: u32,
}

/// Items read by position, for [`UniformGrid::rebuild_indexed`]. Implementations should
/// mark `get` `#[inline(always)]`: the rebuild's loops call it once or twice per item.
pub trait IndexedItems<T>: Sync {
    /// Number of items.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Item `i` (`i < len()`), the same every time it is asked for.
    fn get(&self, i: usize) -> GridItem<T>;
    /// Calls `f` with each of items `range` and its position, in order. Sources stored in
    /// pieces walk each piece instead of finding every item's (the default asks `get`).
    #[inline(always)]
    fn for_each_in(&self, range: std::ops::Range<usize>, mut f: impl FnMut(usize, GridItem<T>)) {
        for i in range {
            f(i, self.get(i));
        }
    }
}

/// One ECS table's matches of a query, read as grid items: what
/// [`QueryTables`] is built from. Implementations should mark `item` `#[inline(always)]`.
pub trait TableRows: Sync {
    /// The grid items' payload.
    type Data;
    /// Rows in the table.
    fn rows(&self) -> usize;
    /// The grid item of row `row`.
    fn item(&self, row: usize) -> GridItem<Self::Data>;
}

/// A query's matches read by position, table by table (from bevy's
/// `Query::contiguous_iter`), in the query's order: the source a system hands to
/// [`UniformGrid::rebuild_indexed`] so that the rebuild's passes can split the agents
/// between threads.
pub struct QueryTables<R> {
    tables: Vec<R>,
    /// Where each table starts in query order, and the total at the end.
    starts: Vec<usize>,
}

impl<R: TableRows> QueryTables<R> {
    /// The matches of `tables`, in order.
    pub fn new(tables: impl IntoIterator<Item = R>) -> QueryTables<R> {
        let tables: Vec<R> = tables.into_iter().collect();
        let mut starts = Vec::with_capacity(tables.len() + 1);
        starts.push(0);
        for table in &tables {
            starts.push(starts[starts.len() - 1] + table.rows());
        }
        QueryTables { tables, starts }
    }

    /// The table and row of match `i` when the matches span several tables.
    #[cold]
    #[inline(never)]
    fn locate(&self, i: usize) -> (usize, usize) {
        let t = self.starts.partition_point(|&s| s <= i) - 1;
        (t, i - self.starts[t])
    }
}

impl<R: TableRows> IndexedItems<R::Data> for QueryTables<R> {
    fn len(&self) -> usize {
        self.starts[self.starts.len() - 1]
    }

    // Inlined into the rebuild's loops: a call per item there returned the item through
    // memory and made the index passes about twice as slow.
    #[inline(always)]
    fn get(&self, i: usize) -> GridItem<R::Data> {
        let (t, r) = if self.tables.len() == 1 {
            (0, i)
        } else {
            self.locate(i)
        };
        self.tables[t].item(r)
    }

    #[inline(always)]
    fn for_each_in(
        &self,
        range: std::ops::Range<usize>,
        mut f: impl FnMut(usize, GridItem<R::Data>),
    ) {
        for (table, start) in self.tables.iter().zip(&self.starts) {
            let rows = range.start.saturating_sub(*start)..range.end.saturating_sub(*start);
            for r in rows.start..rows.end.min(table.rows()) {
                f(start + r, table.item(r));
            }
        }
    }
}

impl<T: Copy + Sync> IndexedItems<T> for [GridItem<T>] {
    fn len(&self) -> usize {
        <[GridItem<T>]>::len(self)
    }
    #[inline(always)]
    fn get(&self, i: usize) -> GridItem<T> {
        self[i]
    }
}

/// Below this many items a rebuild runs on one thread: splitting costs more than it saves.
const PARALLEL_ITEMS: usize = 65_536;

impl<T: Copy> Default for UniformGrid<T> {
    fn default() -> Self {
        UniformGrid::new()
    }
}

impl<T: Copy> UniformGrid<T> {
    /// An empty index; call [`UniformGrid::rebuild`] before querying.
    pub fn new() -> UniformGrid<T> {
        UniformGrid {
            torus: false,
            width: 1.0,
            height: 1.0,
            nx: 1,
            ny: 1,
            cell_w: 1.0,
            cell_h: 1.0,
            starts: vec![0, 0],
            items: Vec::new(),
            dest: Vec::new(),
            cursor: Vec::new(),
            parts: Vec::new(),
            dest_is_slots: false,
        }
    }

    /// Number of indexed items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// All items, grouped by cell.
    pub fn items(&self) -> &[GridItem<T>] {
        &self.items
    }

    /// Number of cells along x and y.
    pub fn dims(&self) -> (usize, usize) {
        (self.nx, self.ny)
    }

    /// Re-indexes `items` for queries of radius up to about `cell_size` (larger radii work,
    /// they just visit more cells).
    pub fn rebuild(
        &mut self,
        space: &Space,
        cell_size: f64,
        items: impl IntoIterator<Item = GridItem<T>>,
    ) {
        self.dest_is_slots = false;
        self.items.clear();
        self.items.extend(items);
        if !self.items.is_sorted_by_key(|it| it.id) {
            self.items.sort_unstable_by_key(|it| it.id);
        }
        let ncells = self.layout(space, cell_size, self.items.len());
        let items = std::mem::take(&mut self.items);
        self.count_cells(ncells, items.iter().map(|it| it.pos));
        self.items = items;
        self.assign_slots(ncells);
        // The permutation is applied in place (each swap puts one item in its final slot), so
        // the index never holds a second copy of the agents.
        for i in 0..self.items.len() {
            loop {
                let d = self.dest[i] as usize;
                if d == i {
                    break;
                }
                self.items.swap(i, d);
                self.dest.swap(i, d);
            }
        }
    }

    /// Like [`UniformGrid::rebuild`], for items read by position (each is read twice). Every
    /// pass runs in parallel on the compute pool: parts of the input count their items per
    /// cell and then take their slots (a stable counting sort whose per-part cursors start
    /// where the earlier parts' items of the same cell end), and parts of the index gather
    /// their own slots. Same result as `rebuild` at any thread count.
    pub fn rebuild_indexed(
        &mut self,
        space: &Space,
        cell_size: f64,
        items: &(impl IndexedItems<T> + ?Sized),
    ) where
        T: Send + Sync,
    {
        let parts = if items.len() < PARALLEL_ITEMS {
            1
        } else {
            crate::par::pool_threads()
        };
        self.rebuild_in_parts(space, cell_size, items, parts);
    }

    fn rebuild_in_parts(
        &mut self,
        space: &Space,
        cell_size: f64,
        source: &(impl IndexedItems<T> + ?Sized),
        parts: usize,
    ) where
        T: Send + Sync,
    {
        let len = source.len();
        let item = |i: usize| source.get(i);
        let ncells = self.layout(space, cell_size, len);
        // Cursors are placed by ranges of cells in parallel, one range per part.
        let range = ncells.div_ceil(parts.max(1)).max(1);
        let size = len.div_ceil(parts.max(1)).max(1);
        self.parts.resize_with(len.div_ceil(size), Part::default);
        // The counting pass below writes every entry: no zeroing (a serial pass over 4 MB at
        // 1M items).
        self.dest.resize(len, 0);
        let cells_of = CellFinder::new(self);
        let mut jobs: Vec<(&mut Part, &mut [u32])> = self
            .parts
            .iter_mut()
            .zip(self.dest.chunks_mut(size))
            .collect();
        crate::par::par_each_mut(&mut jobs, |p, (part, cells)| {
            part.counts.clear();
            part.counts.resize(ncells, 0);
            let start = p * size;
            let mut sorted = true;
            let mut last = item(start).id;
            part.first = last;
            let counts = &mut part.counts;
            source.for_each_in(start..start + cells.len(), |i, it| {
                let c = cells_of.index(it.pos);
                cells[i - start] = c as u32;
                counts[c] += 1;
                sorted &= i == start || last < it.id;
                last = it.id;
            });
            part.sorted = sorted;
            part.last = last;
            part.range_counts.clear();
            part.range_counts
                .extend(part.counts.chunks(range).map(|r| r.iter().sum::<u32>()));
        });
        place_cursors(
            &mut self.starts,
            ncells,
            range,
            jobs.iter_mut().map(|j| &mut *j.0),
        );
        crate::par::par_each_mut(&mut jobs, |_, (part, cells)| {
            for d in cells.iter_mut() {
                let cursor = &mut part.counts[*d as usize];
                *d = *cursor;
                *cursor += 1;
            }
        });
        drop(jobs);
        let sorted = self.parts.iter().all(|p| p.sorted)
            && self.parts.windows(2).all(|w| w[0].last < w[1].first);
        let Some(first) = (len > 0).then(|| item(0)) else {
            self.items.clear();
            self.dest_is_slots = true;
            return;
        };
        self.items.resize(len, first);
        self.items.truncate(len);
        let dest = &self.dest;
        // Each part of the index scans the slots (four bytes per item) and reads only the
        // items that land in it.
        crate::par::par_parts_mut(&mut self.items, |offset, out| {
            // Which items land here is unpredictable: their indices are compacted without a
            // branch, a batch at a time, then moved.
            let size = out.len();
            let mut batch = [0u32; 256];
            let mut k = 0;
            let mut flush = |batch: &[u32]| {
                for &i in batch {
                    out[dest[i as usize] as usize - offset] = item(i as usize);
                }
            };
            for (i, &slot) in dest.iter().enumerate() {
                batch[k] = i as u32;
                k += usize::from((slot as usize).wrapping_sub(offset) < size);
                if k == batch.len() {
                    flush(&batch);
                    k = 0;
                }
            }
            flush(&batch[..k]);
        });
        self.dest_is_slots = sorted;
        if !sorted {
            self.sort_cells_by_id();
        }
    }

    /// Puts each cell's items in agent-id order, as `rebuild` gives, after a rebuild whose
    /// input ids did not ascend.
    fn sort_cells_by_id(&mut self) {
        for cell in self.starts.windows(2) {
            self.items[cell[0] as usize..cell[1] as usize].sort_unstable_by_key(|it| it.id);
        }
    }

    /// Where each input item of the last rebuild went: `input_slots()[i]` is the slot in
    /// [`UniformGrid::items`] of the `i`-th item given. Known after
    /// [`UniformGrid::rebuild_indexed`] when the ids came in ascending order (the usual case:
    /// agents in spawn order); `None` otherwise.
    pub fn input_slots(&self) -> Option<&[u32]> {
        self.dest_is_slots.then_some(&self.dest[..])
    }

    /// Fills `dest` with the cell of each item and `starts` with the first slot of each
    /// cell.
    fn count_cells(&mut self, ncells: usize, positions: impl Iterator<Item = DVec2>) {
        self.starts.clear();
        self.starts.resize(ncells + 1, 0);
        self.dest.clear();
        let cells_of = CellFinder::new(self);
        for pos in positions {
            let c = cells_of.index(pos);
            self.dest.push(c as u32);
            self.starts[c + 1] += 1;
        }
        for c in 0..ncells {
            self.starts[c + 1] += self.starts[c];
        }
    }

    /// Turns `dest` from cells into slots: a stable counting sort (a running cursor per
    /// cell, in input order).
    fn assign_slots(&mut self, ncells: usize) {
        self.cursor.clear();
        self.cursor.extend_from_slice(&self.starts[..ncells]);
        for d in self.dest.iter_mut() {
            let slot = self.cursor[*d as usize];
            self.cursor[*d as usize] += 1;
            *d = slot;
        }
    }

    /// The size of one cell (`width / nx`, `height / ny`).
    pub fn cell_size(&self) -> DVec2 {
        DVec2::new(self.cell_w, self.cell_h)
    }

    /// The cell that holds slot `k` of [`UniformGrid::items`] (`k < len()`).
    pub fn cell_of_slot(&self, k: usize) -> (usize, usize) {
        let c = self.starts.partition_point(|&s| s as usize <= k) - 1;
        (c % self.nx, c / self.nx)
    }

    /// The slots of [`UniformGrid::items`] that cell `(cx, cy)` holds.
    pub fn cell_slots(&self, cx: usize, cy: usize) -> std::ops::Range<usize> {
        let c = cy * self.nx + cx;
        self.starts[c] as usize..self.starts[c + 1] as usize
    }

    /// Sets the cell grid for `n` items; returns the number of cells.
    fn layout(&mut self, space: &Space, cell_size: f64, n: usize) -> usize {
        self.torus = space.is_torus();
        self.width = space.width;
        self.height = space.height;
        // Cells no smaller than the query radius keep queries to a 3x3 block; the cap keeps
        // memory proportional to the number of agents when the radius is tiny.
        let max_cells = (4 * n).max(1024) as f64;
        let size = cell_size.max(f64::MIN_POSITIVE);
        let mut nx = ((space.width / size).floor()).max(1.0);
        let mut ny = ((space.height / size).floor()).max(1.0);
        if nx * ny > max_cells {
            let shrink = (nx * ny / max_cells).sqrt();
            nx = (nx / shrink).floor().max(1.0);
            ny = (ny / shrink).floor().max(1.0);
        }
        self.nx = nx as usize;
        self.ny = ny as usize;
        self.cell_w = space.width / nx;
        self.cell_h = space.height / ny;
        self.nx * self.ny
    }

    #[inline]
    fn cell_slice(&self, cx: usize, cy: usize) -> &[GridItem<T>] {
        &self.items[self.cell_slots(cx, cy)]
    }

    /// Calls `f(item, delta, distance_squared)` for every item within `radius` of `center`
    /// (inclusive), where `delta` points from `center` to the item (minimum image on a torus).
    /// The item at `center` itself, if indexed, is included.
    #[inline]
    pub fn for_each_within(
        &self,
        center: DVec2,
        radius: f64,
        mut f: impl FnMut(&GridItem<T>, DVec2, f64),
    ) {
        if self.items.is_empty() || radius < 0.0 || radius.is_nan() {
            return;
        }
        let r2 = radius * radius;
        let rx = (radius / self.cell_w).ceil() as isize;
        let ry = (radius / self.cell_h).ceil() as isize;
        let (cx, cy) = cell_coords(center, self.cell_w, self.cell_h, self.nx, self.ny);
        let (nx, ny) = (self.nx as isize, self.ny as isize);
        if self.torus && (2 * rx + 1 > nx || 2 * ry + 1 > ny) {
            self.for_each_within_small_torus(center, r2, rx, ry, &mut f);
            return;
        }
        for dy in -ry..=ry {
            let mut y = cy as isize + dy;
            let mut oy = 0.0;
            if y < 0 {
                if !self.torus {
                    continue;
                }
                y += ny;
                oy = -self.height;
            } else if y >= ny {
                if !self.torus {
                    continue;
                }
                y -= ny;
                oy = self.height;
            }
            for dx in -rx..=rx {
                let mut x = cx as isize + dx;
                let mut ox = 0.0;
                if x < 0 {
                    if !self.torus {
                        continue;
                    }
                    x += nx;
                    ox = -self.width;
                } else if x >= nx {
                    if !self.torus {
                        continue;
                    }
                    x -= nx;
                    ox = self.width;
                }
                let off = DVec2::new(ox, oy) - center;
                for it in self.cell_slice(x as usize, y as usize) {
                    let d = it.pos + off;
                    let d2 = d.length_squared();
                    if d2 <= r2 {
                        f(it, d, d2);
                    }
                }
            }
        }
    }

    /// The candidates for a radius query as contiguous runs of [`UniformGrid::items`]: one
    /// or two runs per row of cells, each with the offset that moves its items to their
    /// image nearest `center` (add it to `item.pos`). Items in runs may lie outside the
    /// radius; callers test the distance. Hot loops use this instead of
    /// [`UniformGrid::for_each_within`] because plain loops over slices keep accumulators
    /// in registers.
    ///
    /// Returns `None` when the query box wraps onto itself (a torus narrower than the query
    /// diameter); use `for_each_within` then.
    pub fn runs(&self, center: DVec2, radius: f64) -> Option<Runs<'_, T>> {
        let rx = (radius / self.cell_w).ceil().max(0.0) as isize;
        let ry = (radius / self.cell_h).ceil().max(0.0) as isize;
        let (nx, ny) = (self.nx as isize, self.ny as isize);
        if self.torus && (2 * rx + 1 > nx || 2 * ry + 1 > ny) {
            return None;
        }
        let (cx, cy) = cell_coords(center, self.cell_w, self.cell_h, self.nx, self.ny);
        Some(Runs {
            grid: self,
            cx: cx as isize,
            cy: cy as isize,
            rx,
            ry,
            dy: -ry,
            pending: None,
        })
    }

    /// The query box wraps onto itself: visit each distinct cell once and use the minimum
    /// image per item.
    fn for_each_within_small_torus(
        &self,
        center: DVec2,
        r2: f64,
        rx: isize,
        ry: isize,
        f: &mut impl FnMut(&GridItem<T>, DVec2, f64),
    ) {
        let (cx, cy) = cell_coords(center, self.cell_w, self.cell_h, self.nx, self.ny);
        let cols = distinct_wrapped(cx, rx, self.nx);
        let rows = distinct_wrapped(cy, ry, self.ny);
        for &y in &rows {
            for &x in &cols {
                for it in self.cell_slice(x, y) {
                    let mut d = it.pos - center;
                    d.x = super::min_image(d.x, self.width);
                    d.y = super::min_image(d.y, self.height);
                    let d2 = d.length_squared();
                    if d2 <= r2 {
                        f(it, d, d2);
                    }
                }
            }
        }
    }

    /// The nearest item to `center` other than `exclude`, with its distance. Ties go to the
    /// lower agent id.
    pub fn nearest(&self, center: DVec2, exclude: Option<u32>) -> Option<(&GridItem<T>, f64)> {
        let (cx, cy) = cell_coords(center, self.cell_w, self.cell_h, self.nx, self.ny);
        let mut best: Option<(&GridItem<T>, f64)> = None;
        let max_ring = self.nx.max(self.ny) as isize;
        let min_cell = self.cell_w.min(self.cell_h);
        for k in 0..=max_ring {
            if self.torus && (2 * k + 1 > self.nx as isize || 2 * k + 1 > self.ny as isize) {
                // Rings now overlap themselves; finish with an exact scan.
                for it in &self.items {
                    let d2 = self.min_image_d2(center, it.pos);
                    consider(&mut best, it, d2, exclude);
                }
                break;
            }
            for (x, y, off) in self.ring(cx as isize, cy as isize, k) {
                for it in self.cell_slice(x, y) {
                    let d2 = (it.pos + off - center).length_squared();
                    consider(&mut best, it, d2, exclude);
                }
            }
            if let Some((_, d2)) = best {
                // Every cell of ring k+1 is at least k whole cells away.
                let reach = k as f64 * min_cell;
                if d2 <= reach * reach {
                    break;
                }
            }
        }
        best.map(|(it, d2)| (it, d2.sqrt()))
    }

    fn min_image_d2(&self, a: DVec2, b: DVec2) -> f64 {
        let mut d = b - a;
        if self.torus {
            d.x = super::min_image(d.x, self.width);
            d.y = super::min_image(d.y, self.height);
        }
        d.length_squared()
    }

    /// Cells at Chebyshev distance exactly `k` from (cx, cy), with the offset that maps their
    /// items to the image nearest the centre cell.
    fn ring(
        &self,
        cx: isize,
        cy: isize,
        k: isize,
    ) -> impl Iterator<Item = (usize, usize, DVec2)> + '_ {
        let (nx, ny) = (self.nx as isize, self.ny as isize);
        let coords: Vec<(isize, isize)> = if k == 0 {
            vec![(cx, cy)]
        } else {
            let mut v = Vec::with_capacity(8 * k as usize);
            for dx in -k..=k {
                v.push((cx + dx, cy - k));
                v.push((cx + dx, cy + k));
            }
            for dy in (-k + 1)..k {
                v.push((cx - k, cy + dy));
                v.push((cx + k, cy + dy));
            }
            v
        };
        coords.into_iter().filter_map(move |(x, y)| {
            let (x, ox) = wrap_cell(x, nx, self.width, self.torus)?;
            let (y, oy) = wrap_cell(y, ny, self.height, self.torus)?;
            Some((x, y, DVec2::new(ox, oy)))
        })
    }
}

/// Iterator over candidate runs; see [`UniformGrid::runs`].
#[derive(Debug)]
pub struct Runs<'g, T> {
    grid: &'g UniformGrid<T>,
    cx: isize,
    cy: isize,
    rx: isize,
    ry: isize,
    dy: isize,
    pending: Option<(std::ops::Range<usize>, DVec2)>,
}

impl<T> Runs<'_, T> {
    fn span(&self, y: usize, x0: isize, x1: isize) -> std::ops::Range<usize> {
        let row = y * self.grid.nx;
        self.grid.starts[row + x0 as usize] as usize
            ..self.grid.starts[row + x1 as usize + 1] as usize
    }
}

impl<T> Iterator for Runs<'_, T> {
    /// A range of indices into `items()` and the offset for its items.
    type Item = (std::ops::Range<usize>, DVec2);

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(p) = self.pending.take() {
            return Some(p);
        }
        let g = self.grid;
        let (nx, ny) = (g.nx as isize, g.ny as isize);
        while self.dy <= self.ry {
            let mut y = self.cy + self.dy;
            self.dy += 1;
            let mut oy = 0.0;
            if y < 0 || y >= ny {
                if !g.torus {
                    continue;
                }
                oy = if y < 0 { -g.height } else { g.height };
                y = y.rem_euclid(ny);
            }
            let y = y as usize;
            let (x0, x1) = (self.cx - self.rx, self.cx + self.rx);
            if !g.torus {
                return Some((self.span(y, x0.max(0), x1.min(nx - 1)), DVec2::new(0.0, oy)));
            }
            if x0 < 0 {
                self.pending = Some((self.span(y, 0, x1), DVec2::new(0.0, oy)));
                return Some((self.span(y, x0 + nx, nx - 1), DVec2::new(-g.width, oy)));
            }
            if x1 >= nx {
                self.pending = Some((self.span(y, 0, x1 - nx), DVec2::new(g.width, oy)));
                return Some((self.span(y, x0, nx - 1), DVec2::new(0.0, oy)));
            }
            return Some((self.span(y, x0, x1), DVec2::new(0.0, oy)));
        }
        None
    }
}

#[inline]
fn consider<'a, T>(
    best: &mut Option<(&'a GridItem<T>, f64)>,
    it: &'a GridItem<T>,
    d2: f64,
    exclude: Option<u32>,
) {
    if Some(it.id) == exclude {
        return;
    }
    let better = match best {
        None => true,
        Some((b, bd2)) => d2 < *bd2 || (d2 == *bd2 && it.id < b.id),
    };
    if better {
        *best = Some((it, d2));
    }
}

#[inline]
fn wrap_cell(c: isize, n: isize, extent: f64, torus: bool) -> Option<(usize, f64)> {
    if c < 0 {
        torus.then(|| ((c + n) as usize, -extent))
    } else if c >= n {
        torus.then(|| ((c - n) as usize, extent))
    } else {
        Some((c as usize, 0.0))
    }
}

fn distinct_wrapped(c: usize, r: isize, n: usize) -> Vec<usize> {
    if 2 * r + 1 >= n as isize {
        return (0..n).collect();
    }
    (-r..=r)
        .map(|d| (c as isize + d).rem_euclid(n as isize) as usize)
        .collect()
}

#[inline]
fn cell_coords(p: DVec2, cw: f64, ch: f64, nx: usize, ny: usize) -> (usize, usize) {
    // Through `i64`: one conversion instruction where `f64` to `usize` takes several. The
    // conversion saturates (NaN to 0), `max` maps negatives to cell 0 and `min` clamps
    // positions on the far wall: the cells `as usize` and `min` gave.
    let clamp = |v: f64, n: usize| (v as i64).max(0).min(n as i64 - 1) as usize;
    (clamp(p.x / cw, nx), clamp(p.y / ch, ny))
}

/// Fills `starts` and turns each part's counts into its first slot in each cell: a cell's
/// slots go to the parts in order. Each range of `range` cells is placed by its own task,
/// from the items of all earlier ranges (the serial loop over every cell and part took
/// 3 ms per rebuild at 1M items in 16 parts).
fn place_cursors<'p>(
    starts: &mut Vec<u32>,
    ncells: usize,
    range: usize,
    parts: impl Iterator<Item = &'p mut Part>,
) {
    let mut counts: Vec<_> = parts.collect();
    let ranges = ncells.div_ceil(range);
    let mut base = vec![0u32; ranges + 1];
    for r in 0..ranges {
        base[r + 1] = base[r] + counts.iter().map(|p| p.range_counts[r]).sum::<u32>();
    }
    let nparts = counts.len();
    let mut slices: Vec<Vec<&mut [u32]>> =
        (0..ranges).map(|_| Vec::with_capacity(nparts)).collect();
    for part in &mut counts {
        for (r, cells) in part.counts.chunks_mut(range).enumerate() {
            slices[r].push(cells);
        }
    }
    // Every entry is written below.
    starts.resize(ncells + 1, 0);
    starts[ncells] = base[ranges];
    let mut jobs: Vec<_> = starts[..ncells]
        .chunks_mut(range)
        .zip(slices)
        .zip(&base)
        .collect();
    crate::par::par_each_mut(&mut jobs, |_, ((starts, parts), base)| {
        let mut next = **base;
        for (c, start) in starts.iter_mut().enumerate() {
            *start = next;
            for cells in parts.iter_mut() {
                let n = cells[c];
                cells[c] = next;
                next += n;
            }
        }
    });
}

/// The cells of [`cell_coords`] for many positions, mostly without its divisions (whose
/// latency held up the rebuild's count pass).
#[derive(Clone, Copy)]
struct CellFinder {
    size: DVec2,
    /// `1 / size`, rounded.
    inv: f64x2,
    /// The number of cells along x and y.
    cells: f64x2,
    nx: usize,
    ny: usize,
}

impl CellFinder {
    fn new<T>(grid: &UniformGrid<T>) -> CellFinder {
        CellFinder {
            size: DVec2::new(grid.cell_w, grid.cell_h),
            inv: f64x2::ONE / f64x2::new([grid.cell_w, grid.cell_h]),
            cells: f64x2::new([grid.nx as f64, grid.ny as f64]),
            nx: grid.nx,
            ny: grid.ny,
        }
    }

    /// The row-major index of the cell of `p`: exactly [`cell_coords`]'s cell.
    #[inline(always)]
    fn index(&self, p: DVec2) -> usize {
        // `m`, the quotients by multiplication, is within 2^-52 m of the exact quotients and
        // so are the rounded ones: where `m` lies further than 2^-48 m from every integer
        // (and inside the grid), all three truncate to the same cell. Elsewhere (about one
        // position in 10^13 near a cell boundary, and anything outside the grid) the
        // divisions decide.
        const TWO_52: f64 = 4_503_599_627_370_496.0;
        let m = f64x2::new([p.x, p.y]) * self.inv;
        // `m + 2^52` rounds to the nearest integer `r`, which its low bits hold.
        let big = m + f64x2::splat(TWO_52);
        let off = m - (big - f64x2::splat(TWO_52));
        let clear = off.abs().simd_gt(m * f64x2::splat(1.0 / TWO_52 * 16.0))
            & m.simd_ge(f64x2::ZERO)
            & m.simd_lt(self.cells);
        if clear.to_bitmask() == 0b11 {
            let r: [u64; 2] = bytemuck::cast(big);
            let below: [u64; 2] = bytemuck::cast(off.simd_lt(f64x2::ZERO));
            // The integer part of each quotient: `r`, less one where `m` is below it (the
            // mask is all ones, minus one, there).
            let cell = |i: usize| (r[i] - TWO_52.to_bits()).wrapping_add(below[i]) as usize;
            return cell(1) * self.nx + cell(0);
        }
        let (x, y) = cell_coords(p, self.size.x, self.size.y, self.nx, self.ny);
        y * self.nx + x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{Boundary, Neighborhood, SpaceKind};
    use proptest::prelude::*;

    fn space(w: f64, h: f64, boundary: Boundary) -> Space {
        Space {
            kind: SpaceKind::Continuous,
            width: w,
            height: h,
            boundary,
            neighborhood: Neighborhood::Moore,
        }
    }

    fn build(s: &Space, pts: &[(f64, f64)], cell: f64) -> UniformGrid<()> {
        let mut g = UniformGrid::new();
        g.rebuild(
            s,
            cell,
            pts.iter().enumerate().map(|(i, &(x, y))| GridItem {
                pos: DVec2::new(x, y),
                id: i as u32,
                data: (),
            }),
        );
        g
    }

    /// `CellFinder`'s cell of `p` against `cell_coords`' (the divisions).
    fn check_cell(g: &UniformGrid<()>, p: DVec2) {
        let (x, y) = cell_coords(p, g.cell_w, g.cell_h, g.nx, g.ny);
        assert_eq!(CellFinder::new(g).index(p), y * g.nx + x, "{p:?}");
    }

    /// Positions on cell boundaries and a few ulps either side, where the multiplication
    /// alone could pick the neighbouring cell, and positions outside the grid.
    #[test]
    fn cells_by_multiplication_equal_cells_by_division_at_the_boundaries() {
        let nudge = |v: f64, ulps: i64| f64::from_bits((v.to_bits() as i64 + ulps) as u64);
        for (w, cell) in [
            (100.0, 10.0),
            (316.227_766_016_837_96, 10.0),
            (1.0, 0.1),
            (3e5, 7.3),
        ] {
            let s = space(w, w * 0.6, Boundary::Torus);
            let g = build(&s, &[], cell);
            for k in 0..=g.nx.max(g.ny) + 1 {
                let edge = k as f64 * g.cell_w;
                for ulps in -3..=3 {
                    let v = nudge(edge, ulps);
                    check_cell(&g, DVec2::new(v, v * 0.6));
                    check_cell(&g, DVec2::new(edge * 0.5, nudge(k as f64 * g.cell_h, ulps)));
                }
            }
            for v in [
                -0.0,
                -1e-300,
                -5.0,
                f64::NAN,
                f64::INFINITY,
                -f64::INFINITY,
                1e300,
            ] {
                check_cell(&g, DVec2::new(v, 1.0));
                check_cell(&g, DVec2::new(1.0, v));
            }
        }
    }

    proptest! {
        #[test]
        fn cells_by_multiplication_equal_cells_by_division(
            pts in prop::collection::vec((-5.0f64..55.0, -5.0f64..35.0), 1..100),
            cell in 0.01f64..20.0,
        ) {
            let s = space(50.0, 30.0, Boundary::Walls);
            let g = build(&s, &[], cell);
            for (x, y) in pts {
                check_cell(&g, DVec2::new(x, y));
            }
        }
        #[test]
        fn radius_queries_match_brute_force(
            pts in prop::collection::vec((0.0f64..50.0, 0.0f64..30.0), 0..200),
            qx in 0.0f64..50.0, qy in 0.0f64..30.0,
            radius in 0.0f64..40.0,
            cell in 0.5f64..20.0,
            torus in any::<bool>(),
        ) {
            let s = space(50.0, 30.0, if torus { Boundary::Torus } else { Boundary::Walls });
            let g = build(&s, &pts, cell);
            let q = DVec2::new(qx, qy);
            let mut got = Vec::new();
            g.for_each_within(q, radius, |it, d, d2| {
                assert!((d.length_squared() - d2).abs() < 1e-9);
                got.push(it.id);
            });
            got.sort_unstable();
            let want: Vec<u32> = pts.iter().enumerate()
                .filter(|(_, (x, y))| s.distance_squared(q, DVec2::new(*x, *y)) <= radius * radius)
                .map(|(i, _)| i as u32)
                .collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn runs_cover_exactly_the_radius_query(
            pts in prop::collection::vec((0.0f64..50.0, 0.0f64..30.0), 0..200),
            qx in 0.0f64..50.0, qy in 0.0f64..30.0,
            radius in 0.0f64..12.0,
            cell in 0.5f64..20.0,
            torus in any::<bool>(),
        ) {
            let s = space(50.0, 30.0, if torus { Boundary::Torus } else { Boundary::Walls });
            let g = build(&s, &pts, cell);
            let q = DVec2::new(qx, qy);
            let mut want = Vec::new();
            g.for_each_within(q, radius, |it, d, _| want.push((it.id, d)));
            if let Some(runs) = g.runs(q, radius) {
                let mut got = Vec::new();
                for (range, off) in runs {
                    let rel = off - q;
                    for it in &g.items()[range] {
                        let d = it.pos + rel;
                        if d.length_squared() <= radius * radius {
                            got.push((it.id, d));
                        }
                    }
                }
                got.sort_by_key(|x| x.0);
                want.sort_by_key(|x| x.0);
                prop_assert_eq!(got, want);
            }
        }

        #[test]
        fn rebuild_in_parts_equals_rebuild(
            pts in prop::collection::vec((0.0f64..50.0, 0.0f64..30.0, 0u32..1000), 0..300),
            cell in 0.5f64..20.0,
            torus in any::<bool>(),
            ascending in any::<bool>(),
            parts in 1usize..6,
        ) {
            let s = space(50.0, 30.0, if torus { Boundary::Torus } else { Boundary::Walls });
            let mut seen = std::collections::HashSet::new();
            let mut items: Vec<GridItem<u32>> = pts
                .iter()
                .filter(|p| seen.insert(p.2))
                .map(|&(x, y, id)| GridItem { pos: DVec2::new(x, y), id, data: id * 7 })
                .collect();
            if ascending {
                items.sort_by_key(|it| it.id);
            }
            let mut a = UniformGrid::new();
            a.rebuild(&s, cell, items.iter().copied());
            let mut b = UniformGrid::new();
            // Twice: the second rebuild reuses the first one's buffers, with another part
            // count.
            for parts in [parts, 6 - parts] {
                b.rebuild_in_parts(&s, cell, &items[..], parts);
                prop_assert_eq!(a.items(), b.items());
                prop_assert_eq!(&a.starts, &b.starts);
                prop_assert_eq!(a.dims(), b.dims());
            }
            let sorted = items.is_sorted_by_key(|it| it.id);
            prop_assert_eq!(b.input_slots().is_some(), sorted);
            if let Some(slots) = b.input_slots() {
                for (it, &slot) in items.iter().zip(slots) {
                    prop_assert_eq!(b.items()[slot as usize], *it);
                }
            }
        }

        #[test]
        fn nearest_matches_brute_force(
            pts in prop::collection::vec((0.0f64..50.0, 0.0f64..30.0), 1..150),
            qx in 0.0f64..50.0, qy in 0.0f64..30.0,
            cell in 0.5f64..20.0,
            torus in any::<bool>(),
        ) {
            let s = space(50.0, 30.0, if torus { Boundary::Torus } else { Boundary::Walls });
            let g = build(&s, &pts, cell);
            let q = DVec2::new(qx, qy);
            let (it, d) = g.nearest(q, None).unwrap();
            let want = pts.iter().enumerate()
                .map(|(i, (x, y))| (s.distance_squared(q, DVec2::new(*x, *y)), i as u32))
                .min_by(|a, b| a.partial_cmp(b).unwrap())
                .unwrap();
            prop_assert_eq!(it.id, want.1);
            prop_assert!((d * d - want.0).abs() < 1e-9);
        }
    }

    /// A table of `len` rows whose items carry their row and the table's tag.
    struct Rows(u32, usize);

    impl TableRows for Rows {
        type Data = (u32, usize);
        fn rows(&self) -> usize {
            self.1
        }
        fn item(&self, row: usize) -> GridItem<(u32, usize)> {
            GridItem {
                pos: DVec2::new(row as f64, f64::from(self.0)),
                id: self.0 * 100 + row as u32,
                data: (self.0, row),
            }
        }
    }

    #[test]
    fn walking_a_range_of_several_tables_gives_the_items_get_gives() {
        let tables = QueryTables::new([Rows(1, 3), Rows(2, 0), Rows(3, 5), Rows(4, 1)]);
        assert_eq!(tables.len(), 9);
        for start in 0..=9 {
            for end in start..=9 {
                let mut walked = Vec::new();
                tables.for_each_in(start..end, |i, it| walked.push((i, it)));
                let want: Vec<_> = (start..end).map(|i| (i, tables.get(i))).collect();
                assert_eq!(walked, want, "{start}..{end}");
            }
        }
    }

    #[test]
    fn items_in_a_cell_keep_id_order_whatever_the_input_order() {
        let s = space(10.0, 10.0, Boundary::Torus);
        let mut g = UniformGrid::new();
        let items = [3u32, 1, 2, 0].map(|id| GridItem {
            pos: DVec2::splat(1.0),
            id,
            data: (),
        });
        g.rebuild(&s, 5.0, items);
        let ids: Vec<u32> = g.items().iter().map(|it| it.id).collect();
        assert_eq!(ids, vec![0, 1, 2, 3]);
        assert!(
            g.nearest(DVec2::splat(1.0), Some(0))
                .is_some_and(|(it, _)| it.id == 1)
        );
    }
}
