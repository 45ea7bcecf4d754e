//! Detect: gathers every agent's intent in id order and finds the conflicts among them.
//!
//! All per-agent and per-cell tables are dense vectors indexed by agent id or cell index and
//! are reused from tick to tick, so a tick allocates nothing once they have grown; only cells
//! and agents that were touched are reset.

use super::{
    ConflictKind, Conflicts, Contested, Intent, Party, Rejection, ResourceId, Resources, Ruling,
    TaskClaims, Urgency, adjacent,
};
use crate::agent::{AgentId, GridCell};
use crate::phase::Tick;
use crate::sim::Obstacles;
use crate::space::{GridOccupancy, Neighborhood, Space, SpaceKind};
use bevy_ecs::prelude::*;

/// No agent (in `u32` id slots).
pub(crate) const NONE: u32 = u32::MAX;

/// What the engine remembers about an agent between ticks.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Book {
    pub(crate) move_target: Option<GridCell>,
    pub(crate) move_since: u64,
    pub(crate) res_target: Option<ResourceId>,
    pub(crate) res_since: u64,
    pub(crate) res_held: bool,
    pub(crate) task_target: Option<u32>,
    pub(crate) task_since: u64,
    pub(crate) task_held: bool,
    pub(crate) deferred_until: u64,
    pub(crate) losses: u32,
    /// Tick of the first conflict or wait of the current move, resource, task want.
    pub(crate) contested_since: [Option<u64>; 3],
}

/// The state of a move during settling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MoveState {
    /// Not resolved yet (or no move).
    Open,
    /// Being followed along a chain.
    Visiting,
    /// Moves.
    Moves,
    /// Stays.
    Stays,
}

/// One agent's intent this tick, as gathered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Req {
    pub(crate) present: bool,
    pub(crate) entity: Entity,
    pub(crate) cell: Option<GridCell>,
    /// A valid move target different from `cell`.
    pub(crate) want: Option<GridCell>,
    /// `want`, unless the agent is deferred.
    pub(crate) to: Option<GridCell>,
    pub(crate) give_way: bool,
    pub(crate) urgency: f64,
    pub(crate) resource: Option<ResourceId>,
    pub(crate) task: Option<u32>,
    pub(crate) deferred: bool,
    pub(crate) movement: Ruling,
    pub(crate) res: Ruling,
    pub(crate) tsk: Ruling,
    pub(crate) move_state: MoveState,
    /// Next claimant of the same target cell.
    pub(crate) next_claim: u32,
    /// Swap partner, when in a swap conflict.
    pub(crate) swap_with: u32,
    pub(crate) lost: bool,
    pub(crate) won: bool,
}

impl Default for Req {
    fn default() -> Self {
        Req {
            present: false,
            entity: Entity::PLACEHOLDER,
            cell: None,
            want: None,
            to: None,
            give_way: false,
            urgency: 0.0,
            resource: None,
            task: None,
            deferred: false,
            movement: Ruling::None,
            res: Ruling::None,
            tsk: Ruling::None,
            move_state: MoveState::Open,
            next_claim: NONE,
            swap_with: NONE,
            lost: false,
            won: false,
        }
    }
}

/// The engine's working tables for intents.
#[derive(Resource, Debug, Default)]
pub(crate) struct IntentState {
    pub(crate) book: Vec<Book>,
    pub(crate) req: Vec<Req>,
    /// Ids with an intent this tick, ascending.
    pub(crate) present: Vec<u32>,
    /// Per cell: first and last claimant (id) of moves into it, and how many.
    pub(crate) cell_head: Vec<u32>,
    pub(crate) cell_tail: Vec<u32>,
    pub(crate) cell_count: Vec<u32>,
    pub(crate) touched_cells: Vec<u32>,
    /// Per resource: renewing holders and new requesters, ascending.
    pub(crate) res_holders: Vec<Vec<u32>>,
    pub(crate) res_requesters: Vec<Vec<u32>>,
    /// `(task, agent, renewal)` sorted.
    pub(crate) task_claims: Vec<(u32, u32, bool)>,
    /// Moves granted this tick `(agent, from, to)`, ascending by agent.
    pub(crate) granted_moves: Vec<(u32, GridCell, GridCell)>,
    /// Scratch for chain following.
    pub(crate) chain: Vec<u32>,
    pub(crate) grid: Option<GridShape>,
}

/// The grid's shape, as detection needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GridShape {
    pub(crate) width: i32,
    pub(crate) height: i32,
    pub(crate) torus: bool,
    pub(crate) moore: bool,
}

impl GridShape {
    #[inline]
    pub(crate) fn index(&self, c: GridCell) -> usize {
        (c.y * self.width + c.x) as usize
    }

    #[inline]
    fn wrap(&self, c: GridCell) -> Option<GridCell> {
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
}

impl IntentState {
    fn grow(&mut self, id: u32) {
        let n = id as usize + 1;
        if self.req.len() < n {
            self.req.resize(n, Req::default());
            self.book.resize(n, Book::default());
        }
    }
}

type IntentQuery<'w, 's> = Query<
    'w,
    's,
    (
        Entity,
        &'static AgentId,
        &'static Intent,
        Option<&'static GridCell>,
        Option<&'static Urgency>,
    ),
>;

/// The Detect system.
#[expect(clippy::too_many_arguments, reason = "a system reads what it reads")]
pub(crate) fn detect(
    tick: Res<'_, Tick>,
    space: Res<'_, Space>,
    obstacles: Option<Res<'_, Obstacles>>,
    occupancy: Option<Res<'_, GridOccupancy>>,
    resources: Res<'_, Resources>,
    tasks: Res<'_, TaskClaims>,
    mut state: ResMut<'_, IntentState>,
    mut conflicts: ResMut<'_, Conflicts>,
    agents: IntentQuery<'_, '_>,
) {
    let tick = tick.0;
    let st = &mut *state;
    conflicts.clear(tick);

    // Reset last tick's per-agent rows and touched cells.
    for &id in &st.present {
        st.req[id as usize] = Req::default();
    }
    st.present.clear();
    for &c in &st.touched_cells {
        st.cell_head[c as usize] = NONE;
        st.cell_tail[c as usize] = NONE;
        st.cell_count[c as usize] = 0;
    }
    st.touched_cells.clear();
    if st.grid.is_none() && space.kind == SpaceKind::Grid {
        st.grid = Some(GridShape {
            width: space.width as i32,
            height: space.height as i32,
            torus: space.is_torus(),
            moore: space.neighborhood == Neighborhood::Moore,
        });
        let cells = space.cell_count();
        st.cell_head = vec![NONE; cells];
        st.cell_tail = vec![NONE; cells];
        st.cell_count = vec![0; cells];
    }
    let grid = st.grid;

    // Gather.
    for (entity, id, intent, cell, urgency) in &agents {
        st.grow(id.0);
        let book = st.book[id.0 as usize];
        let deferred = book.deferred_until > tick;
        let mut r = Req {
            present: true,
            entity,
            cell: cell.copied(),
            give_way: intent.give_way,
            urgency: urgency.map_or(0.0, |u| u.0),
            resource: intent.resource,
            task: intent.task,
            deferred,
            ..Req::default()
        };
        if let Some(to) = intent.to.filter(|&to| Some(to) != r.cell) {
            match check_move(grid, r.cell, to, obstacles.as_deref()) {
                // A target that wraps onto the agent's own cell is staying put.
                Ok(to) if Some(to) == r.cell => {}
                Ok(to) => {
                    r.want = Some(to);
                    if deferred {
                        r.movement = Ruling::Deferred {
                            until: book.deferred_until,
                        };
                    } else {
                        r.to = Some(to);
                    }
                }
                Err(why) => r.movement = Ruling::Rejected(why),
            }
        }
        if let Some(res) = r.resource
            && (res.0 as usize) >= resources.len()
        {
            r.res = Ruling::Rejected(Rejection::UnknownResource);
            r.resource = None;
        } else if let Some(res) = r.resource
            && !resources.in_range(res, r.cell)
        {
            r.res = Ruling::Rejected(Rejection::OutOfRange);
            r.resource = None;
        }
        st.req[id.0 as usize] = r;
        st.present.push(id.0);
    }
    st.present.sort_unstable();

    // Since-ticks for first-come order.
    for &id in &st.present {
        let (r, b) = (&st.req[id as usize], &mut st.book[id as usize]);
        let want = r.want;
        if want != b.move_target || want.is_none() {
            b.move_since = tick;
            b.contested_since[0] = None;
        }
        b.move_target = want;
        if r.resource != b.res_target {
            b.res_since = tick;
            b.contested_since[1] = None;
            b.res_held = false;
        }
        b.res_target = r.resource;
        if r.task != b.task_target {
            b.task_since = tick;
            b.contested_since[2] = None;
            b.task_held = false;
        }
        b.task_target = r.task;
    }

    let party = |st: &IntentState, id: u32, since: u64| {
        let r = &st.req[id as usize];
        let b = &st.book[id as usize];
        Party {
            agent: id,
            entity: r.entity,
            since,
            losses: b.losses,
            urgency: r.urgency,
            give_way: r.give_way,
        }
    };

    // Vertex conflicts: moves into the same cell, in one-agent-per-cell grids.
    if let (Some(g), true) = (grid, occupancy.is_some()) {
        for i in 0..st.present.len() {
            let id = st.present[i];
            let Some(to) = st.req[id as usize].to else {
                continue;
            };
            let c = g.index(to);
            if st.cell_count[c] == 0 {
                st.cell_head[c] = id;
                st.touched_cells.push(c as u32);
            } else {
                let tail = st.cell_tail[c];
                st.req[tail as usize].next_claim = id;
            }
            st.cell_tail[c] = id;
            st.cell_count[c] += 1;
        }
        for k in 0..st.touched_cells.len() {
            let c = st.touched_cells[k] as usize;
            if st.cell_count[c] >= 2 {
                let start = conflicts.party_len();
                let mut a = st.cell_head[c];
                while a != NONE {
                    conflicts.push_party(party(st, a, st.book[a as usize].move_since));
                    a = st.req[a as usize].next_claim;
                }
                let cell = GridCell::new(c as i32 % g.width, c as i32 / g.width);
                conflicts.close(ConflictKind::Vertex, Contested::Cell(cell), 1, 0, start);
            }
        }
        // Swap conflicts: two movers want each other's cell.
        if let Some(occ) = occupancy.as_deref() {
            for i in 0..st.present.len() {
                let a = st.present[i];
                let ra = st.req[a as usize];
                let (Some(to), Some(from)) = (ra.to, ra.cell) else {
                    continue;
                };
                let Some(b) = occ.occupant(to) else {
                    continue;
                };
                if b <= a || (b as usize) >= st.req.len() {
                    continue;
                }
                let rb = st.req[b as usize];
                if rb.present && rb.to == Some(from) {
                    st.req[a as usize].swap_with = b;
                    st.req[b as usize].swap_with = a;
                    let start = conflicts.party_len();
                    conflicts.push_party(party(st, a, st.book[a as usize].move_since));
                    conflicts.push_party(party(st, b, st.book[b as usize].move_since));
                    let edge = if from < to {
                        Contested::Edge(from, to)
                    } else {
                        Contested::Edge(to, from)
                    };
                    conflicts.close(ConflictKind::Swap, edge, 1, 0, start);
                }
            }
        }
    }

    // Resources: holders who still want it renew; requesters contend for the free units.
    if st.res_holders.len() < resources.len() {
        st.res_holders.resize(resources.len(), Vec::new());
        st.res_requesters.resize(resources.len(), Vec::new());
    }
    for v in st
        .res_holders
        .iter_mut()
        .chain(st.res_requesters.iter_mut())
    {
        v.clear();
    }
    for &id in &st.present {
        let (r, b) = (&mut st.req[id as usize], &st.book[id as usize]);
        let Some(res) = r.resource else { continue };
        if b.res_held {
            st.res_holders[res.0 as usize].push(id);
        } else if r.deferred {
            r.res = Ruling::Deferred {
                until: b.deferred_until,
            };
        } else {
            st.res_requesters[res.0 as usize].push(id);
        }
    }
    for res in 0..resources.len() {
        let holders = st.res_holders[res].len() as u32;
        let free = resources
            .capacity(ResourceId(res as u32))
            .saturating_sub(holders);
        let k = st.res_requesters[res].len() as u32;
        if k >= 2 && k > free && free >= 1 {
            let start = conflicts.party_len();
            for j in 0..st.res_requesters[res].len() {
                let a = st.res_requesters[res][j];
                conflicts.push_party(party(st, a, st.book[a as usize].res_since));
            }
            conflicts.close(
                ConflictKind::Resource,
                Contested::Resource(ResourceId(res as u32)),
                free,
                holders,
                start,
            );
        }
    }

    // Task claims: the same, grouped by task id.
    st.task_claims.clear();
    for &id in &st.present {
        let (r, b) = (&mut st.req[id as usize], &st.book[id as usize]);
        let Some(task) = r.task else { continue };
        if b.task_held {
            st.task_claims.push((task, id, true));
        } else if r.deferred {
            r.tsk = Ruling::Deferred {
                until: b.deferred_until,
            };
        } else {
            st.task_claims.push((task, id, false));
        }
    }
    st.task_claims.sort_unstable();
    let mut i = 0;
    while i < st.task_claims.len() {
        let task = st.task_claims[i].0;
        let mut j = i;
        while j < st.task_claims.len() && st.task_claims[j].0 == task {
            j += 1;
        }
        let holders = st.task_claims[i..j].iter().filter(|c| c.2).count() as u32;
        let k = (j - i) as u32 - holders;
        let free = tasks.capacity(task).saturating_sub(holders);
        if k >= 2 && k > free && free >= 1 {
            let start = conflicts.party_len();
            for c in i..j {
                let (_, a, renewal) = st.task_claims[c];
                if !renewal {
                    conflicts.push_party(party(st, a, st.book[a as usize].task_since));
                }
            }
            conflicts.close(
                ConflictKind::Task,
                Contested::Task(task),
                free,
                holders,
                start,
            );
        }
        i = j;
    }
}

/// Checks a move target: inside the grid (wrapped on a torus), not an obstacle, adjacent.
fn check_move(
    grid: Option<GridShape>,
    from: Option<GridCell>,
    to: GridCell,
    obstacles: Option<&Obstacles>,
) -> Result<GridCell, Rejection> {
    let (Some(g), Some(from)) = (grid, from) else {
        return Err(Rejection::NotGrid);
    };
    let to = g.wrap(to).ok_or(Rejection::OutsideGrid)?;
    if !adjacent(from, to, g.width, g.height, g.torus, g.moore) {
        return Err(Rejection::NotAdjacent);
    }
    if obstacles.is_some_and(|o| o.is_blocked(to)) {
        return Err(Rejection::Obstacle);
    }
    Ok(to)
}
