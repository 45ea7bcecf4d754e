//! `commuter`: walk between regions of a grid in turn, through intents, making way when a
//! head-on conflict is lost.
//!
//! Each agent follows the distance field towards its current target region (the static map:
//! obstacles, not other agents), choosing among equally good cells in its own order so that
//! crowds spread. It reacts to the engine's answers:
//!
//! - it loses a swap (a head-on meeting) to a winner, or is a deadlock victim told to back
//!   off: it is pushed (a swap the policy left undecided is a wait). It makes way in the direction the winner moves (back, away from where it wanted
//!   to go), marking its moves [`Intent::give_way`]: a step aside ends it, otherwise it steps
//!   back until it has moved `yield_steps` cells (or tried for `8 * yield_steps` ticks). Free
//!   cells first, then the next cell in line, so a move that makes way wins against the agent
//!   queued behind, which is pushed in turn: a whole queue backs out of a corridor;
//! - it has waited `patience` ticks (or is a victim told to replan): it steps aside to a
//!   neighbour no farther from the target than where it is, if there is one.
//!
//! Reaching a region counts a trip ([`Trips`]) and turns it to the next region. Its
//! [`Urgency`] is the number of ticks it has been waiting.

use super::nav::{self, Fields, NavMap};
use agora_engine::prelude::*;
use agora_engine::{DeadlockAction, DigestState, StableHasher};
use serde::{Deserialize, Serialize};

/// A rectangle of cells `(x0, y0, x1, y1)`, corners included.
pub type CellRect = (i32, i32, i32, i32);

/// Scenario: `(behavior: "commuter", count: 20, params: (targets: [(30, 0, 39, 9), (0, 0, 9, 9)]))`
#[derive(Component, Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Commuter {
    /// Regions visited in turn, as cell rectangles `(x0, y0, x1, y1)` with the corners
    /// included; the first is the first destination. At least one (default none).
    pub targets: Vec<CellRect>,
    /// Cells to step back after losing a head-on conflict or being told to back off
    /// (default 3).
    pub yield_steps: u32,
    /// Ticks waited before stepping aside (default 4).
    pub patience: u32,
}

impl Default for Commuter {
    fn default() -> Self {
        Commuter {
            targets: Vec::new(),
            yield_steps: 3,
            patience: 4,
        }
    }
}

/// Trips completed: regions reached (commuters) or laps (streams).
#[derive(Component, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trips {
    /// Trips so far.
    pub total: u32,
    /// The tick the last one was counted in.
    pub last_tick: Option<u64>,
}

impl Trips {
    /// Counts a trip in `tick`.
    pub fn count(&mut self, tick: u64) {
        self.total += 1;
        self.last_tick = Some(tick);
    }
}

impl DigestState for Trips {
    fn digest(&self, h: &mut StableHasher) {
        h.write_u64(u64::from(self.total));
    }
}

/// A commuter's state.
#[derive(Component, Debug, Clone, Default)]
pub struct Commute {
    /// Index of the current target region.
    pub leg: usize,
    /// Field index of each target region.
    fields: Vec<usize>,
    /// Steps back still to make.
    pub yielding: u32,
    /// Ticks left to make them in.
    pub yield_ticks: u32,
    /// The direction it is pushed in, as a step `(dx, dy)`.
    push: (i32, i32),
    /// Its cell at the previous Decide.
    prev: GridCell,
    /// Ticks waited in a row.
    pub waited: u32,
    bias: u8,
}

impl DigestState for Commute {
    fn digest(&self, h: &mut StableHasher) {
        h.write_u64(self.leg as u64);
        h.write_u64(u64::from(self.yielding));
        h.write_u64(u64::from(self.yield_ticks));
        h.write_u64(u64::from(self.push.0 as u32));
        h.write_u64(u64::from(self.push.1 as u32));
        h.write_u64(u64::from(self.waited));
    }
}

impl Behavior for Commuter {
    const NAME: &'static str = "commuter";
    const SUMMARY: &'static str =
        "Walk between grid regions in turn; make way after losing a head-on conflict.";

    fn build(sim: &mut SimBuilder) {
        sim.use_intents();
        nav::install(sim);
        sim.digest_component::<Commute>()
            .digest_component::<Trips>()
            .add_systems(Phase::Decide, commute);
    }

    fn validate(&self, ctx: &ValidateCtx) -> Result<(), String> {
        if ctx.world.kind != SpaceKind::Grid || !ctx.world.one_per_cell {
            return Err(
                "commuter needs a grid world with one agent per cell (`kind: Grid, one_per_cell: true`)"
                    .into(),
            );
        }
        if self.targets.is_empty() {
            return Err("`targets` lists no region; give at least one `(x0, y0, x1, y1)`".into());
        }
        for (i, &(x0, y0, x1, y1)) in self.targets.iter().enumerate() {
            let (w, h) = (ctx.world.width as i32, ctx.world.height as i32);
            if !(0 <= x0 && x0 <= x1 && x1 < w && 0 <= y0 && y0 <= y1 && y1 < h) {
                return Err(format!(
                    "`targets[{i}]` = ({x0}, {y0}, {x1}, {y1}) must satisfy x0 <= x1, y0 <= y1 and lie inside the {w}x{h} grid"
                ));
            }
        }
        Ok(())
    }

    fn spawn(&self, agent: &mut AgentSpawn) {
        let fields = self
            .targets
            .iter()
            .map(|&r| nav::field_for(agent, rect_cells(r)))
            .collect();
        let bias = (agent.rng().next_u32() % 8) as u8;
        let prev = agent.cell().unwrap_or_default();
        agent.insert((
            Intent::default(),
            Urgency::default(),
            Trips::default(),
            Commute {
                fields,
                bias,
                prev,
                ..Commute::default()
            },
        ));
    }
}

/// The unit step from `a` to its neighbour `b` (wrapped on a torus).
fn step_between(map: &NavMap, a: GridCell, b: GridCell) -> (i32, i32) {
    let d = |p: i32, q: i32, n: i32| {
        let d = q - p;
        if d > 1 {
            d - n
        } else if d < -1 {
            d + n
        } else {
            d
        }
    };
    (
        d(a.x, b.x, map.width()).signum(),
        d(a.y, b.y, map.height()).signum(),
    )
}

/// The cells of a rectangle.
pub fn rect_cells((x0, y0, x1, y1): CellRect) -> Vec<GridCell> {
    (y0..=y1)
        .flat_map(|y| (x0..=x1).map(move |x| GridCell::new(x, y)))
        .collect()
}

fn inside(c: GridCell, (x0, y0, x1, y1): CellRect) -> bool {
    (x0..=x1).contains(&c.x) && (y0..=y1).contains(&c.y)
}

type CommuterQuery<'w, 's> = Query<
    'w,
    's,
    (
        &'static Commuter,
        &'static mut Commute,
        &'static GridCell,
        &'static Outcome,
        &'static mut Intent,
        &'static mut Trips,
        &'static mut Urgency,
    ),
>;

fn commute(
    tick: Res<Tick>,
    map: Res<NavMap>,
    fields: Res<Fields>,
    occupancy: Res<GridOccupancy>,
    mut agents: CommuterQuery,
) {
    agents.par_iter_mut().for_each(
        |(params, mut st, cell, outcome, mut intent, mut trips, mut urgency)| {
            let st = &mut *st;
            if inside(*cell, params.targets[st.leg]) {
                trips.count(tick.0);
                st.leg = (st.leg + 1) % params.targets.len();
                st.yielding = 0;
                st.yield_ticks = 0;
                st.waited = 0;
            }
            // The step it tried last tick, from where it was then.
            let tried = intent.to.map_or((0, 0), |t| step_between(&map, st.prev, t));
            st.prev = *cell;
            let start_yield = |st: &mut Commute| {
                st.yielding = params.yield_steps;
                st.yield_ticks = params.yield_steps.saturating_mul(8);
                st.push = (-tried.0, -tried.1);
                st.waited = 0;
            };
            match outcome.movement {
                Ruling::Granted => {
                    st.waited = 0;
                    if intent.give_way {
                        // A step aside clears the winner's line at once.
                        let aside = tried.0 * st.push.0 + tried.1 * st.push.1 == 0;
                        st.yielding = if aside {
                            0
                        } else {
                            st.yielding.saturating_sub(1)
                        };
                    }
                }
                // A swap left undecided (a token on its way, a negotiation in progress) pushes
                // nobody: were both sides to back off, the meeting would dissolve before it is
                // decided, and form again when they return.
                Ruling::Lost {
                    kind: ConflictKind::Swap,
                    winner: Some(_),
                } => start_yield(st),
                Ruling::Lost { .. } | Ruling::Blocked { .. } => st.waited += 1,
                _ => {}
            }
            match outcome.victim.map(|v| v.action) {
                Some(DeadlockAction::BackOff) => start_yield(st),
                Some(DeadlockAction::Replan) => st.waited = params.patience,
                None => {}
            }
            if st.yield_ticks == 0 {
                st.yielding = 0;
            }
            urgency.0 = f64::from(st.waited);

            let field = fields.field(st.fields[st.leg]);
            let here = field.get(&map, *cell).unwrap_or(u32::MAX);
            let (options, n) = nav::ranked_neighbors(&map, field, *cell, st.bias);
            let options = &options[..n];
            let mut give_way = false;
            let choice = if st.yielding > 0 {
                st.yield_ticks -= 1;
                give_way = true;
                // Never towards the pusher: free cells aside, free cells in line, then pushing
                // the next agent in line, then aside.
                let (px, py) = st.push;
                options
                    .iter()
                    .filter_map(|o| {
                        let (dx, dy) = step_between(&map, *cell, o.0);
                        let along = dx * px + dy * py;
                        if along < 0 {
                            return None;
                        }
                        let free = occupancy.is_free(o.0);
                        let rank = match (free, along == 0) {
                            (true, true) => 0,
                            (true, false) => 1,
                            (false, false) => 2,
                            (false, true) => 3,
                        };
                        Some((rank, o.1, o.0))
                    })
                    .min_by_key(|&(rank, d, _)| (rank, d))
                    .map(|(_, _, c)| c)
            } else if st.waited >= params.patience {
                st.waited = 0;
                let blocked = intent.to;
                options
                    .iter()
                    .filter(|o| o.1 <= here && Some(o.0) != blocked)
                    .min_by_key(|o| o.1)
                    .map(|o| o.0)
            } else {
                options
                    .iter()
                    .filter(|o| o.1 < here)
                    .min_by_key(|o| o.1)
                    .map(|o| o.0)
            };
            let want = Intent {
                to: choice,
                give_way,
                ..*intent
            };
            if *intent != want {
                *intent = want;
            }
        },
    );
}
