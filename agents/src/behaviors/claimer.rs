//! `claimer`: task allocation under message latency. Task sites are cells of the grid; each
//! holds one task at a time (task id = the site's index). An idle robot claims the nearest task
//! it believes free and walks there; once next to the site it works `work` ticks, the task is
//! done, and the site offers a new task `respawn` ticks later.
//!
//! What a robot believes is the claim board as it was `latency` ticks ago: claims (and tasks
//! coming back) reach the others only after that delay, as announcements over a network with
//! latency would. Robots that go idle within `latency` ticks of each other therefore see the
//! same stale board, pick the same nearest task, and claim it together: a task double-claim
//! that the conflict policy decides. A robot claiming a task someone already holds is told so
//! by the engine (its claim is blocked) and leaves that task alone until the board catches up;
//! a claim the policy leaves undecided (a negotiation or a token still in transit) is kept.
//!
//! [`Urgency`] is `1 / (1 + distance)` to the task it claims, so urgency-based policies give a
//! contested task to the nearest claimant. The shared [`TaskBoard`] (sites and latency from the
//! lowest-id claimer's parameters) feeds the `tasks` metric.

use super::nav::{self, Fields, NavMap};
use agora_engine::prelude::*;
use agora_engine::{DigestState, StableHasher, TaskClaims};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Scenario: `(behavior: "claimer", count: 20, params: (sites: [(3, 4), (20, 9)], latency: 3))`
#[derive(Component, Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Claimer {
    /// Task sites `(x, y)`: passable cells, one task each (default none: give at least one).
    pub sites: Vec<(i32, i32)>,
    /// Ticks before a robot sees a claim or a new task (default 3; 0: everyone sees the board
    /// of the last tick).
    pub latency: u32,
    /// Ticks of work to finish a task once next to its site (default 5).
    pub work: u32,
    /// Ticks until a finished site offers its next task (default 10).
    pub respawn: u32,
    /// Ticks waited on the way before stepping around the blockage (default 4).
    pub patience: u32,
}

impl Default for Claimer {
    fn default() -> Self {
        Claimer {
            sites: Vec::new(),
            latency: 3,
            work: 5,
            respawn: 10,
            patience: 4,
        }
    }
}

/// What a robot is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JobState {
    /// Looking for a task.
    #[default]
    Idle,
    /// Holding the claim on a task and walking to its site.
    Heading(u32),
    /// Next to the site, `ticks` of work left.
    Working(u32, u32),
}

/// A robot's state.
#[derive(Component, Debug, Clone, Default)]
pub struct Job {
    /// What it is doing.
    pub state: JobState,
    /// Tasks finished.
    pub done: u32,
    /// Claims it lost or found taken.
    pub refused: u32,
    /// The task finished in the last Decide (read by the board).
    finished: Option<u32>,
    /// A task to leave alone until the tick given, after its claim was refused.
    avoid: Option<(u32, u64)>,
    /// The claim being made this tick (answered in the next Outcome).
    claiming: Option<u32>,
    /// Field index towards each site's cells, in site order.
    fields: Vec<usize>,
    waited: u32,
    bias: u8,
}

impl DigestState for Job {
    fn digest(&self, h: &mut StableHasher) {
        let (s, t, w) = match self.state {
            JobState::Idle => (0, 0, 0),
            JobState::Heading(t) => (1, t, 0),
            JobState::Working(t, w) => (2, t, w),
        };
        h.write_u64(s);
        h.write_u64(u64::from(t));
        h.write_u64(u64::from(w));
        h.write_u64(u64::from(self.done));
        h.write_u64(u64::from(self.refused));
    }
}

/// What the robots know about tasks, with delay: one row per tick of what each task looked like
/// (`true`: open and unclaimed), the newest last.
#[derive(Resource, Debug, Clone, Default)]
pub struct TaskBoard {
    /// The sites, task id = index.
    pub sites: Vec<GridCell>,
    /// The delay of what robots see.
    pub latency: u32,
    /// Ticks until a finished site has a task again.
    pub respawn: u32,
    /// The tick from which each task is open again (0: open).
    open_from: Vec<u64>,
    history: VecDeque<Vec<bool>>,
    /// Tasks finished in the run.
    pub done: u64,
}

impl TaskBoard {
    /// Whether robots now believe `task` open and unclaimed (the board `latency` ticks ago).
    pub fn believed_open(&self, task: u32) -> bool {
        self.history
            .front()
            .and_then(|row| row.get(task as usize).copied())
            .unwrap_or(false)
    }
}

impl Behavior for Claimer {
    const NAME: &'static str = "claimer";
    const SUMMARY: &'static str =
        "Robots claim the nearest task they believe free from a claim board seen with latency.";

    fn build(sim: &mut SimBuilder) {
        sim.use_intents();
        nav::install(sim);
        sim.init_resource::<TaskBoard>();
        sim.digest_component::<Job>()
            .add_systems(Phase::Decide, (update_board, decide).chain());
    }

    fn validate(&self, ctx: &ValidateCtx) -> Result<(), String> {
        if ctx.world.kind != SpaceKind::Grid || !ctx.world.one_per_cell {
            return Err("claimer needs a grid world with one agent per cell".into());
        }
        if self.sites.is_empty() {
            return Err("give at least one task site in `sites`".into());
        }
        let blocked = ctx.world.blocked_cells();
        for (i, &(x, y)) in self.sites.iter().enumerate() {
            if x < 0 || y < 0 || f64::from(x) >= ctx.world.width || f64::from(y) >= ctx.world.height
            {
                return Err(format!("`sites[{i}]` ({x}, {y}) is outside the grid"));
            }
            if blocked.contains(&(x, y)) {
                return Err(format!("`sites[{i}]` ({x}, {y}) is an obstacle"));
            }
        }
        if self.work == 0 {
            return Err("`work` must be at least 1".into());
        }
        Ok(())
    }

    fn spawn(&self, agent: &mut AgentSpawn) {
        let fields = self
            .sites
            .iter()
            .map(|&(x, y)| {
                let site = GridCell::new(x, y);
                let goals: Vec<GridCell> = {
                    let map = agent.world_mut().resource::<NavMap>();
                    std::iter::once(site).chain(map.neighbors(site)).collect()
                };
                nav::field_for(agent, goals)
            })
            .collect();
        {
            let world = agent.world_mut();
            let mut board = world.resource_mut::<TaskBoard>();
            if board.sites.is_empty() {
                board.sites = self
                    .sites
                    .iter()
                    .map(|&(x, y)| GridCell::new(x, y))
                    .collect();
                board.latency = self.latency;
                board.respawn = self.respawn;
                board.open_from = vec![0; self.sites.len()];
            }
        }
        let bias = (agent.rng().next_u32() % 8) as u8;
        agent.insert((
            Intent::default(),
            Urgency(0.0),
            Job {
                fields,
                bias,
                ..Job::default()
            },
        ));
    }
}

/// Marks the tasks finished last tick, then appends this tick's row (open and unclaimed after
/// the last Resolve) and drops rows older than the latency.
fn update_board(
    tick: Res<Tick>,
    claims: Res<TaskClaims>,
    mut board: ResMut<TaskBoard>,
    jobs: Query<&Job>,
) {
    let board = &mut *board;
    for job in &jobs {
        if let Some(t) = job.finished
            && let Some(slot) = board.open_from.get_mut(t as usize)
        {
            *slot = tick.0 + u64::from(board.respawn);
            board.done += 1;
        }
    }
    let mut row = vec![true; board.sites.len()];
    for (i, open) in row.iter_mut().enumerate() {
        *open = board.open_from[i] <= tick.0 && claims.holders(i as u32).next().is_none();
    }
    board.history.push_back(row);
    while board.history.len() > board.latency as usize + 1 {
        board.history.pop_front();
    }
}

type ClaimerQuery<'w, 's> = Query<
    'w,
    's,
    (
        &'static Claimer,
        &'static mut Job,
        &'static GridCell,
        &'static Outcome,
        &'static mut Intent,
        &'static mut Urgency,
    ),
>;

fn decide(
    tick: Res<Tick>,
    map: Res<NavMap>,
    fields: Res<Fields>,
    board: Res<TaskBoard>,
    occupancy: Res<GridOccupancy>,
    mut robots: ClaimerQuery,
) {
    robots.par_iter_mut().for_each(
        |(params, mut job, cell, outcome, mut intent, mut urgency)| {
            let job = &mut *job;
            job.finished = None;
            let near = |job: &Job, t: u32| {
                fields
                    .field(job.fields[t as usize])
                    .get(&map, *cell)
                    .unwrap_or(u32::MAX)
            };
            // The engine's answer to last tick's claim.
            // An undecided double claim (a negotiation or a token in transit) keeps the claim.
            let mut pending = None;
            if let Some(t) = job.claiming.take() {
                match outcome.task {
                    Ruling::Granted => job.state = JobState::Heading(t),
                    Ruling::Lost { winner: None, .. } => pending = Some(t),
                    _ => {
                        job.refused += 1;
                        job.avoid = Some((t, tick.0 + u64::from(board.latency) + 1));
                        job.state = JobState::Idle;
                    }
                }
            }
            if job.avoid.is_some_and(|(_, until)| until <= tick.0) {
                job.avoid = None;
            }
            let mut want = Intent::default();
            match job.state {
                JobState::Working(t, left) => {
                    if left <= 1 {
                        job.done += 1;
                        job.finished = Some(t);
                        job.state = JobState::Idle;
                    } else {
                        job.state = JobState::Working(t, left - 1);
                        want.task = Some(t);
                    }
                }
                JobState::Heading(t) => {
                    want.task = Some(t);
                    if near(job, t) == 0 {
                        job.state = JobState::Working(t, params.work);
                    } else {
                        match outcome.movement {
                            Ruling::Lost { .. } | Ruling::Blocked { .. } => job.waited += 1,
                            _ => job.waited = 0,
                        }
                        let field = fields.field(job.fields[t as usize]);
                        let here = near(job, t);
                        let (options, n) = nav::ranked_neighbors(&map, field, *cell, job.bias);
                        let around = job.waited >= params.patience;
                        if around {
                            job.waited = 0;
                        }
                        want.to = options[..n]
                            .iter()
                            .filter(|o| o.1 < here || (around && o.1 == here))
                            .filter(|o| !around || occupancy.is_free(o.0))
                            .min_by_key(|o| (o.1, !occupancy.is_free(o.0)))
                            .map(|o| o.0);
                    }
                }
                JobState::Idle => {}
            }
            if let Some(t) = pending {
                job.claiming = Some(t);
                want.task = Some(t);
            } else if job.state == JobState::Idle {
                let avoid = job.avoid.map(|a| a.0);
                let pick = (0..board.sites.len() as u32)
                    .filter(|&t| board.believed_open(t) && Some(t) != avoid)
                    .map(|t| (near(job, t), t))
                    .filter(|&(d, _)| d != u32::MAX)
                    .min();
                if let Some((d, t)) = pick {
                    job.claiming = Some(t);
                    want.task = Some(t);
                    urgency.0 = 1.0 / (1.0 + f64::from(d));
                }
            }
            if *intent != want {
                *intent = want;
            }
        },
    );
}
