//! What every protocol shares: how a pair (agent, task) is valued, snapshots of workers and
//! open task places, and the optimality-gap monitor.

use super::lap::{CostMatrix, FORBIDDEN, LapSolver, Objective};
use agora_engine::prelude::*;
use agora_engine::task::{SkillSet, Task, TaskBoard, TaskId, Tasks, Worker};
use serde::{Deserialize, Serialize};

/// How protocols value giving a task to an agent, as a cost to minimise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Scoring {
    /// Travel distance to the task (the classic assignment cost).
    #[default]
    Distance,
    /// Ticks until the task would be done: travel time plus workload.
    Time,
    /// Reward minus cost, maximised: `reward - distance_cost * distance` (the cost is its
    /// negative; `distance_cost` is a param of the protocol).
    Profit,
}

/// The default `distance_cost` of protocols: reward lost per unit of distance.
pub const DEFAULT_DISTANCE_COST: f64 = 0.01;

/// How a pair is valued: the scoring rule and, for `Profit`, the cost per unit of distance.
/// Also the whole params section of the centralised protocols (`greedy`, `optimal`,
/// `random`), which need nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Valuation {
    /// What is minimised (default `Distance`).
    pub scoring: Scoring,
    /// Reward lost per unit of distance under `Profit` scoring (default 0.01).
    pub distance_cost: f64,
}

impl Default for Valuation {
    fn default() -> Self {
        Valuation::new(Scoring::Distance, DEFAULT_DISTANCE_COST)
    }
}

impl Valuation {
    /// A valuation; `distance_cost` only matters for `Profit`.
    pub fn new(scoring: Scoring, distance_cost: f64) -> Valuation {
        Valuation {
            scoring,
            distance_cost,
        }
    }

    /// The cost of an agent at `from` moving at `speed` doing `task`.
    pub fn cost(self, space: &Space, from: DVec2, speed: f64, task: &Task) -> f64 {
        let d = space.delta(from, task.location).length();
        match self.scoring {
            Scoring::Distance => d,
            Scoring::Time => d / speed + task.workload as f64,
            Scoring::Profit => -(task.reward - self.distance_cost * d),
        }
    }

    /// Checks the params.
    pub fn validate(self) -> Result<(), String> {
        if !(self.distance_cost.is_finite() && self.distance_cost >= 0.0) {
            return Err(format!(
                "`distance_cost` must be finite and >= 0, got {}",
                self.distance_cost
            ));
        }
        Ok(())
    }
}

/// A worker as protocols see it in one tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgentView {
    /// Agent id.
    pub id: u32,
    /// Its entity.
    pub entity: Entity,
    /// Where it is.
    pub pos: DVec2,
    /// Its speed.
    pub speed: f64,
    /// Its skills.
    pub skills: SkillSet,
    /// Whether it holds no task.
    pub idle: bool,
    /// Free places in its queue.
    pub room: u32,
}

/// Every worker, ascending ids.
pub fn workers<'a>(
    q: impl Iterator<Item = (Entity, &'a AgentId, &'a Worker, &'a Position)>,
    out: &mut Vec<AgentView>,
) {
    out.clear();
    out.extend(q.map(|(entity, id, w, p)| AgentView {
        id: id.0,
        entity,
        pos: p.0,
        speed: w.speed,
        skills: w.skills,
        idle: w.is_idle(),
        room: w.capacity.saturating_sub(w.queue().len() as u32),
    }));
    out.sort_unstable_by_key(|a| a.id);
}

/// One free place on an open task (a coalition task has several).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    /// The task.
    pub task: TaskId,
    /// Where it is.
    pub location: DVec2,
    /// Skills it needs.
    pub skills: SkillSet,
}

/// One entry per free place of every open task, ascending task ids.
pub fn open_slots(tasks: &Tasks<'_, '_>, out: &mut Vec<Slot>) {
    out.clear();
    for (t, s) in tasks.open() {
        for _ in 0..s.free_places(t) {
            out.push(Slot {
                task: t.id,
                location: t.location,
                skills: t.skills,
            });
        }
    }
}

/// Builds the idle-agents x free-places cost matrix (forbidden where skills are missing),
/// with one extra "stay idle" column per agent at a cost above any real assignment, so
/// that a solver covering every row maximises the number of agents assigned first and
/// minimises cost second.
pub fn assignment_matrix(
    agents: &[AgentView],
    slots: &[Slot],
    costs: impl Fn(&AgentView, &Slot) -> f64,
    with_idle_columns: bool,
) -> CostMatrix {
    let extra = if with_idle_columns { agents.len() } else { 0 };
    let cols = slots.len() + extra;
    let mut data = Vec::with_capacity(agents.len() * cols);
    let mut worst: f64 = 0.0;
    for a in agents {
        for s in slots {
            let c = if a.skills.covers(s.skills) {
                let c = costs(a, s);
                worst = worst.max(c.abs());
                c
            } else {
                FORBIDDEN
            };
            data.push(c);
        }
        data.extend(std::iter::repeat_n(0.0, extra));
    }
    if with_idle_columns {
        // Leaving an agent idle must cost more than any swap of real assignments can save:
        // twice the largest |cost| times the rows bounds that, plus one.
        let idle = 2.0 * worst * agents.len() as f64 + 1.0;
        for r in 0..agents.len() {
            for c in slots.len()..cols {
                data[r * cols + c] = idle;
            }
        }
    }
    CostMatrix {
        rows: agents.len(),
        cols,
        data,
    }
}

/// The optimality gap against the optimal assignment on the same instance. Every tick in
/// which idle workers win tasks is an instance: the workers idle before the claims and the
/// free places of the tasks open then. If the protocol gave `k` of those workers a task, its
/// cost is compared with the cheapest way to give `k` of the same workers one place each.
/// (Comparing with the same cardinality keeps protocols that assign fewer pairs at once,
/// such as decentralised ones mid-negotiation, from looking better than optimal.)
#[derive(Resource, Debug)]
pub struct GapMonitor {
    valuation: Valuation,
    /// Sum over instances of the protocol's cost.
    pub protocol_cost: f64,
    /// Sum over instances of the optimal cost.
    pub optimal_cost: f64,
    /// Instances seen.
    pub instances: u64,
    solver: LapSolver,
    rows: Vec<AgentView>,
    slots: Vec<Slot>,
    workers: Vec<(u32, f64, SkillSet)>,
}

impl GapMonitor {
    /// A monitor valuing pairs like the protocol does.
    pub fn new(valuation: Valuation) -> GapMonitor {
        GapMonitor {
            valuation,
            protocol_cost: 0.0,
            optimal_cost: 0.0,
            instances: 0,
            solver: LapSolver::new(),
            rows: Vec::new(),
            slots: Vec::new(),
            workers: Vec::new(),
        }
    }

    /// `(protocol - optimal) / |optimal|` over all instances so far: 0 is optimal; NaN
    /// before the first instance or when the optimum is 0 and the protocol's cost is not.
    pub fn gap(&self) -> f64 {
        if self.instances == 0 {
            return f64::NAN;
        }
        let diff = self.protocol_cost - self.optimal_cost;
        if self.optimal_cost == 0.0 {
            return if diff.abs() < 1e-12 { 0.0 } else { f64::NAN };
        }
        // Rounding in the two sums can leave a hair below zero.
        (diff / self.optimal_cost.abs()).max(0.0)
    }

    /// Adds one instance: `idle` workers (id, position, speed, skills), `slots`, and the
    /// protocol's `awards` (worker id, task) to idle workers; `cost` values a pair.
    /// Returns `(protocol cost, optimal cost)`.
    pub fn add_instance(
        &mut self,
        idle: &[AgentView],
        slots: &[Slot],
        awards: &[(u32, TaskId)],
        cost: impl Fn(&AgentView, TaskId) -> f64,
    ) -> Option<(f64, f64)> {
        let k = awards.len();
        if k == 0 || idle.is_empty() {
            return None;
        }
        let protocol: f64 = awards
            .iter()
            .filter_map(|&(agent, task)| idle.iter().find(|a| a.id == agent).map(|a| cost(a, task)))
            .sum();
        if !protocol.is_finite() {
            return None;
        }
        // Cheapest k-matching: shift real costs to be positive and give the rows
        // `idle - k` free "no task" columns; covering every row at least cost then uses
        // exactly `idle - k` of them.
        let real = assignment_matrix(idle, slots, |a, s| cost(a, s.task), false);
        let shift = real
            .data
            .iter()
            .filter(|c| c.is_finite())
            .fold(0.0_f64, |m, c| m.max(c.abs()))
            + 1.0;
        let free = idle.len().checked_sub(k)?;
        let cols = slots.len() + free;
        let mut data = Vec::with_capacity(idle.len() * cols);
        for r in 0..idle.len() {
            data.extend(
                real.data[r * slots.len()..(r + 1) * slots.len()]
                    .iter()
                    .map(|&c| c + shift),
            );
            data.extend(std::iter::repeat_n(0.0, free));
        }
        let matrix = CostMatrix {
            rows: idle.len(),
            cols,
            data,
        };
        let best = self.solver.solve(&matrix, Objective::Minimize).ok()?;
        // The optimum summed in row order from the unshifted costs.
        let optimal: f64 = best
            .row_to_col
            .iter()
            .enumerate()
            .filter_map(|(r, c)| {
                c.filter(|&c| c < slots.len())
                    .map(|c| real.data[r * slots.len() + c])
            })
            .sum();
        let optimal = optimal.min(protocol);
        self.protocol_cost += protocol;
        self.optimal_cost += optimal;
        self.instances += 1;
        Some((protocol, optimal))
    }
}

/// Adds the gap monitor (Act, after claims are resolved).
pub fn install_monitor(sim: &mut SimBuilder, valuation: Valuation) {
    sim.insert_resource(GapMonitor::new(valuation));
    sim.add_systems(Phase::Act, monitor_gap);
}

fn monitor_gap(
    space: Res<Space>,
    board: Res<TaskBoard>,
    tasks: Tasks,
    mut monitor: ResMut<GapMonitor>,
    workers: Query<(&AgentId, &Worker)>,
) {
    let last = board.last_resolution();
    if !last.awards.iter().any(|a| a.was_idle) {
        return;
    }
    let m = &mut *monitor;
    m.workers.clear();
    m.workers
        .extend(workers.iter().map(|(id, w)| (id.0, w.speed, w.skills)));
    m.workers.sort_unstable_by_key(|w| w.0);
    m.rows.clear();
    for &(agent, pos) in &last.idle {
        if let Ok(i) = m.workers.binary_search_by_key(&agent, |w| w.0) {
            let (_, speed, skills) = m.workers[i];
            m.rows.push(AgentView {
                id: agent,
                entity: Entity::PLACEHOLDER,
                pos,
                speed,
                skills,
                idle: true,
                room: 0,
            });
        }
    }
    // One award per idle worker (its first, in task order), in agent-id order.
    let mut awards: Vec<(u32, TaskId)> = Vec::new();
    for a in last.awards.iter().filter(|a| a.was_idle) {
        if !awards.iter().any(|&(id, _)| id == a.agent) {
            awards.push((a.agent, a.task));
        }
    }
    awards.sort_unstable_by_key(|a| a.0);
    m.slots.clear();
    for &(task, location, skills, free) in &last.open {
        for _ in 0..free {
            m.slots.push(Slot {
                task,
                location,
                skills,
            });
        }
    }
    let valuation = m.valuation;
    let cost = |a: &AgentView, task: TaskId| {
        tasks
            .get(task)
            .map_or(f64::NAN, |(t, _)| valuation.cost(&space, a.pos, a.speed, t))
    };
    let rows = std::mem::take(&mut m.rows);
    let slots = std::mem::take(&mut m.slots);
    m.add_instance(&rows, &slots, &awards, cost);
    m.rows = rows;
    m.slots = slots;
}
