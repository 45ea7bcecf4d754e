//! `wayfarer`: multi-agent path finding by planning and replanning. Each agent has a goal
//! cell, plans a shortest path to it with the planning library's A* on the static map (obstacles, not other agents)
//! and follows it through intents; the conflict policy decides every contested step.
//!
//! - It waits `patience` ticks (or is a deadlock victim told to replan): it plans again,
//!   treating the agents within `radius` cells as obstacles, and keeps its path if there is
//!   no such detour.
//! - It is a deadlock victim told to back off, or it stands on its goal while others wait for
//!   it: it steps aside to a free neighbour (a move that makes way), across the line of its
//!   occupied neighbours rather than along it, stays there `away` ticks and plans back.
//!
//! Goals are given per agent, or by default are the population's start cells in a seeded
//! single-cycle permutation (everyone goes to someone else's start). The `mapf` metric
//! reports the fraction at their goal, sum of costs and makespan.

use super::nav::NavMap;
use agora_engine::planning::grid::{AstarScratch, Cell, Connectivity, GridMap, astar_avoiding};
use agora_engine::planning::grid_map;
use agora_engine::prelude::*;
use agora_engine::{Boundary, Neighborhood, Obstacles};
use agora_engine::{DeadlockAction, DigestState, StableHasher};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Scenario: `(behavior: "wayfarer", count: 30, params: (patience: 3, radius: 2))`
#[derive(Component, Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Wayfarer {
    /// Goal cells `(x, y)`, one per agent of the population in id order (default none: the
    /// population's start cells, permuted so that nobody starts on its goal).
    pub goals: Vec<(i32, i32)>,
    /// Ticks waited before planning around nearby agents (default 3).
    pub patience: u32,
    /// Agents within this many cells (Chebyshev) are obstacles when replanning (default 2).
    pub radius: u32,
    /// Cells A* may expand for one plan (default 20000).
    pub max_expansions: u32,
    /// Ticks it stays aside after making way (default 2).
    pub away: u32,
}

impl Default for Wayfarer {
    fn default() -> Self {
        Wayfarer {
            goals: Vec::new(),
            patience: 3,
            radius: 2,
            max_expansions: 20_000,
            away: 2,
        }
    }
}

/// A wayfarer's state.
#[derive(Component, Debug, Clone, Default)]
pub struct Journey {
    /// Its goal (set in the first Decide).
    pub goal: Option<GridCell>,
    /// The steps ahead, the next one last.
    path: Vec<GridCell>,
    /// The tick it last reached its goal and has stayed since.
    pub arrived: Option<u64>,
    /// Ticks waited in a row.
    pub waited: u32,
    /// Plans made after the first.
    pub replans: u32,
    /// Moves made.
    pub moves: u32,
    /// Stepping aside this tick.
    aside: bool,
    /// Ticks left to stay aside.
    away: u32,
}

impl DigestState for Journey {
    fn digest(&self, h: &mut StableHasher) {
        let g = self.goal.unwrap_or(GridCell::new(-1, -1));
        h.write_u64(u64::from(g.x as u32));
        h.write_u64(u64::from(g.y as u32));
        h.write_u64(self.arrived.unwrap_or(u64::MAX));
        h.write_u64(u64::from(self.replans));
        h.write_u64(u64::from(self.moves));
        h.write_u64(self.path.len() as u64);
        h.write_u64(u64::from(self.away));
    }
}

impl Behavior for Wayfarer {
    const NAME: &'static str = "wayfarer";
    const SUMMARY: &'static str =
        "Plan a path to a goal cell with A*, follow it, replan around agents in the way (MAPF).";

    fn build(sim: &mut SimBuilder) {
        sim.use_intents();
        super::nav::install(sim);
        if sim.first_time::<PlanMap>() {
            let space = sim.space().clone();
            let map = grid_map(&space, sim.world().get_resource::<Obstacles>());
            let connectivity = if space.neighborhood == Neighborhood::Moore {
                Connectivity::Eight
            } else {
                Connectivity::Four
            };
            if let Some(map) = map {
                sim.insert_resource(PlanMap { map, connectivity });
            }
        }
        sim.digest_component::<Journey>()
            .add_systems(Phase::Decide, (assign_goals, travel).chain());
    }

    fn validate(&self, ctx: &ValidateCtx) -> Result<(), String> {
        if ctx.world.kind != SpaceKind::Grid || !ctx.world.one_per_cell {
            return Err("wayfarer needs a grid world with one agent per cell".into());
        }
        if ctx.world.boundary == Boundary::Torus {
            return Err("wayfarer plans on maps with edges: use `boundary: Walls`".into());
        }
        if !self.goals.is_empty() && self.goals.len() as u64 != ctx.count {
            return Err(format!(
                "{} goals given for {} agents: give one per agent, or none",
                self.goals.len(),
                ctx.count
            ));
        }
        let blocked = ctx.world.blocked_cells();
        for (i, &(x, y)) in self.goals.iter().enumerate() {
            if x < 0 || y < 0 || f64::from(x) >= ctx.world.width || f64::from(y) >= ctx.world.height
            {
                return Err(format!("`goals[{i}]` ({x}, {y}) is outside the grid"));
            }
            if blocked
                .binary_search_by_key(&(y, x), |&(bx, by)| (by, bx))
                .is_ok()
            {
                return Err(format!("`goals[{i}]` ({x}, {y}) is an obstacle"));
            }
        }
        Ok(())
    }

    fn spawn(&self, agent: &mut AgentSpawn) {
        agent.insert((Intent::default(), Journey::default()));
    }
}

/// Gives every wayfarer without a goal its goal: the listed one, or in a seeded cyclic order
/// of its population the start cell of the next agent. Agents are spawned one by one, so the
/// whole population is only known once the first tick runs.
fn assign_goals(
    rng: Res<SimRng>,
    mut agents: Query<(&AgentId, &Population, &GridCell, &Wayfarer, &mut Journey)>,
) {
    if agents.iter().all(|(.., j)| j.goal.is_some()) {
        return;
    }
    let mut pops: BTreeMap<u16, Vec<(u32, GridCell)>> = BTreeMap::new();
    for (id, pop, cell, _, _) in &agents {
        pops.entry(pop.0).or_default().push((id.0, *cell));
    }
    let mut goals: BTreeMap<u32, GridCell> = BTreeMap::new();
    for (pop, mut starts) in pops {
        starts.sort_unstable_by_key(|s| s.0);
        let first = starts[0].0;
        let listed = agents
            .iter()
            .find(|(id, ..)| id.0 == first)
            .map(|(_, _, _, w, _)| w.goals.clone())
            .unwrap_or_default();
        if !listed.is_empty() {
            for &(id, _) in &starts {
                if let Some(&(x, y)) = listed.get((id - first) as usize) {
                    goals.insert(id, GridCell::new(x, y));
                }
            }
            continue;
        }
        let mut r = rng.global(u32::from(pop), 0, Purpose::SPAWN);
        for i in (1..starts.len()).rev() {
            let j = r.below(i as u64 + 1) as usize;
            starts.swap(i, j);
        }
        let n = starts.len();
        for i in 0..n {
            goals.insert(starts[i].0, starts[(i + 1) % n].1);
        }
    }
    for (id, _, _, _, mut j) in &mut agents {
        if j.goal.is_none() {
            j.goal = goals.get(&id.0).copied();
        }
    }
}

type WayfarerQuery<'w, 's> = Query<
    'w,
    's,
    (
        &'static Wayfarer,
        &'static mut Journey,
        &'static GridCell,
        &'static Outcome,
        &'static mut Intent,
    ),
>;

/// The world's static map for planning (obstacles blocked, unit costs) and the moves agents
/// make on it.
#[derive(Resource, Debug, Clone)]
pub struct PlanMap {
    map: GridMap,
    connectivity: Connectivity,
}

impl PlanMap {
    /// A shortest path from `from` to `to` on the static map, avoiding the cells for which
    /// `avoid` is true (except `to`), as the steps after `from` in reverse order (the next step
    /// last); `None` without one within `limit` expanded cells.
    fn path(
        &self,
        scratch: &mut (AstarScratch, Vec<Cell>),
        from: GridCell,
        to: GridCell,
        avoid: impl Fn(GridCell) -> bool,
        limit: usize,
    ) -> Option<Vec<GridCell>> {
        let cell = |c: GridCell| (c.x as u32, c.y as u32);
        let (astar, out) = scratch;
        astar_avoiding(
            &self.map,
            cell(from),
            cell(to),
            self.connectivity,
            astar,
            out,
            |(x, y)| avoid(GridCell::new(x as i32, y as i32)),
            limit,
        )?;
        Some(
            out.iter()
                .skip(1)
                .rev()
                .map(|&(x, y)| GridCell::new(x as i32, y as i32))
                .collect(),
        )
    }
}

fn travel(
    tick: Res<Tick>,
    plan: Res<PlanMap>,
    map: Res<NavMap>,
    occupancy: Res<GridOccupancy>,
    mut agents: WayfarerQuery,
) {
    agents.par_iter_mut().for_each_init(
        || (AstarScratch::new(), Vec::new()),
        |astar, (params, mut j, cell, outcome, mut intent)| {
            let j = &mut *j;
            let cell = *cell;
            match outcome.movement {
                Ruling::Granted => {
                    j.waited = 0;
                    j.moves += 1;
                    if j.path.last() == Some(&cell) {
                        j.path.pop();
                    }
                }
                Ruling::Lost { .. } | Ruling::Blocked { .. } => j.waited += 1,
                _ => {}
            }
            let Some(goal) = j.goal else { return };
            if cell == goal {
                j.arrived.get_or_insert(tick.0);
            } else {
                j.arrived = None;
            }
            let mut replan_around = false;
            j.aside = false;
            match outcome.victim.map(|v| v.action) {
                Some(DeadlockAction::BackOff) => j.aside = true,
                Some(DeadlockAction::Replan) => replan_around = true,
                None => {}
            }
            if cell == goal && outcome.blocking > 0 && j.waited == 0 {
                j.aside = true;
            }
            if j.waited >= params.patience {
                j.waited = 0;
                replan_around = true;
            }
            let limit = params.max_expansions as usize;
            let mut want = Intent::default();
            if j.aside {
                // A free neighbour across the line of the occupied ones (whoever waits is among
                // them), making way; the path back is planned once `away` ticks are over.
                let waiting: Vec<GridCell> = map
                    .neighbors(cell)
                    .filter(|&n| !occupancy.is_free(n))
                    .collect();
                want.to = map
                    .neighbors(cell)
                    .filter(|&n| occupancy.is_free(n))
                    .min_by_key(|&n| {
                        waiting
                            .iter()
                            .map(|w| {
                                ((n.x - cell.x) * (w.x - cell.x) + (n.y - cell.y) * (w.y - cell.y))
                                    .abs()
                            })
                            .sum::<i32>()
                    });
                want.give_way = true;
                j.path.clear();
                j.away = params.away;
            } else if j.away > 0 {
                j.away -= 1;
            } else if cell != goal {
                let on_path = j
                    .path
                    .last()
                    .is_some_and(|&next| map.neighbors(cell).any(|n| n == next));
                if replan_around {
                    let r = params.radius as i32;
                    let near = |c: GridCell| {
                        (c.x - cell.x).abs() <= r
                            && (c.y - cell.y).abs() <= r
                            && !occupancy.is_free(c)
                    };
                    if let Some(p) = plan.path(astar, cell, goal, near, limit) {
                        j.path = p;
                        j.replans += 1;
                    }
                }
                if (!on_path && !replan_around || j.path.is_empty())
                    && let Some(p) = plan.path(astar, cell, goal, |_| false, limit)
                {
                    if !j.path.is_empty() || j.moves > 0 {
                        j.replans += 1;
                    }
                    j.path = p;
                }
                want.to = j.path.last().copied();
            }
            if *intent != want {
                *intent = want;
            }
        },
    );
}
