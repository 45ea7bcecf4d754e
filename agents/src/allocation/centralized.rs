//! The shared driver of centralised instantaneous-assignment protocols (`optimal`, `greedy`,
//! `random`): whenever the task board changed, take the idle workers and the free places of
//! open tasks, let the protocol match them, and claim the matched places.

use super::common::{AgentView, Slot, Valuation, assignment_matrix, open_slots, workers};
use super::lap::{Assignment, CostMatrix};
use agora_engine::prelude::*;
use agora_engine::task::{TaskIntents, Tasks, Worker};

/// What the driver keeps between ticks.
#[derive(Debug, Default)]
pub struct Planner {
    last_generation: Option<u64>,
    /// Idle workers this tick, ascending ids.
    pub agents: Vec<AgentView>,
    /// Free places this tick, ascending task ids.
    pub slots: Vec<Slot>,
    all: Vec<AgentView>,
    /// Solves run so far.
    pub solves: u64,
}

/// The worker query centralised protocols use.
pub type WorkerQuery<'w, 's> = Query<
    'w,
    's,
    (
        Entity,
        &'static AgentId,
        &'static Worker,
        &'static Position,
        &'static mut TaskIntents,
    ),
>;

impl Planner {
    /// Fills `agents` and `slots` and returns `true` when there is something to match:
    /// the board changed since the last plan and there are idle workers and free places.
    pub fn prepare(&mut self, tasks: &Tasks, q: &WorkerQuery) -> bool {
        let generation = tasks.generation();
        if self.last_generation == Some(generation) {
            return false;
        }
        self.last_generation = Some(generation);
        workers(
            q.iter().map(|(e, id, w, p, _)| (e, id, w, p)),
            &mut self.all,
        );
        self.agents.clear();
        self.agents.extend(self.all.iter().filter(|a| a.idle));
        if self.agents.is_empty() || tasks.board().open_count() == 0 {
            return false;
        }
        open_slots(tasks, &mut self.slots);
        self.solves += 1;
        !self.slots.is_empty()
    }

    /// The cost of every idle worker (rows) for every free place (columns) under
    /// `valuation`, skill mismatches forbidden; `idle_columns` adds a "stay idle" column per
    /// worker (see [`assignment_matrix`]).
    pub fn costs(
        &self,
        tasks: &Tasks,
        space: &Space,
        valuation: &Valuation,
        idle_columns: bool,
    ) -> CostMatrix {
        assignment_matrix(
            &self.agents,
            &self.slots,
            |a, s| {
                tasks.get(s.task).map_or(f64::INFINITY, |(t, _)| {
                    valuation.cost(space, a.pos, a.speed, t)
                })
            },
            idle_columns,
        )
    }

    /// Claims the places `solution` gives to workers; "stay idle" columns claim nothing.
    pub fn claim_assignment(&self, solution: &Assignment, q: &mut WorkerQuery) {
        let real = self.slots.len();
        self.claim(
            solution
                .row_to_col
                .iter()
                .enumerate()
                .filter_map(|(a, c)| c.filter(|&c| c < real).map(|c| (a, c))),
            q,
        );
    }

    /// Claims `slots[s]` for `agents[a]` for every `(a, s)`.
    pub fn claim(&self, pairs: impl IntoIterator<Item = (usize, usize)>, q: &mut WorkerQuery) {
        for (a, s) in pairs {
            if let Ok((_, _, _, _, mut intents)) = q.get_mut(self.agents[a].entity) {
                intents.claim(self.slots[s].task);
            }
        }
    }
}
