//! `flocking`: boids, in the two formulations the published framework comparisons use, so
//! results and timings compare with peers.
//!
//! * `Reynolds`: the model of the ABM frameworks comparison (Agents.jl's `flocking`):
//!   cohere, separate and match over neighbours within `visual_distance`, then
//!   `vel = normalize((vel + cohere + separate + match) / 2)` and a step of `speed`.
//! * `Flockers`: MASON's Flockers as ported by krABMaga: cohesion, avoidance, consistency,
//!   randomness and momentum within `neighborhood`, renormalised to a step of length `jump`.
//!
//! Both update all birds simultaneously from a snapshot of the previous tick (the spatial
//! index carries positions and velocities), where the original Agents.jl and MASON code
//! moves birds one at a time. Simultaneous update is what makes the result independent of
//! visiting order and thread count; it is also what krABMaga does.
//!
//! Flockers sums its neighbourhoods in single precision, eight candidates at a time in SIMD
//! lanes, as krABMaga's `f32` port does; positions and velocities stay `f64`. Reynolds keeps
//! double-precision sums in the published order. Both are exact radius queries over a
//! uniform grid (see ARCHITECTURE.md, Performance notes).

use agora_engine::prelude::*;
use agora_engine::{par_chunks_mut, simd};
use serde::{Deserialize, Serialize};
use wide::{f32x4, f64x4};

/// Which formulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum FlockingModel {
    /// Agents.jl / ABM frameworks comparison.
    #[default]
    Reynolds,
    /// MASON / krABMaga Flockers.
    Flockers,
}

/// Scenario: `(behavior: "flocking", count: 200, params: (model: Reynolds, visual_distance: 5.0))`.
///
/// Each formulation reads only its own fields; their defaults are the published values.
#[derive(Component, Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Flocking {
    /// `Reynolds` (default) or `Flockers`.
    pub model: FlockingModel,
    /// Reynolds: distance moved per tick (default 1.0).
    pub speed: f64,
    /// Reynolds: weight of the heading towards neighbours (default 0.03).
    pub cohere: f64,
    /// Reynolds: neighbours closer than this repel (default 1.0).
    pub separation: f64,
    /// Reynolds: weight of the repulsion (default 0.015).
    pub separate: f64,
    /// Reynolds: weight of the neighbours' mean velocity (default 0.05).
    #[serde(rename = "match")]
    pub match_factor: f64,
    /// Reynolds: neighbour radius (default 5.0).
    pub visual_distance: f64,
    /// Flockers: weight of cohesion (default 1.0; the MASON demo uses 1.0, krABMaga 0.8).
    pub cohesion: f64,
    /// Flockers: weight of avoidance (default 1.0).
    pub avoidance: f64,
    /// Flockers: weight of consistency, the neighbours' mean step (default 1.0).
    pub consistency: f64,
    /// Flockers: weight of the random unit nudge (default 1.0).
    pub randomness: f64,
    /// Flockers: weight of the bird's own last step (default 1.0).
    pub momentum: f64,
    /// Flockers: step length (default 0.7).
    pub jump: f64,
    /// Flockers: neighbour radius (default 10.0).
    pub neighborhood: f64,
}

impl Default for Flocking {
    fn default() -> Self {
        Flocking {
            model: FlockingModel::Reynolds,
            speed: 1.0,
            cohere: 0.03,
            separation: 1.0,
            separate: 0.015,
            match_factor: 0.05,
            visual_distance: 5.0,
            cohesion: 1.0,
            avoidance: 1.0,
            consistency: 1.0,
            randomness: 1.0,
            momentum: 1.0,
            jump: 0.7,
            neighborhood: 10.0,
        }
    }
}

impl Flocking {
    fn radius(&self) -> f64 {
        match self.model {
            FlockingModel::Reynolds => self.visual_distance,
            FlockingModel::Flockers => self.neighborhood,
        }
    }
}

/// Positions and velocities of every bird at the start of the tick.
/// What a bird's neighbours may read of it: its velocity at the start of the tick, and its
/// population (whose params it follows).
#[derive(Debug, Clone, Copy, Default)]
struct Boid {
    vel: DVec2,
    pop: u16,
}

/// The flock at the start of the tick, and the new velocities being computed.
///
/// Velocities are computed in the index's cell order rather than in entity order: consecutive
/// birds then share most of their candidate cells, which stay in cache. At 100k birds this
/// made a tick about twice as fast. The birds take their new velocities in the index's input
/// order through [`UniformGrid::input_slots`] where their tables are as the index saw them
/// (`tables`), and otherwise through `slot`, which maps agent ids to index positions.
#[derive(Resource, Default)]
struct FlockIndex {
    grid: UniformGrid<Boid>,
    radius: f64,
    /// Params by population index (`None` for populations of other behaviors).
    params: Vec<Option<Flocking>>,
    next: Vec<DVec2>,
    /// The rows and the last id of each of the flock's tables when the index was built, in
    /// query order.
    tables: Vec<(usize, u32)>,
    slot: Vec<u32>,
}

/// Marks a bird. Params live per population in the flock index rather than on every agent:
/// a million birds would otherwise carry a million copies of 15 numbers.
#[derive(Component, Debug, Clone, Copy, Default)]
pub struct Bird;

impl Behavior for Flocking {
    const NAME: &'static str = "flocking";
    const PARAMS_PER_AGENT: bool = false;
    const SUMMARY: &'static str =
        "Boids: Reynolds (Agents.jl comparison) or MASON Flockers formulation.";

    fn build(sim: &mut SimBuilder) {
        let scenario = sim.scenario();
        let params: Vec<Option<Flocking>> = scenario
            .populations
            .iter()
            .map(|p| {
                (p.behavior == Self::NAME)
                    .then(|| serde_json::from_value::<Flocking>(p.params.0.clone()).ok())
                    .flatten()
            })
            .collect();
        let radius = params
            .iter()
            .flatten()
            .map(Flocking::radius)
            .fold(0.0, f64::max);
        sim.insert_resource(FlockIndex {
            grid: UniformGrid::new(),
            radius,
            params,
            next: Vec::new(),
            tables: Vec::new(),
            slot: Vec::new(),
        });
        sim.add_systems(Phase::Sense, index_flock)
            .add_systems(Phase::Decide, (steer, adopt_steering).chain())
            .add_systems(Phase::Act, fly);
    }

    fn validate(&self, ctx: &ValidateCtx) -> Result<(), String> {
        if ctx.world.kind != SpaceKind::Continuous {
            return Err("flocking needs a continuous world (`kind: Continuous`)".into());
        }
        let fields = [
            ("speed", self.speed),
            ("separation", self.separation),
            ("visual_distance", self.visual_distance),
            ("jump", self.jump),
            ("neighborhood", self.neighborhood),
        ];
        for (name, v) in fields {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("`{name}` must be a non-negative number, got {v}"));
            }
        }
        for (name, v) in [
            ("cohere", self.cohere),
            ("separate", self.separate),
            ("match", self.match_factor),
            ("cohesion", self.cohesion),
            ("avoidance", self.avoidance),
            ("consistency", self.consistency),
            ("randomness", self.randomness),
            ("momentum", self.momentum),
        ] {
            if !v.is_finite() {
                return Err(format!("`{name}` must be a finite number, got {v}"));
            }
        }
        Ok(())
    }

    fn spawn(&self, agent: &mut AgentSpawn) {
        let velocity = match self.model {
            // Agents.jl starts each bird with a random unit velocity.
            FlockingModel::Reynolds => {
                let v = DVec2::new(
                    agent.rng().random::<f64>() * 2.0 - 1.0,
                    agent.rng().random::<f64>() * 2.0 - 1.0,
                );
                v.try_normalize().unwrap_or(DVec2::X)
            }
            // MASON starts every bird at rest; momentum builds from the other terms.
            FlockingModel::Flockers => DVec2::ZERO,
        };
        agent.insert((Bird, Velocity(velocity)));
    }
}

fn index_flock(
    space: Res<Space>,
    mut index: ResMut<FlockIndex>,
    birds: Query<(&AgentId, &Population, &Position, &Velocity), With<Bird>>,
) {
    let FlockIndex {
        grid,
        radius,
        tables: marks,
        ..
    } = &mut *index;
    marks.clear();
    // Component slices, table by table, so that any bird can be read by its position in the
    // query's order: the rebuild's passes then split the flock between threads.
    let tables = QueryTables::new(
        birds
            .contiguous_iter()
            .expect("every flocking component is stored in tables")
            .map(|(ids, pops, pos, vel)| {
                marks.push(table_mark(ids));
                Birds(ids, pops, pos, vel)
            }),
    );
    grid.rebuild_indexed(&space, *radius, &tables);
}

/// What tells a table of birds apart from itself after a change: its rows and its last id.
fn table_mark(ids: &[AgentId]) -> (usize, u32) {
    (ids.len(), ids.last().map_or(0, |id| id.0))
}

/// Each bird takes its new velocity from [`steer`]'s list. A table whose rows and last id
/// are those the index saw holds the same birds in the same order (ids are never reused and
/// grow with every spawn, so any spawn, despawn or move between tables changes one of the
/// two), and when the index kept its input order ([`UniformGrid::input_slots`]) its birds
/// read their slots in that order. Any other table goes through the id-to-slot table, built
/// only then.
fn adopt_steering(
    mut index: ResMut<FlockIndex>,
    mut birds: Query<(&AgentId, &mut Velocity), With<Bird>>,
) {
    let FlockIndex {
        grid,
        next,
        tables,
        slot,
        ..
    } = &mut *index;
    let (grid, next) = (&*grid, &*next);
    let mut slots = grid.input_slots();
    let mut slot_ready = false;
    let mut base = 0;
    for (t, (ids, mut vels)) in birds
        .contiguous_iter_mut()
        .expect("every flocking component is stored in tables")
        .enumerate()
    {
        let vels: &mut [Velocity] = &mut vels;
        if tables.get(t) != Some(&table_mark(ids)) {
            // Later tables no longer line up with the input either.
            slots = None;
        }
        if let Some(slots) = slots {
            let slots = &slots[base..base + ids.len()];
            par_chunks_mut(vels, |offset, part| {
                for (v, &k) in part.iter_mut().zip(&slots[offset..]) {
                    v.0 = next[k as usize];
                }
            });
        } else {
            if !slot_ready {
                fill_slots(grid, slot);
                slot_ready = true;
            }
            let slot = &*slot;
            par_chunks_mut(vels, |offset, part| {
                for (v, id) in part.iter_mut().zip(&ids[offset..]) {
                    v.0 = next[slot[id.0 as usize] as usize];
                }
            });
        }
        base += ids.len();
    }
}

/// `slot[id]` = the position in `grid` of the bird with agent id `id`.
fn fill_slots(grid: &UniformGrid<Boid>, slot: &mut Vec<u32>) {
    for (k, it) in grid.items().iter().enumerate() {
        let id = it.id as usize;
        if id >= slot.len() {
            slot.resize(id + 1, u32::MAX);
        }
        slot[id] = k as u32;
    }
}

/// One ECS table's birds: ids, populations, positions and velocities.
struct Birds<'w>(
    &'w [AgentId],
    &'w [Population],
    &'w [Position],
    &'w [Velocity],
);

impl TableRows for Birds<'_> {
    type Data = Boid;

    fn rows(&self) -> usize {
        self.0.len()
    }

    #[inline(always)]
    fn item(&self, r: usize) -> GridItem<Boid> {
        GridItem {
            pos: self.2[r].0,
            id: self.0[r].0,
            data: Boid {
                vel: self.3[r].0,
                pop: self.1[r].0,
            },
        }
    }
}

/// New velocities for every bird, in cell order, from the snapshot alone.
fn steer(tick: Res<Tick>, rng: Res<SimRng>, mut index: ResMut<FlockIndex>) {
    let FlockIndex {
        grid,
        params,
        next,
        radius,
        ..
    } = &mut *index;
    // Every slot is written below, so last tick's values need no clearing (a serial pass over
    // 16 MB at 1M birds).
    next.resize(grid.len(), DVec2::ZERO);
    let flock = Flock {
        grid,
        params,
        radius: *radius,
        rng: &rng,
        tick: tick.0,
    };
    par_chunks_mut(next, |offset, out| {
        // Each thread keeps its scratch from tick to tick: built per task, its buffers were
        // allocated and grown again every tick. Every buffer is cleared or overwritten
        // before it is read, so what a task leaves behind never reaches a result.
        SCRATCH.with(|cell| {
            let mut held = cell.try_borrow_mut();
            let mut fresh;
            let scratch = match held.as_deref_mut() {
                Ok(kept) => kept,
                Err(_) => {
                    fresh = Scratch::default();
                    &mut fresh
                }
            };
            flock.steer_task(offset, out, scratch);
        });
    });
}

thread_local! {
    /// [`steer`]'s scratch, one per thread.
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// What [`steer`] reads, shared by its parallel tasks.
struct Flock<'a> {
    grid: &'a UniformGrid<Boid>,
    params: &'a [Option<Flocking>],
    radius: f64,
    rng: &'a SimRng,
    tick: u64,
}

/// Scratch of [`steer`]'s tasks, kept per thread.
struct Scratch {
    hits: Hits,
    lanes: Lanes,
    /// Flockers' random vectors for the task's slots.
    nudges: Vec<DVec2>,
    /// The neighbourhood totals of one cell's Flockers birds, in slot order.
    sums: Vec<Totals>,
    /// Where those birds sit in the cell.
    at: Vec<usize>,
    /// Those birds as [`flockers_totals`] takes them.
    probes: Vec<Probe>,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            hits: hit_buffer(),
            lanes: Lanes::default(),
            nudges: Vec::new(),
            sums: Vec::new(),
            at: Vec::new(),
            probes: Vec::new(),
        }
    }
}

impl Flock<'_> {
    /// Steers the birds in slots `offset..offset + out.len()`, one of [`steer`]'s tasks.
    fn steer_task(&self, offset: usize, out: &mut [DVec2], scratch: &mut Scratch) {
        // Random vectors for a few thousand birds at a time keep the scratch small at 1M
        // birds; a cell split between two pieces just fills its block twice.
        for (piece, out) in out.chunks_mut(4096).enumerate() {
            let start = offset + 4096 * piece;
            let end = start + out.len();
            self.nudges(start..end, &mut scratch.nudges);
            // The cells follow each other in the index: one search for the piece's first
            // cell, then a walk (a search per cell was 1% of a tick).
            let nx = self.grid.dims().0;
            let (mut cx, mut cy) = self.grid.cell_of_slot(start);
            let mut k = start;
            while k < end {
                let stop = self.grid.cell_slots(cx, cy).end.min(end);
                if stop > k {
                    let part = &mut out[k - start..stop - start];
                    self.steer_cell(cx, cy, k, part, start, scratch);
                    k = stop;
                }
                cx += 1;
                if cx == nx {
                    (cx, cy) = (0, cy + 1);
                }
            }
        }
    }

    fn is_flockers(&self, item: &GridItem<Boid>) -> bool {
        self.params[item.data.pop as usize]
            .as_ref()
            .is_some_and(|p| p.model == FlockingModel::Flockers)
    }

    /// MASON's random term ([`randomness4`]) of the birds in `slots`, from each bird's own
    /// stream, eight streams at a time; only those of Flockers birds are read (eight birds
    /// without one are skipped: their values are then zero).
    fn nudges(&self, slots: std::ops::Range<usize>, out: &mut Vec<DVec2>) {
        let items = &self.grid.items()[slots];
        out.clear();
        out.resize(items.len(), DVec2::ZERO);
        for (birds, out) in items.chunks(8).zip(out.chunks_mut(8)) {
            if !birds.iter().any(|b| self.is_flockers(b)) {
                continue;
            }
            let ids = std::array::from_fn(|i| birds[i.min(birds.len() - 1)].id);
            let [x, y] = self.rng.first_units8(ids, self.tick, Purpose::DECIDE);
            for (v, nudge) in out.iter_mut().zip(randomness8(&x, &y)) {
                *v = nudge;
            }
        }
    }

    /// Steers the birds in slots `first..first + out.len()`, all in cell `(cx, cy)`;
    /// `s.nudges` starts at slot `task_start`.
    ///
    /// Every Flockers bird of a cell scans the same candidates, the cell's 3x3 block, so the
    /// block is copied once into lanes relative to the cell's corner and one call of
    /// [`flockers_totals`] sums it for every bird. The cell's sums come first and its updates
    /// after, four birds at a time ([`flockers4`]): each update is a chain of divisions and a
    /// square root on its bird's sums, and run side by side the chains of different birds
    /// overlap instead of each stalling the next bird's sums. The sums go straight into the
    /// cell's list, read only after the cell's last bird: read back at once, the pairs of
    /// `f32` written one by one stalled each bird on a failed store-to-load forwarding (about
    /// 5% of a tick).
    fn steer_cell(
        &self,
        cx: usize,
        cy: usize,
        first: usize,
        out: &mut [DVec2],
        task_start: usize,
        s: &mut Scratch,
    ) {
        let items = &self.grid.items()[first..first + out.len()];
        let nudges = &s.nudges[first - task_start..][..out.len()];
        let origin = DVec2::new(cx as f64, cy as f64) * self.grid.cell_size();
        s.at.clear();
        s.probes.clear();
        for (k, (me, v)) in items.iter().zip(out.iter_mut()).enumerate() {
            let Some(p) = &self.params[me.data.pop as usize] else {
                *v = DVec2::ZERO;
                continue;
            };
            match p.model {
                FlockingModel::Reynolds => {
                    *v = reynolds(self.grid, me.id, me.pos, me.data.vel, p, &mut s.hits);
                }
                FlockingModel::Flockers => {
                    s.at.push(k);
                    s.probes.push(Probe::new(me.pos - origin, p.neighborhood));
                }
            }
        }
        if s.at.is_empty() {
            return;
        }
        s.sums.clear();
        s.sums.resize(s.at.len(), [0.0; 7]);
        let block = Fill::Block {
            grid: self.grid,
            origin,
            radius: self.radius,
        };
        if !flockers_totals(&mut s.lanes, block, &s.probes, &mut s.sums) {
            // A torus too small for a 3x3 block of distinct cells: each bird's own
            // neighbours, at their nearest images.
            for ((&k, probe), sums) in s.at.iter().zip(&mut s.probes).zip(&mut s.sums) {
                let me = &items[k];
                let radius = self.params[me.data.pop as usize]
                    .as_ref()
                    .expect("only Flockers birds are listed")
                    .neighborhood;
                s.lanes.fill_around(self.grid, me.pos, radius);
                *probe = Probe::new(DVec2::ZERO, radius);
                flockers_totals(
                    &mut s.lanes,
                    Fill::Filled,
                    std::slice::from_ref(probe),
                    std::slice::from_mut(sums),
                );
            }
        }
        update_birds(&s.at, &s.sums, items, self.params, nudges, out);
    }
}

/// A sum over the neighbours of one bird.
trait Accumulate {
    fn add(&mut self, other: &GridItem<Boid>, delta: DVec2, d2: f64);
}

/// Adds every bird within `radius` of `center` into `acc`.
///
/// The common case walks contiguous runs of the index with the accumulator in local
/// variables; the rare small-torus case goes through `for_each_within` in a separate,
/// non-inlined function. Keeping the two apart matters: if the accumulator's address escaped
/// into a callback anywhere in this function, the compiler would keep it in memory in the
/// hot loop too (measured: about 2x slower).
/// Scratch for [`gather`]: room for a batch of hit indices, allocated once per parallel
/// task.
type Hits = Vec<u32>;

const HIT_BATCH: usize = 256;

fn hit_buffer() -> Hits {
    vec![0; HIT_BATCH]
}

#[inline(always)]
fn gather<A: Accumulate>(
    grid: &UniformGrid<Boid>,
    center: DVec2,
    radius: f64,
    mut acc: A,
    hits: &mut Hits,
) -> A {
    let Some(runs) = grid.runs(center, radius) else {
        return gather_wrapped(grid, center, radius, acc);
    };
    // Two passes: a branch-free filter over the coordinate arrays compacts the indices of the
    // hits (about a third of the candidates, in no predictable pattern), then the
    // accumulator runs over hits only. A branch per candidate mispredicts often, and each
    // miss throws away the divisions in flight (measured: the filter-first version is about
    // 1.5x faster).
    let hits = &mut hits[..HIT_BATCH];
    let items = grid.items();
    let r2 = radius * radius;
    for (range, offset) in runs {
        let rel = offset - center;
        let flush = |k: usize, acc: &mut A, hits: &[u32]| {
            for &j in &hits[..k] {
                let other = &items[j as usize];
                let d = other.pos + rel;
                acc.add(other, d, d.length_squared());
            }
        };
        let mut k = 0usize;
        for i in range {
            let d = items[i].pos + rel;
            hits[k] = i as u32;
            k += usize::from(d.length_squared() <= r2);
            if k == HIT_BATCH {
                flush(k, &mut acc, hits);
                k = 0;
            }
        }
        flush(k, &mut acc, hits);
    }
    acc
}

#[inline(never)]
fn gather_wrapped<A: Accumulate>(
    grid: &UniformGrid<Boid>,
    center: DVec2,
    radius: f64,
    mut acc: A,
) -> A {
    grid.for_each_within(center, radius, |other, d, d2| acc.add(other, d, d2));
    acc
}

struct ReynoldsSums {
    me: u32,
    sep2: f64,
    n: u32,
    cohere: DVec2,
    separate: DVec2,
    matched: DVec2,
}

impl Accumulate for ReynoldsSums {
    #[inline(always)]
    fn add(&mut self, other: &GridItem<Boid>, heading: DVec2, d2: f64) {
        if other.id == self.me {
            return;
        }
        self.n += 1;
        self.cohere += heading;
        if d2 < self.sep2 {
            self.separate -= heading;
        }
        self.matched += other.data.vel;
    }
}

fn reynolds(
    grid: &UniformGrid<Boid>,
    me: u32,
    pos: DVec2,
    vel: DVec2,
    p: &Flocking,
    hits: &mut Hits,
) -> DVec2 {
    let start = ReynoldsSums {
        me,
        sep2: p.separation * p.separation,
        n: 0,
        cohere: DVec2::ZERO,
        separate: DVec2::ZERO,
        matched: DVec2::ZERO,
    };
    let s = gather(grid, pos, p.visual_distance, start, hits);
    let n = f64::from(s.n.max(1));
    let v = (vel
        + s.cohere / n * p.cohere
        + s.separate / n * p.separate
        + s.matched / n * p.match_factor)
        / 2.0;
    v.try_normalize().unwrap_or(vel)
}

/// Flockers' candidates in single precision, ready for SIMD lanes: positions relative to a
/// reference point, and velocities, padded to a whole number of lanes with a point far
/// outside any neighbourhood.
///
/// The first `len` entries of each column are the candidates (and, once padded, the
/// padding); the columns only grow, so refilling them writes each value once (no zeroing
/// before the copy), and entries past `len` are scratch.
#[derive(Default)]
struct Lanes {
    x: Vec<f32>,
    y: Vec<f32>,
    vx: Vec<f32>,
    vy: Vec<f32>,
    len: usize,
}

/// One vector's worth of one coordinate of the candidates.
type Chunk = [f32; LANES];

/// Lanes of [`flockers_totals`]: candidate `j` of a block is summed in lane `j % LANES`.
/// Changing it changes the order of every sum, hence every Flockers result.
const LANES: usize = 8;

/// Where unused lanes sit: its squared distance is finite in `f32` and beyond any radius,
/// its fourth power overflows to infinity, so its avoidance weight is exactly zero.
const FAR: f32 = 1e18;

impl Lanes {
    fn clear(&mut self) {
        self.len = 0;
    }

    /// Room for `len` candidates.
    #[inline]
    fn room(&mut self, len: usize) {
        if self.x.len() < len {
            for column in [&mut self.x, &mut self.y, &mut self.vx, &mut self.vy] {
                column.resize(len, 0.0);
            }
        }
    }

    /// Entries `start..end` of the four columns.
    #[inline(always)]
    fn columns(&mut self, start: usize, end: usize) -> Columns<'_> {
        [
            &mut self.x[start..end],
            &mut self.y[start..end],
            &mut self.vx[start..end],
            &mut self.vy[start..end],
        ]
    }

    #[inline]
    fn push(&mut self, rel: DVec2, vel: DVec2) {
        let at = self.len;
        self.room(at + 1);
        self.len += 1;
        let [x, y, vx, vy] = self.columns(at, at + 1);
        x[0] = rel.x as f32;
        y[0] = rel.y as f32;
        vx[0] = vel.x as f32;
        vy[0] = vel.y as f32;
    }

    /// The candidates' x, y, velocity x and velocity y, [`LANES`] at a time: arrays of whole
    /// chunks (the lanes are padded to a whole number of them), so that the kernels' loads
    /// need no bounds checks.
    #[inline(always)]
    fn vectors(&self) -> impl Iterator<Item = (((&Chunk, &Chunk), &Chunk), &Chunk)> {
        fn chunks(column: &[f32], len: usize) -> std::slice::Iter<'_, Chunk> {
            column[..len].as_chunks::<LANES>().0.iter()
        }
        chunks(&self.x, self.len)
            .zip(chunks(&self.y, self.len))
            .zip(chunks(&self.vx, self.len))
            .zip(chunks(&self.vy, self.len))
    }

    fn pad(&mut self) {
        let (start, end) = (self.len, self.len.next_multiple_of(LANES));
        self.room(end);
        self.len = end;
        let [x, y, vx, vy] = self.columns(start, end);
        x.fill(FAR);
        y.fill(FAR);
        vx.fill(0.0);
        vy.fill(0.0);
    }

    /// Every bird within `radius` of any point of the cell with corner `origin`, relative to
    /// `origin`, in the index's run order, each run converted by `copy`. `false` when the
    /// torus is too small for a block of distinct cells (nothing is filled then).
    #[inline(always)]
    fn fill_block(
        &mut self,
        grid: &UniformGrid<Boid>,
        origin: DVec2,
        radius: f64,
        copy: impl Fn(&[GridItem<Boid>], std::ops::Range<usize>, DVec2, Columns<'_>),
    ) -> bool {
        self.clear();
        let Some(runs) = grid.runs(origin + grid.cell_size() * 0.5, radius) else {
            return false;
        };
        let items = grid.items();
        for (range, offset) in runs {
            let start = self.len;
            let end = start + range.len().next_multiple_of(QUAD);
            self.room(end);
            self.len = start + range.len();
            copy(items, range, offset - origin, self.columns(start, end));
        }
        self.pad();
        true
    }

    /// The birds within `radius` of `center`, relative to `center`.
    fn fill_around(&mut self, grid: &UniformGrid<Boid>, center: DVec2, radius: f64) {
        self.clear();
        grid.for_each_within(center, radius, |it, delta, _| self.push(delta, it.data.vel));
        self.pad();
    }
}

/// Where [`Lanes::fill_block`] writes one run: x, y, velocity x and velocity y, each the
/// run's length rounded up to [`QUAD`].
type Columns<'a> = [&'a mut [f32]; 4];

/// How many lanes a run copy may write: a run's length rounded up to it. The lanes past the
/// run's end are overwritten by the next run or the padding.
const QUAD: usize = 4;

/// Items `run` of the index into the first `run.len()` entries of `to`, positions shifted
/// by `shift`, all in single precision: [`Lanes::fill_block`]'s copy on any CPU.
#[inline(always)]
fn copy_run(items: &[GridItem<Boid>], run: std::ops::Range<usize>, shift: DVec2, to: Columns<'_>) {
    let run = &items[run];
    let [x, y, vx, vy] = to;
    // One array at a time: each loop is a plain copy with a conversion.
    for (it, x) in run.iter().zip(x) {
        *x = (it.pos.x + shift.x) as f32;
    }
    for (it, y) in run.iter().zip(y) {
        *y = (it.pos.y + shift.y) as f32;
    }
    for (it, vx) in run.iter().zip(vx) {
        *vx = it.data.vel.x as f32;
    }
    for (it, vy) in run.iter().zip(vy) {
        *vy = it.data.vel.y as f32;
    }
}

/// The per-lane sums of [`flockers_totals`] after the count: offsets x and y, velocities x
/// and y, avoidance x and y.
type LaneSums = [[f32; LANES]; 6];

/// Lanes `first..first + 4` of [`flockers_totals`]'s per-lane sums, for CPUs without AVX
/// and FMA:
/// two passes of four lanes rather than one of eight, since the eight-lane accumulators
/// spill the sixteen 128-bit registers (measured 1.5x slower). Each lane sees the same
/// candidates in the same order as in [`avx::lane_totals`]'s single pass. Returns how many
/// of those lanes' candidates are within the radius.
#[inline(always)]
fn lane_sums(lanes: &Lanes, me: [f32; 2], r2: f32, first: usize, out: &mut LaneSums) -> u32 {
    let (px, py, r2, one) = (
        f32x4::splat(me[0]),
        f32x4::splat(me[1]),
        f32x4::splat(r2),
        f32x4::splat(1.0),
    );
    let [mut ax, mut ay, mut vx, mut vy, mut wx, mut wy] = [f32x4::splat(0.0); 6];
    let mut n = 0;
    let load = |chunk: &[f32; LANES]| f32x4::new(std::array::from_fn(|i| chunk[first + i]));
    for (((x, y), u), v) in lanes.vectors() {
        let (x, y, u, v) = (load(x), load(y), load(u), load(v));
        let ox = px - x;
        let oy = py - y;
        let d2 = simd::fused_mul_add4(ox, ox, oy * oy);
        let hit = d2.simd_le(r2);
        n += u32::from(HITS[hit.to_bitmask() as usize]);
        // Offsets masked once serve both their sum and the avoidance term, whose weight
        // then needs no mask: a candidate outside the radius adds +0.0 either way.
        let (ox, oy) = (hit & ox, hit & oy);
        ax += ox;
        ay += oy;
        vx += hit & u;
        vy += hit & v;
        let w = one / simd::fused_mul_add4(d2, d2, one);
        wx = simd::fused_mul_add4(ox, w, wx);
        wy = simd::fused_mul_add4(oy, w, wy);
    }
    for (sum, to) in [ax, ay, vx, vy, wx, wy].into_iter().zip(out.iter_mut()) {
        to[first..first + 4].copy_from_slice(&sum.to_array());
    }
    n
}

/// [`flockers_totals`] of one probe on any CPU: two passes of [`lane_sums`].
fn baseline_totals(lanes: &Lanes, probe: &Probe) -> Totals {
    let mut sums: LaneSums = [[0.0; LANES]; 6];
    let n = lane_sums(lanes, probe.me, probe.r2, 0, &mut sums)
        + lane_sums(lanes, probe.me, probe.r2, 4, &mut sums);
    let t = sums.map(|l| total(&l));
    [n as f32, t[0], t[1], t[2], t[3], t[4], t[5]]
}

/// How many bits each byte has set: lanes within the radius from a comparison's sign mask.
const HITS: [u8; 256] = {
    let mut t = [0; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (i as u32).count_ones() as u8;
        i += 1;
    }
    t
};

/// Flockers' neighbourhood sums of one bird: how many birds lie within the radius (itself
/// included), and the sums of their offsets towards it (x, y), of their velocities (x, y),
/// and of MASON's avoidance term `offset / (d^4 + 1)` (x, y).
///
/// In `f32` (krABMaga's precision), candidate `j` summed in lane `j % 8` ([`lane_sums`]),
/// then each sum's lanes added in the fixed tree of [`total`], so the result is the same on
/// every CPU and thread count. The count is an integer, from the comparisons' sign masks,
/// turned into `f32` once at the end. The bird itself is among the candidates: it adds one
/// to the count and its own velocity to the consistency sum (MASON's query returns it too),
/// and exactly zero to the offset sums.
type Totals = [f32; 7];

/// A bird whose neighbourhood [`flockers_totals`] sums: its position relative to the
/// lanes' reference point and its squared radius, in single precision.
#[derive(Clone, Copy, Debug)]
struct Probe {
    me: [f32; 2],
    r2: f32,
}

impl Probe {
    fn new(me: DVec2, radius: f64) -> Probe {
        let r = radius as f32;
        Probe {
            me: [me.x as f32, me.y as f32],
            r2: r * r,
        }
    }
}

/// What [`flockers_totals`] sums over.
#[derive(Clone, Copy)]
enum Fill<'g> {
    /// The block of the cell with corner `origin` ([`Lanes::fill_block`]), copied into the
    /// lanes first.
    Block {
        grid: &'g UniformGrid<Boid>,
        origin: DVec2,
        radius: f64,
    },
    /// What the lanes already hold.
    Filled,
}

impl Fill<'_> {
    /// Fills `lanes` as `self` says, with `copy` converting each run of a block. `false`
    /// where [`Lanes::fill_block`] is.
    #[inline(always)]
    fn into_lanes(
        self,
        lanes: &mut Lanes,
        copy: impl Fn(&[GridItem<Boid>], std::ops::Range<usize>, DVec2, Columns<'_>),
    ) -> bool {
        match self {
            Fill::Block {
                grid,
                origin,
                radius,
            } => lanes.fill_block(grid, origin, radius, copy),
            Fill::Filled => true,
        }
    }
}

/// Flockers' neighbourhood [`Totals`] of each of `probes` over the candidates `fill` puts
/// into `lanes`, written into `out` in order. `false`, with nothing summed, when the torus is
/// too small for a block ([`Lanes::fill_block`]).
///
/// Eight-lane vectors where the CPU has AVX and FMA, chosen at run time so that a default
/// build (which may only assume SSE2) gets them too; every way gives the same bits (the
/// squared distance, the avoidance weight's denominator and the avoidance sums are fused
/// multiply-adds in every version, see [`simd::fused_mul_add4`]). One call per cell, for
/// the block's copy and all its birds' sums: the AVX function cannot be inlined into code
/// compiled without AVX, so calling it per bird paid a call and its set-up every time.
#[inline]
fn flockers_totals(
    lanes: &mut Lanes,
    fill: Fill<'_>,
    probes: &[Probe],
    out: &mut [Totals],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if simd::avx_fma() {
        #[allow(
            unsafe_code,
            reason = "the one call into code compiled for a CPU feature found at run time"
        )]
        // SAFETY: `avx::totals` needs AVX and FMA and nothing else; `simd::avx_fma()` is
        // true only when the CPU has both.
        return unsafe { avx::totals(lanes, fill, probes, out) };
    }
    if !fill.into_lanes(lanes, copy_run) {
        return false;
    }
    for (probe, out) in probes.iter().zip(out) {
        *out = baseline_totals(lanes, probe);
    }
    true
}

/// One sum's eight lanes added in a fixed pairwise tree: three dependent additions rather
/// than eight.
#[inline(always)]
fn total(l: &[f32; LANES]) -> f32 {
    let quad = [l[0] + l[4], l[1] + l[5], l[2] + l[6], l[3] + l[7]];
    (quad[0] + quad[2]) + (quad[1] + quad[3])
}

/// [`lane_sums`] and [`total`] in 256-bit AVX and FMA instructions, all eight lanes in one
/// pass; used wherever the CPU has both, whatever the build assumes. `wide` picks its vector
/// type when it is compiled, so in a default build its eight-lane type is two 128-bit halves
/// even inside a function compiled for AVX; hence the `core::arch` intrinsics, which are safe
/// to call inside such a function. The operations and their order are [`lane_sums`]' lane by
/// lane, so the bits are the same (tested).
#[cfg(target_arch = "x86_64")]
mod avx {
    use super::{Boid, Columns, Fill, Flocking, Lanes, Probe, QUAD, Totals};
    use agora_engine::prelude::*;
    use std::arch::x86_64::{
        __m128, __m256, __m256d, _CMP_GT_OQ, _CMP_LE_OQ, _CMP_LT_OQ, _mm_add_ps, _mm_movehl_ps,
        _mm_movelh_ps, _mm_setr_ps, _mm_setzero_ps, _mm_shuffle_ps, _mm_unpackhi_ps,
        _mm_unpacklo_ps, _mm256_add_pd, _mm256_add_ps, _mm256_and_pd, _mm256_and_ps,
        _mm256_blendv_pd, _mm256_castps256_ps128, _mm256_cmp_pd, _mm256_cmp_ps, _mm256_cvtpd_ps,
        _mm256_cvtps_pd, _mm256_div_pd, _mm256_div_ps, _mm256_extractf128_ps, _mm256_fmadd_ps,
        _mm256_max_pd, _mm256_mul_pd, _mm256_mul_ps, _mm256_permute2f128_pd, _mm256_set1_pd,
        _mm256_set1_ps, _mm256_setr_pd, _mm256_setr_ps, _mm256_setzero_pd, _mm256_setzero_ps,
        _mm256_sqrt_pd, _mm256_sub_pd, _mm256_sub_ps, _mm256_unpackhi_pd, _mm256_unpacklo_pd,
    };

    #[target_feature(enable = "avx")]
    fn load(c: &[f32; 8]) -> __m256 {
        _mm256_setr_ps(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7])
    }

    /// Lanes `i` and `i + 4` of `v` added: the first level of [`super::total`]'s tree.
    #[target_feature(enable = "avx")]
    fn quad(v: __m256) -> __m128 {
        _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v))
    }

    /// A 4x4 matrix of rows `a` to `d` transposed: lane `j` of column `i` is lane `i` of
    /// row `j`.
    #[target_feature(enable = "avx")]
    fn transpose4(a: __m128, b: __m128, c: __m128, d: __m128) -> [__m128; 4] {
        let (ab_lo, cd_lo) = (_mm_unpacklo_ps(a, b), _mm_unpacklo_ps(c, d));
        let (ab_hi, cd_hi) = (_mm_unpackhi_ps(a, b), _mm_unpackhi_ps(c, d));
        [
            _mm_movelh_ps(ab_lo, cd_lo),
            _mm_movehl_ps(cd_lo, ab_lo),
            _mm_movelh_ps(ab_hi, cd_hi),
            _mm_movehl_ps(cd_hi, ab_hi),
        ]
    }

    /// [`super::total`] of four sums at once from their [`quad`]s: the quads transposed so
    /// that one vertical addition does each remaining level of the tree for all four.
    #[target_feature(enable = "avx")]
    fn totals4(a: __m128, b: __m128, c: __m128, d: __m128) -> [f32; 4] {
        // Lane `j` of `r[i]` is quad element `i` of sum `j`.
        let r = transpose4(a, b, c, d);
        bytemuck::cast(_mm_add_ps(_mm_add_ps(r[0], r[2]), _mm_add_ps(r[1], r[3])))
    }

    /// [`super::copy_run`] in AVX: four birds' positions and velocities converted by two
    /// 256-bit conversions each, then split into their columns.
    #[target_feature(enable = "avx")]
    #[inline]
    fn copy_run(
        items: &[GridItem<Boid>],
        run: std::ops::Range<usize>,
        shift: DVec2,
        to: Columns<'_>,
    ) {
        // Whole groups of four, reading past the run's end where the index goes on (the
        // extra lanes are scratch): a remainder loop per run mispredicted its exit.
        let quads = run.len().next_multiple_of(QUAD);
        let Some(run) = items.get(run.start..run.start + quads) else {
            return super::copy_run(items, run, shift, to);
        };
        let [x, y, vx, vy] = to;
        let s = _mm256_setr_pd(shift.x, shift.y, shift.x, shift.y);
        let pair = |a: DVec2, b: DVec2| _mm256_setr_pd(a.x, a.y, b.x, b.y);
        let split = |ab: __m128, cd: __m128| -> [[f32; 4]; 2] {
            [
                bytemuck::cast(_mm_shuffle_ps::<0b10_00_10_00>(ab, cd)),
                bytemuck::cast(_mm_shuffle_ps::<0b11_01_11_01>(ab, cd)),
            ]
        };
        for ((((q, x), y), vx), vy) in run
            .as_chunks::<QUAD>()
            .0
            .iter()
            .zip(x.as_chunks_mut::<QUAD>().0)
            .zip(y.as_chunks_mut::<QUAD>().0)
            .zip(vx.as_chunks_mut::<QUAD>().0)
            .zip(vy.as_chunks_mut::<QUAD>().0)
        {
            let p = |i: usize| _mm256_cvtpd_ps(_mm256_add_pd(pair(q[i].pos, q[i + 1].pos), s));
            let v = |i: usize| _mm256_cvtpd_ps(pair(q[i].data.vel, q[i + 1].data.vel));
            [*x, *y] = split(p(0), p(2));
            [*vx, *vy] = split(v(0), v(2));
        }
    }

    /// [`super::flockers_totals`] in AVX and FMA.
    #[target_feature(enable = "avx,fma")]
    pub(super) fn totals(
        lanes: &mut Lanes,
        fill: Fill<'_>,
        probes: &[Probe],
        out: &mut [Totals],
    ) -> bool {
        if !fill.into_lanes(lanes, |items, run, shift, to| {
            copy_run(items, run, shift, to)
        }) {
            return false;
        }
        for (probe, out) in probes.iter().zip(out) {
            lane_totals(lanes, probe.me, probe.r2, out);
        }
        true
    }

    #[target_feature(enable = "avx,fma")]
    #[inline]
    pub(super) fn lane_totals(lanes: &Lanes, me: [f32; 2], r2: f32, out: &mut Totals) {
        let (px, py, r2, one) = (
            _mm256_set1_ps(me[0]),
            _mm256_set1_ps(me[1]),
            _mm256_set1_ps(r2),
            _mm256_set1_ps(1.0),
        );
        let [mut n, mut ax, mut ay, mut vx, mut vy, mut wx, mut wy] = [_mm256_setzero_ps(); 7];
        for (((x, y), u), v) in lanes.vectors() {
            let (x, y, u, v) = (load(x), load(y), load(u), load(v));
            let ox = _mm256_sub_ps(px, x);
            let oy = _mm256_sub_ps(py, y);
            let d2 = _mm256_fmadd_ps(ox, ox, _mm256_mul_ps(oy, oy));
            let hit = _mm256_cmp_ps::<_CMP_LE_OQ>(d2, r2);
            // One and zero by lane: the count is a sum of whole numbers (exact, so equal to
            // the baseline's count of sign bits), and `u * 1 + vx` and `u * 0 + vx` round as
            // the baseline's `vx + (hit & u)` does (`vx` starts at +0 and a sum of finite
            // numbers never rounds to -0, so adding -0 instead of +0 changes nothing).
            let hit_one = _mm256_and_ps(hit, one);
            n = _mm256_add_ps(n, hit_one);
            let (ox, oy) = (_mm256_and_ps(hit, ox), _mm256_and_ps(hit, oy));
            ax = _mm256_add_ps(ax, ox);
            ay = _mm256_add_ps(ay, oy);
            vx = _mm256_fmadd_ps(hit_one, u, vx);
            vy = _mm256_fmadd_ps(hit_one, v, vy);
            let w = _mm256_div_ps(one, _mm256_fmadd_ps(d2, d2, one));
            wx = _mm256_fmadd_ps(ox, w, wx);
            wy = _mm256_fmadd_ps(oy, w, wy);
        }
        let first = totals4(quad(n), quad(ax), quad(ay), quad(vx));
        let rest = totals4(quad(vy), quad(wx), quad(wy), _mm_setzero_ps());
        out[..4].copy_from_slice(&first);
        out[4..].copy_from_slice(&rest[..3]);
    }

    /// Four birds' `x` and `y` lanes from their vectors.
    #[target_feature(enable = "avx")]
    fn split(v: [DVec2; 4]) -> [__m256d; 2] {
        let (a, b) = (
            _mm256_setr_pd(v[0].x, v[0].y, v[2].x, v[2].y),
            _mm256_setr_pd(v[1].x, v[1].y, v[3].x, v[3].y),
        );
        [_mm256_unpacklo_pd(a, b), _mm256_unpackhi_pd(a, b)]
    }

    /// [`split`] undone.
    #[target_feature(enable = "avx")]
    fn join(x: __m256d, y: __m256d) -> [DVec2; 4] {
        // Birds 0 and 2, then 1 and 3, as x, y pairs.
        let (even, odd) = (_mm256_unpacklo_pd(x, y), _mm256_unpackhi_pd(x, y));
        let first: [f64; 4] = bytemuck::cast(_mm256_permute2f128_pd::<0x20>(even, odd));
        let last: [f64; 4] = bytemuck::cast(_mm256_permute2f128_pd::<0x31>(even, odd));
        [
            DVec2::new(first[0], first[1]),
            DVec2::new(first[2], first[3]),
            DVec2::new(last[0], last[1]),
            DVec2::new(last[2], last[3]),
        ]
    }

    /// [`super::randomness8`] in AVX: [`super::randomness4`]'s operations in the same
    /// order, four lanes per vector.
    #[target_feature(enable = "avx")]
    pub(super) fn randomness8(x: &[f64; 8], y: &[f64; 8]) -> [DVec2; 8] {
        let (one, two, to) = (
            _mm256_set1_pd(1.0),
            _mm256_set1_pd(2.0),
            _mm256_set1_pd(0.05),
        );
        let (zero, inf) = (_mm256_setzero_pd(), _mm256_set1_pd(f64::INFINITY));
        let half = |h: usize| {
            let lanes = |a: &[f64; 8]| {
                let v = _mm256_setr_pd(a[4 * h], a[4 * h + 1], a[4 * h + 2], a[4 * h + 3]);
                _mm256_sub_pd(_mm256_mul_pd(v, two), one)
            };
            let (x, y) = (lanes(x), lanes(y));
            let length = _mm256_sqrt_pd(_mm256_add_pd(_mm256_mul_pd(x, x), _mm256_mul_pd(y, y)));
            let rcp = _mm256_div_pd(one, length);
            // Finite and positive, as `DVec2::try_normalize` asks.
            let ok = _mm256_and_pd(
                _mm256_cmp_pd::<_CMP_GT_OQ>(rcp, zero),
                _mm256_cmp_pd::<_CMP_LT_OQ>(rcp, inf),
            );
            let unit = |v: __m256d| _mm256_and_pd(ok, _mm256_mul_pd(_mm256_mul_pd(v, rcp), to));
            join(unit(x), unit(y))
        };
        let [a, b] = [half(0), half(1)];
        [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]
    }

    /// [`super::update_birds`] in AVX.
    #[target_feature(enable = "avx")]
    pub(super) fn update_birds(
        at: &[usize],
        sums: &[Totals],
        items: &[GridItem<Boid>],
        params: &[Option<Flocking>],
        nudges: &[DVec2],
        out: &mut [DVec2],
    ) {
        super::update_birds_with(at, sums, items, params, nudges, out, |s, l, p, n| {
            flockers4(s, l, p, n)
        });
    }

    /// [`super::flockers4`] in AVX: the same operations in the same order, four lanes per
    /// vector.
    #[target_feature(enable = "avx")]
    #[inline]
    fn flockers4(
        sums: [&Totals; 4],
        last: [DVec2; 4],
        p: [&Flocking; 4],
        nudge: [DVec2; 4],
    ) -> [DVec2; 4] {
        // Each bird's seven sums as two rows of four (0 to 3 and 3 to 6), transposed into
        // one vector per sum.
        let row =
            |t: &Totals, from: usize| _mm_setr_ps(t[from], t[from + 1], t[from + 2], t[from + 3]);
        let [n, ax, ay, vx] = transpose4(
            row(sums[0], 0),
            row(sums[1], 0),
            row(sums[2], 0),
            row(sums[3], 0),
        );
        let [_, vy, wx, wy] = transpose4(
            row(sums[0], 3),
            row(sums[1], 3),
            row(sums[2], 3),
            row(sums[3], 3),
        );
        let [n, ax, ay, vx, vy, wx, wy] = [n, ax, ay, vx, vy, wx, wy].map(|v| _mm256_cvtps_pd(v));
        // Most cells hold one population: one broadcast per parameter then.
        let same = p.iter().all(|q| std::ptr::eq(*q, p[0]));
        let param = |f: fn(&Flocking) -> f64| {
            if same {
                _mm256_set1_pd(f(p[0]))
            } else {
                _mm256_setr_pd(f(p[0]), f(p[1]), f(p[2]), f(p[3]))
            }
        };
        let one = _mm256_set1_pd(1.0);
        let per_bird = _mm256_div_pd(one, _mm256_max_pd(n, one));
        let to_cohesion = _mm256_mul_pd(_mm256_set1_pd(-0.1), per_bird);
        let per_other = _mm256_div_pd(
            _mm256_set1_pd(400.0),
            _mm256_max_pd(_mm256_sub_pd(n, one), one),
        );
        let [cohesion, avoid, consistency, randomness, momentum] = [
            param(|p| p.cohesion),
            param(|p| p.avoidance),
            param(|p| p.consistency),
            param(|p| p.randomness),
            param(|p| p.momentum),
        ];
        let step = |offsets, velocities, avoidance, nudge, last| {
            let sum = _mm256_add_pd(
                _mm256_mul_pd(cohesion, _mm256_mul_pd(offsets, to_cohesion)),
                _mm256_mul_pd(avoid, _mm256_mul_pd(avoidance, per_other)),
            );
            let sum = _mm256_add_pd(
                sum,
                _mm256_mul_pd(consistency, _mm256_mul_pd(velocities, per_bird)),
            );
            let sum = _mm256_add_pd(sum, _mm256_mul_pd(randomness, nudge));
            _mm256_add_pd(sum, _mm256_mul_pd(momentum, last))
        };
        let ([nx, ny], [lx, ly]) = (split(nudge), split(last));
        let dx = step(ax, vx, wx, nx, lx);
        let dy = step(ay, vy, wy, ny, ly);
        let len = _mm256_sqrt_pd(_mm256_add_pd(_mm256_mul_pd(dx, dx), _mm256_mul_pd(dy, dy)));
        let scale = _mm256_div_pd(param(|p| p.jump), len);
        let moving = _mm256_cmp_pd::<_CMP_GT_OQ>(len, _mm256_setzero_pd());
        let scaled = |d: __m256d| _mm256_blendv_pd(d, _mm256_mul_pd(d, scale), moving);
        join(scaled(dx), scaled(dy))
    }
}

/// MASON's random term ([`randomness4`]) of eight birds from their two `unit_f64` draws,
/// mapped to [-1, 1) first; in AVX where the CPU has it (same bits, tested).
#[inline]
fn randomness8(x: &[f64; 8], y: &[f64; 8]) -> [DVec2; 8] {
    #[cfg(target_arch = "x86_64")]
    if simd::avx() {
        #[allow(
            unsafe_code,
            reason = "the one call into code compiled for a CPU feature found at run time"
        )]
        // SAFETY: `avx::randomness8` needs AVX and nothing else; `simd::avx()` is true only
        // when the CPU has it.
        return unsafe { avx::randomness8(x, y) };
    }
    randomness8_in_halves(x, y)
}

/// [`randomness8`] on any CPU: two calls of [`randomness4`].
fn randomness8_in_halves(x: &[f64; 8], y: &[f64; 8]) -> [DVec2; 8] {
    let half = |h: usize| {
        let lanes =
            |a: &[f64; 8]| f64x4::new(std::array::from_fn(|i| a[4 * h + i])) * 2.0 - f64x4::ONE;
        randomness4(lanes(x), lanes(y))
    };
    let [a, b] = [half(0), half(1)];
    std::array::from_fn(|i| if i < 4 { a[i] } else { b[i - 4] })
}

/// The new velocities `out[at[i]]` of a cell's Flockers birds `items[at[i]]` from their
/// neighbourhood `sums[i]`, four birds at a time ([`flockers4`]); in AVX where the CPU has it
/// (same bits, tested). `nudges` are the cell's random terms, `params` every population's.
#[inline]
fn update_birds(
    at: &[usize],
    sums: &[Totals],
    items: &[GridItem<Boid>],
    params: &[Option<Flocking>],
    nudges: &[DVec2],
    out: &mut [DVec2],
) {
    #[cfg(target_arch = "x86_64")]
    if simd::avx() {
        #[allow(
            unsafe_code,
            reason = "the one call into code compiled for a CPU feature found at run time"
        )]
        // SAFETY: `avx::update_birds` needs AVX and nothing else; `simd::avx()` is true only
        // when the CPU has it.
        return unsafe { avx::update_birds(at, sums, items, params, nudges, out) };
    }
    update_birds_with(at, sums, items, params, nudges, out, flockers4);
}

/// [`update_birds`] with `four` as the four-bird update.
#[inline(always)]
fn update_birds_with(
    at: &[usize],
    sums: &[Totals],
    items: &[GridItem<Boid>],
    params: &[Option<Flocking>],
    nudges: &[DVec2],
    out: &mut [DVec2],
    four: impl Fn([&Totals; 4], [DVec2; 4], [&Flocking; 4], [DVec2; 4]) -> [DVec2; 4],
) {
    for (at, sums) in at.chunks(4).zip(sums.chunks(4)) {
        let lane = |i: usize| at[i.min(at.len() - 1)];
        let bird = |i: usize| &items[lane(i)];
        let new = four(
            std::array::from_fn(|i| &sums[i.min(at.len() - 1)]),
            std::array::from_fn(|i| bird(i).data.vel),
            std::array::from_fn(|i| {
                params[bird(i).data.pop as usize]
                    .as_ref()
                    .expect("only Flockers birds are listed")
            }),
            std::array::from_fn(|i| nudges[lane(i)]),
        );
        for (&k, v) in at.iter().zip(new) {
            out[k] = v;
        }
    }
}

/// MASON's random term for four birds from their uniform vectors in [-1, 1)^2 (x and y
/// lanes): each normalised to length 0.05 (zero stays zero), with the operations of
/// `DVec2::try_normalize`.
///
/// Four birds at a time so that their square roots and divisions pipeline instead of each
/// waiting for the last; each lane is IEEE arithmetic, so the bits are the scalar ones.
#[inline(always)]
fn randomness4(x: f64x4, y: f64x4) -> [DVec2; 4] {
    let rcp = f64x4::ONE / (x * x + y * y).sqrt();
    let ok = rcp.is_finite() & rcp.simd_gt(f64x4::ZERO);
    let to = f64x4::splat(0.05);
    lanes2(
        ok.select(x * rcp * to, f64x4::ZERO),
        ok.select(y * rcp * to, f64x4::ZERO),
    )
}

/// Four vectors from their x and y lanes.
fn lanes2(x: f64x4, y: f64x4) -> [DVec2; 4] {
    let (x, y) = (x.to_array(), y.to_array());
    std::array::from_fn(|i| DVec2::new(x[i], y[i]))
}

/// MASON's update from the neighbourhood sums, for four birds at once: cohesion and
/// consistency average over the neighbourhood including the bird itself, avoidance over the
/// others. `last` is each bird's step of the last tick, `nudge` its [`randomness4`] vector.
///
/// Four lanes for the same reason as [`randomness4`]; lane by lane the operations and their
/// order are those of the scalar formula (a test compares them bit for bit).
fn flockers4(
    sums: [&Totals; 4],
    last: [DVec2; 4],
    p: [&Flocking; 4],
    nudge: [DVec2; 4],
) -> [DVec2; 4] {
    let total = |k: usize| f64x4::new(sums.map(|t| f64::from(t[k])));
    let param = |f: fn(&Flocking) -> f64| f64x4::new(p.map(f));
    let (n, one) = (total(0), f64x4::ONE);
    // Reciprocals rather than a division per component: divisions dominated this function.
    let per_bird = one / n.fast_max(one);
    let to_cohesion = f64x4::splat(-0.1) * per_bird;
    let per_other = f64x4::splat(400.0) / (n - one).fast_max(one);
    let weights = [
        param(|p| p.cohesion),
        param(|p| p.avoidance),
        param(|p| p.consistency),
        param(|p| p.randomness),
        param(|p| p.momentum),
    ];
    let step = |offsets: f64x4, velocities: f64x4, avoidance: f64x4, nudge: f64x4, last| {
        let [cohesion, avoid, consistency, randomness, momentum] = weights;
        cohesion * (offsets * to_cohesion)
            + avoid * (avoidance * per_other)
            + consistency * (velocities * per_bird)
            + randomness * nudge
            + momentum * last
    };
    let dx = step(
        total(1),
        total(3),
        total(5),
        f64x4::new(nudge.map(|v| v.x)),
        f64x4::new(last.map(|v| v.x)),
    );
    let dy = step(
        total(2),
        total(4),
        total(6),
        f64x4::new(nudge.map(|v| v.y)),
        f64x4::new(last.map(|v| v.y)),
    );
    let len = (dx * dx + dy * dy).sqrt();
    let scale = param(|p| p.jump) / len;
    let moving = len.simd_gt(f64x4::ZERO);
    lanes2(moving.select(dx * scale, dx), moving.select(dy * scale, dy))
}

/// Each bird moves by its velocity, table by table (component slices split between threads:
/// bevy's parallel iteration cost more than the moves at 10k birds).
fn fly(
    space: Res<Space>,
    index: Res<FlockIndex>,
    mut birds: Query<(&Population, &mut Position, &Velocity), With<Bird>>,
) {
    for (pops, mut pos, vels) in birds
        .contiguous_iter_mut()
        .expect("every flocking component is stored in tables")
    {
        let pos: &mut [Position] = &mut pos;
        par_chunks_mut(pos, |offset, part| {
            let birds = pops[offset..].iter().zip(&vels[offset..]);
            for (pos, (pop, vel)) in part.iter_mut().zip(birds) {
                let Some(params) = &index.params[pop.0 as usize] else {
                    continue;
                };
                let step = match params.model {
                    FlockingModel::Reynolds => vel.0 * params.speed,
                    FlockingModel::Flockers => vel.0,
                };
                pos.0 = space.wrap(pos.0 + step);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_engine::{Boundary, Neighborhood};

    /// [`Totals`] by name, in double precision.
    struct FlockersSums {
        n: f64,
        away: DVec2,
        vel: DVec2,
        avoid: DVec2,
    }

    impl From<&Totals> for FlockersSums {
        fn from(t: &Totals) -> FlockersSums {
            let total = |k: usize| f64::from(t[k]);
            FlockersSums {
                n: total(0),
                away: DVec2::new(total(1), total(2)),
                vel: DVec2::new(total(3), total(4)),
                avoid: DVec2::new(total(5), total(6)),
            }
        }
    }

    /// MASON's update for one bird, written plainly: the reference for [`flockers4`].
    fn flockers(s: FlockersSums, last: DVec2, p: &Flocking, randomness: DVec2) -> DVec2 {
        let per_bird = 1.0 / s.n.max(1.0);
        let cohesion = s.away * (-0.1 * per_bird);
        let consistency = s.vel * per_bird;
        let avoidance = s.avoid * (400.0 / (s.n - 1.0).max(1.0));
        let d = p.cohesion * cohesion
            + p.avoidance * avoidance
            + p.consistency * consistency
            + p.randomness * randomness
            + p.momentum * last;
        let len = d.length();
        if len > 0.0 { d * (p.jump / len) } else { d }
    }

    /// MASON's random term for one bird, written plainly: the reference for
    /// [`randomness4`].
    fn randomness(raw: DVec2) -> DVec2 {
        raw.try_normalize().map_or(DVec2::ZERO, |u| u * 0.05)
    }

    /// The four-lane update and random term against the plain formulas, bit for bit, on
    /// random inputs with two populations' params mixed in the lanes, and the edge cases: an
    /// empty neighbourhood, a zero random vector, and a bird that ends up not moving.
    #[test]
    fn four_lane_updates_equal_the_plain_formulas_bit_for_bit() {
        let mut rng = SimRng::new(17).agent(0, 0, Purpose::DECIDE);
        let mut u = move || rng.unit_f64() * 2.0 - 1.0;
        let flockers_params = |scale: f64| Flocking {
            model: FlockingModel::Flockers,
            cohesion: 0.8 * scale,
            consistency: 0.7,
            randomness: 1.1 / scale,
            jump: 0.7 * scale,
            ..Flocking::default()
        };
        let params = [flockers_params(1.0), flockers_params(1.3)];
        let bits = |v: DVec2| [v.x.to_bits(), v.y.to_bits()];
        let mut still = 0;
        for round in 0..500usize {
            // Round 0 is all zeros: nothing around, no nudge, no momentum, so no step.
            let scale = if round == 0 { 0.0 } else { 1.0 };
            let sums: [Totals; 4] = std::array::from_fn(|i| {
                let n = ((round + i) % 40) as f32;
                let mut t = [0.0; 7].map(|_| (u() * 10.0 * scale) as f32 * n.min(1.0));
                t[0] = n * scale as f32;
                t
            });
            let last: [DVec2; 4] = std::array::from_fn(|_| DVec2::new(u(), u()) * 0.7 * scale);
            let raw: [DVec2; 4] = std::array::from_fn(|i| {
                let zero = round % 7 == i;
                DVec2::new(u(), u()) * if zero { 0.0 } else { scale }
            });
            let p: [&Flocking; 4] = std::array::from_fn(|i| &params[(round + i) % 2]);
            let nudge = randomness4(f64x4::new(raw.map(|v| v.x)), f64x4::new(raw.map(|v| v.y)));
            let got = flockers4(std::array::from_fn(|i| &sums[i]), last, p, nudge);
            for i in 0..4 {
                assert_eq!(bits(nudge[i]), bits(randomness(raw[i])), "{:?}", raw[i]);
                let want = flockers(FlockersSums::from(&sums[i]), last[i], p[i], nudge[i]);
                assert_eq!(bits(got[i]), bits(want), "round {round}, lane {i}");
                still += usize::from(got[i] == DVec2::ZERO);
            }
        }
        assert_eq!(still, 4, "only round 0's birds stay where they are");
    }

    fn flockers_sums(lanes: &mut Lanes, me: DVec2, radius: f64) -> FlockersSums {
        let mut t = [0.0; 7];
        flockers_totals(
            lanes,
            Fill::Filled,
            &[Probe::new(me, radius)],
            std::slice::from_mut(&mut t),
        );
        FlockersSums::from(&t)
    }

    fn space() -> Space {
        Space {
            kind: SpaceKind::Continuous,
            width: 100.0,
            height: 100.0,
            boundary: Boundary::Torus,
            neighborhood: Neighborhood::Moore,
        }
    }

    fn grid(birds: &[(f64, f64, f64, f64)], radius: f64) -> UniformGrid<Boid> {
        let mut g = UniformGrid::new();
        g.rebuild(
            &space(),
            radius,
            birds
                .iter()
                .enumerate()
                .map(|(i, &(x, y, vx, vy))| GridItem {
                    pos: DVec2::new(x, y),
                    id: i as u32,
                    data: Boid {
                        vel: DVec2::new(vx, vy),
                        pop: 0,
                    },
                }),
        );
        g
    }

    #[test]
    fn reynolds_by_hand() {
        // Bird 0 at (50, 50) heading +x; bird 1 at (50.5, 50) heading +y (inside separation);
        // bird 2 at (53, 50) heading +y; bird 3 far away.
        let birds = [
            (50.0, 50.0, 1.0, 0.0),
            (50.5, 50.0, 0.0, 1.0),
            (53.0, 50.0, 0.0, 1.0),
            (90.0, 90.0, -1.0, 0.0),
        ];
        let p = Flocking::default();
        let got = reynolds(
            &grid(&birds, 5.0),
            0,
            DVec2::new(50.0, 50.0),
            DVec2::X,
            &p,
            &mut hit_buffer(),
        );
        let cohere = DVec2::new(3.5, 0.0) / 2.0 * 0.03;
        let separate = DVec2::new(-0.5, 0.0) / 2.0 * 0.015;
        let matched = DVec2::new(0.0, 2.0) / 2.0 * 0.05;
        let want = ((DVec2::X + cohere + separate + matched) / 2.0).normalize();
        assert!((got - want).length() < 1e-12, "{got} vs {want}");
    }

    /// Flockers' sums for the bird at `me` the way [`steer`] computes them.
    fn sums_at(g: &UniformGrid<Boid>, me: DVec2, radius: f64) -> FlockersSums {
        let mut lanes = Lanes::default();
        let cell = (me / g.cell_size()).floor();
        let origin = cell * g.cell_size();
        if lanes.fill_block(g, origin, radius, copy_run) {
            flockers_sums(&mut lanes, me - origin, radius)
        } else {
            lanes.fill_around(g, me, radius);
            flockers_sums(&mut lanes, DVec2::ZERO, radius)
        }
    }

    #[test]
    fn flockers_by_hand() {
        let birds = [(50.0, 50.0, 0.1, 0.0), (52.0, 50.0, 0.0, 0.3)];
        let p = Flocking {
            model: FlockingModel::Flockers,
            ..Flocking::default()
        };
        let randomness = DVec2::new(0.6, -0.8) * 0.05;
        let sums = sums_at(&grid(&birds, 10.0), DVec2::new(50.0, 50.0), 10.0);
        let got = flockers(sums, DVec2::new(0.1, 0.0), &p, randomness);
        // Cohesion over {self, other}: mean of (0,0) and (-2,0) = (-1,0); scaled by -1/10.
        let cohesion = DVec2::new(0.1, 0.0);
        let consistency = DVec2::new(0.05, 0.15);
        // Avoidance over the other bird only: (-2,0) / (16 + 1) * 400.
        let avoidance = DVec2::new(-2.0 / 17.0 * 400.0, 0.0);
        let d = cohesion + avoidance + consistency + randomness + DVec2::new(0.1, 0.0);
        let want = d / d.length() * 0.7;
        // Sums run in single precision.
        assert!((got - want).length() < 1e-6, "{got} vs {want}");
    }

    /// The sums in double precision over every pair, at the nearest torus image.
    fn brute_force(birds: &[(f64, f64, f64, f64)], size: f64, me: usize, r: f64) -> [f64; 7] {
        let image = |d: f64| d - size * (d / size).round();
        let (mx, my, ..) = birds[me];
        let mut s = [0.0; 7];
        for &(x, y, vx, vy) in birds {
            let (ox, oy) = (image(mx - x), image(my - y));
            let d2 = ox * ox + oy * oy;
            if d2 <= r * r {
                let w = 1.0 / (d2 * d2 + 1.0);
                for (acc, v) in s.iter_mut().zip([1.0, ox, oy, vx, vy, ox * w, oy * w]) {
                    *acc += v;
                }
            }
        }
        s
    }

    #[test]
    fn lane_sums_match_brute_force_on_large_and_small_tori() {
        let mut rng = SimRng::new(3).agent(0, 0, Purpose::DECIDE);
        // 100x100 has 10x10 cells (3x3 blocks); 100x100 with radius 40 has 2x2 cells, so
        // blocks would repeat cells and each bird gathers its own neighbours instead.
        for radius in [10.0, 40.0] {
            let birds: Vec<_> = (0..400)
                .map(|_| {
                    let mut u = || rng.unit_f64();
                    (u() * 100.0, u() * 100.0, u() - 0.5, u() - 0.5)
                })
                .collect();
            let g = grid(&birds, radius);
            for me in (0..birds.len()).step_by(7) {
                let got = sums_at(&g, DVec2::new(birds[me].0, birds[me].1), radius);
                let got = [
                    got.n,
                    got.away.x,
                    got.away.y,
                    got.vel.x,
                    got.vel.y,
                    got.avoid.x,
                    got.avoid.y,
                ];
                let want = brute_force(&birds, 100.0, me, radius);
                for (g, w) in got.iter().zip(want) {
                    assert!(
                        (g - w).abs() <= 1e-3 * w.abs().max(1.0),
                        "{got:?} vs {want:?}"
                    );
                }
            }
        }
    }

    /// The AVX block copy (whole groups of four, reading past a run's end) against the
    /// baseline's, bit for bit, for every cell of a grid, the last run of the index and the
    /// torus's wrapped runs included, in lanes reused from cell to cell.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx_block_copy_equals_the_baseline_bit_for_bit() {
        assert!(
            std::arch::is_x86_feature_detected!("avx")
                && std::arch::is_x86_feature_detected!("fma"),
            "this test compares the AVX block copy and needs an x86-64 CPU with AVX and FMA \
             (2013 on)"
        );
        let mut rng = SimRng::new(5).agent(0, 0, Purpose::DECIDE);
        let birds: Vec<_> = (0..700)
            .map(|_| {
                let mut u = |scale: f64| rng.unit_f64() * scale;
                (u(100.0), u(100.0), u(2.0) - 1.0, u(2.0) - 1.0)
            })
            .collect();
        let g = grid(&birds, 10.0);
        let (mut avx, mut baseline) = (Lanes::default(), Lanes::default());
        let mut cells = 0;
        for cy in 0..10 {
            for cx in 0..10 {
                let origin = DVec2::new(cx as f64, cy as f64) * 10.0;
                let block = Fill::Block {
                    grid: &g,
                    origin,
                    radius: 10.0,
                };
                assert!(flockers_totals(&mut avx, block, &[], &mut []));
                assert!(baseline.fill_block(&g, origin, 10.0, copy_run));
                assert_eq!(avx.len, baseline.len, "cell ({cx}, {cy})");
                let columns = |l: &Lanes| {
                    [&l.x, &l.y, &l.vx, &l.vy]
                        .map(|c| c[..l.len].iter().map(|v| v.to_bits()).collect::<Vec<_>>())
                };
                assert_eq!(columns(&avx), columns(&baseline), "cell ({cx}, {cy})");
                cells += 1;
            }
        }
        assert_eq!(cells, 100);
    }

    /// The AVX kernel's one pass of eight lanes against the baseline's two passes of four,
    /// bit for bit, on blocks of every length from empty to a few vectors.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx_kernel_equals_the_baseline_bit_for_bit() {
        assert!(
            std::arch::is_x86_feature_detected!("avx")
                && std::arch::is_x86_feature_detected!("fma"),
            "this test compares the AVX kernel and needs an x86-64 CPU with AVX and FMA (2013 on)"
        );
        let mut rng = SimRng::new(11).agent(0, 0, Purpose::DECIDE);
        let mut hits = 0.0;
        for len in 0..40 {
            let mut lanes = Lanes::default();
            for _ in 0..len {
                let mut u = || rng.unit_f64() * 30.0 - 10.0;
                lanes.push(DVec2::new(u(), u()), DVec2::new(u(), u()));
            }
            lanes.pad();
            let me = [rng.unit_f64() as f32 * 10.0, rng.unit_f64() as f32 * 10.0];
            let baseline = baseline_totals(&lanes, &Probe { me, r2: 100.0 });
            let mut avx = [0.0; 7];
            #[allow(unsafe_code, reason = "calls the AVX kernel on a CPU checked above")]
            // SAFETY: the assertion above found AVX and FMA on this CPU.
            unsafe {
                avx::lane_totals(&lanes, me, 100.0, &mut avx);
            }
            assert_eq!(
                avx.map(f32::to_bits),
                baseline.map(f32::to_bits),
                "{len} candidates"
            );
            hits += avx[0];
        }
        assert!(hits > 100.0, "the test blocks have hits");
    }

    /// The AVX random terms and updates against the baseline's, bit for bit: random inputs,
    /// a draw of exactly one half (a zero vector), cells of one and of two populations, empty
    /// neighbourhoods and birds that end up not moving.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx_updates_equal_the_baseline_bit_for_bit() {
        assert!(
            std::arch::is_x86_feature_detected!("avx"),
            "this test compares the AVX updates and needs an x86-64 CPU with AVX (2011 on)"
        );
        let mut rng = SimRng::new(23).agent(0, 0, Purpose::DECIDE);
        let mut u = move || rng.unit_f64();
        let bits = |v: &[DVec2]| {
            v.iter()
                .map(|v| [v.x.to_bits(), v.y.to_bits()])
                .collect::<Vec<_>>()
        };
        let params = [
            Some(Flocking {
                model: FlockingModel::Flockers,
                ..Flocking::default()
            }),
            Some(Flocking {
                model: FlockingModel::Flockers,
                cohesion: 1.3,
                jump: 0.2,
                ..Flocking::default()
            }),
        ];
        let (mut still, mut quiet_birds) = (0, 0);
        for round in 0..300usize {
            let mut x: [f64; 8] = std::array::from_fn(|_| u());
            let y: [f64; 8] = std::array::from_fn(|i| if i == round % 8 { 0.5 } else { u() });
            x[round % 8] = 0.5;
            #[allow(unsafe_code, reason = "calls the AVX code on a CPU checked above")]
            // SAFETY: the assertion above found AVX on this CPU.
            let avx = unsafe { avx::randomness8(&x, &y) };
            assert_eq!(
                bits(&avx),
                bits(&randomness8_in_halves(&x, &y)),
                "{x:?} {y:?}"
            );
            assert_eq!(avx[round % 8], DVec2::ZERO);

            let birds = 1 + round % 11;
            let mixed = round % 3 == 0;
            let quiet = round % 10 == 0;
            quiet_birds += if quiet { birds } else { 0 };
            let items: Vec<GridItem<Boid>> = (0..birds)
                .map(|i| GridItem {
                    pos: DVec2::ZERO,
                    id: i as u32,
                    data: Boid {
                        vel: DVec2::new(u() - 0.5, u() - 0.5) * if quiet { 0.0 } else { 1.4 },
                        pop: u16::from(mixed && i % 2 == 1),
                    },
                })
                .collect();
            let at: Vec<usize> = (0..birds).rev().collect();
            let sums: Vec<Totals> = (0..birds)
                .map(|i| {
                    let n = ((round + i) % 40) as f32;
                    let mut t = [0.0; 7].map(|_| (u() as f32 - 0.5) * 20.0 * n.min(1.0));
                    t[0] = n;
                    if quiet {
                        t = [0.0; 7];
                    }
                    t
                })
                .collect();
            let nudges: Vec<DVec2> = (0..birds)
                .map(|_| DVec2::new(u() - 0.5, u() - 0.5) * if quiet { 0.0 } else { 0.1 })
                .collect();
            let mut want = vec![DVec2::splat(9.0); birds];
            update_birds_with(&at, &sums, &items, &params, &nudges, &mut want, flockers4);
            let mut got = vec![DVec2::splat(7.0); birds];
            #[allow(unsafe_code, reason = "calls the AVX code on a CPU checked above")]
            // SAFETY: the assertion above found AVX on this CPU.
            unsafe {
                avx::update_birds(&at, &sums, &items, &params, &nudges, &mut got);
            }
            assert_eq!(bits(&got), bits(&want), "round {round}");
            still += got.iter().filter(|v| **v == DVec2::ZERO).count();
        }
        assert_eq!(
            still, quiet_birds,
            "only the quiet rounds' birds stay where they are"
        );
    }

    #[test]
    fn a_lone_bird_keeps_its_heading() {
        let birds = [(10.0, 10.0, 0.0, 1.0)];
        let got = reynolds(
            &grid(&birds, 5.0),
            0,
            DVec2::new(10.0, 10.0),
            DVec2::Y,
            &Flocking::default(),
            &mut hit_buffer(),
        );
        assert!((got - DVec2::Y).length() < 1e-12);
    }

    /// Birds spread over two ECS tables (some carry an extra component): the index and the
    /// id-to-slot table are what a plain rebuild gives, whether or not ids ascend in query
    /// order.
    #[test]
    fn a_flock_over_several_tables_is_indexed_like_a_plain_rebuild_and_adopts_its_velocities() {
        use bevy_ecs::system::RunSystemOnce;
        #[derive(Component)]
        struct Tagged;
        for interleaved in [false, true] {
            let mut world = World::new();
            world.insert_resource(space());
            world.insert_resource(FlockIndex {
                radius: 10.0,
                ..FlockIndex::default()
            });
            let mut rng = SimRng::new(5).agent(0, 0, Purpose::DECIDE);
            let mut expected = Vec::new();
            for i in 0..300u32 {
                // Ids ascend across the two tables, or alternate between them.
                let tagged = if interleaved { i % 2 == 1 } else { i >= 150 };
                let pos = DVec2::new(rng.unit_f64() * 100.0, rng.unit_f64() * 100.0);
                let vel = DVec2::new(rng.unit_f64(), rng.unit_f64());
                let bird = (
                    AgentId(i),
                    Population(0),
                    Position(pos),
                    Velocity(vel),
                    Bird,
                );
                if tagged {
                    world.spawn((bird, Tagged));
                } else {
                    world.spawn(bird);
                }
                expected.push(GridItem {
                    pos,
                    id: i,
                    data: Boid { vel, pop: 0 },
                });
            }
            world.run_system_once(index_flock).expect("system runs");
            let index = world.resource::<FlockIndex>();
            let mut plain = UniformGrid::new();
            plain.rebuild(&space(), 10.0, expected.iter().copied());
            let key = |it: &GridItem<Boid>| (it.id, it.pos.to_array(), it.data.vel.to_array());
            let got: Vec<_> = index.grid.items().iter().map(key).collect();
            let want: Vec<_> = plain.items().iter().map(key).collect();
            assert_eq!(got, want, "interleaved: {interleaved}");
            assert_eq!(index.grid.input_slots().is_some(), !interleaved);
            // New velocities by index position, adopted in input order (ids ascending) or
            // through the id table (interleaved); then again after a bird of the first table
            // is despawned, which leaves that table unlike the one the index saw.
            let by_id: Vec<DVec2> = {
                let mut v = vec![DVec2::ZERO; 300];
                for (k, it) in index.grid.items().iter().enumerate() {
                    v[it.id as usize] = DVec2::new(k as f64, 0.5);
                }
                v
            };
            world.resource_mut::<FlockIndex>().next =
                (0..300).map(|k| DVec2::new(k as f64, 0.5)).collect();
            for despawned in [None, Some(7u32)] {
                if let Some(gone) = despawned {
                    let entity = world
                        .query::<(Entity, &AgentId)>()
                        .iter(&world)
                        .find(|(_, id)| id.0 == gone)
                        .map(|(e, _)| e)
                        .expect("the bird exists");
                    world.despawn(entity);
                }
                for mut vel in world.query::<&mut Velocity>().iter_mut(&mut world) {
                    vel.0 = DVec2::NAN;
                }
                world.run_system_once(adopt_steering).expect("system runs");
                let mut seen = 0;
                for (id, vel) in world.query::<(&AgentId, &Velocity)>().iter(&world) {
                    assert_eq!(vel.0, by_id[id.0 as usize], "bird {}", id.0);
                    seen += 1;
                }
                assert_eq!(seen, 300 - usize::from(despawned.is_some()));
            }
        }
    }
}
