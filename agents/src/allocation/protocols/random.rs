//! `random`: a random feasible assignment, the floor any protocol should beat.

use crate::allocation::centralized::{Planner, WorkerQuery};
use crate::allocation::common::{Valuation, install_monitor};
use agora_engine::prelude::*;
use agora_engine::task::Tasks;
use serde::{Deserialize, Serialize};

/// The global random stream this protocol draws from.
const CHANNEL: u32 = 0x7261_6e64;

/// Scenario: `allocation: (protocol: "random")`.
///
/// Whenever the board changes, idle workers are visited in a random order and each takes a
/// uniformly random free place it has the skills for.
///
/// Its params are the objective the optimality gap is measured in; the choice itself
/// ignores them.
#[derive(Resource, Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(transparent)]
pub struct RandomAssignment(pub Valuation);

#[derive(Resource, Default)]
struct State {
    planner: Planner,
}

impl Mechanism for RandomAssignment {
    const SECTION: Section = Section::Allocation;
    const NAME: &'static str = "random";
    const SUMMARY: &'static str = "A random feasible assignment of idle workers (the floor).";

    fn build(sim: &mut SimBuilder) {
        let valuation = sim.world().resource::<RandomAssignment>().0;
        sim.init_resource::<State>();
        sim.add_systems(Phase::Decide, decide);
        install_monitor(sim, valuation);
    }

    fn validate(&self, _: &ValidateCtx) -> Result<(), String> {
        self.0.validate()
    }
}

fn decide(
    tick: Res<Tick>,
    rng: Res<SimRng>,
    tasks: Tasks,
    mut state: ResMut<State>,
    mut q: WorkerQuery,
) {
    let state = &mut *state;
    if !state.planner.prepare(&tasks, &q) {
        return;
    }
    let p = &state.planner;
    let mut r = rng.global(CHANNEL, tick.0, Purpose::DECIDE);
    let mut order: Vec<usize> = (0..p.agents.len()).collect();
    for i in (1..order.len()).rev() {
        let j = r.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    let mut taken = vec![false; p.slots.len()];
    let mut pairs = Vec::new();
    let mut feasible = Vec::new();
    for a in order {
        feasible.clear();
        feasible.extend(
            (0..p.slots.len())
                .filter(|&s| !taken[s] && p.agents[a].skills.covers(p.slots[s].skills)),
        );
        if feasible.is_empty() {
            continue;
        }
        let s = feasible[r.below(feasible.len() as u64) as usize];
        taken[s] = true;
        pairs.push((a, s));
    }
    p.claim(pairs, &mut q);
}
