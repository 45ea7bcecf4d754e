//! `greedy`: centralised sequential greedy assignment: the best (cheapest) worker-place pair
//! first, then the best of the rest, and so on.

use crate::allocation::centralized::{Planner, WorkerQuery};
use crate::allocation::common::{Valuation, install_monitor};
use crate::allocation::greedy::greedy_assignment;
use crate::allocation::lap::Objective;
use agora_engine::prelude::*;
use agora_engine::task::Tasks;
use serde::{Deserialize, Serialize};

/// Scenario: `allocation: (protocol: "greedy", params: (scoring: Distance))`.
///
/// Whenever the board changes, the idle workers and the free places of open tasks are
/// matched greedily: the lowest-cost feasible pair is taken, its worker and place removed,
/// and so on (ties: lowest agent id, then lowest task id). Gerkey and Mataric show many
/// market architectures reduce to this; with profits it reaches at least half the optimum.
#[derive(Resource, Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(transparent)]
pub struct Greedy(pub Valuation);

#[derive(Resource, Default)]
struct State {
    planner: Planner,
}

impl Mechanism for Greedy {
    const SECTION: Section = Section::Allocation;
    const NAME: &'static str = "greedy";
    const SUMMARY: &'static str = "Centralised sequential greedy: the best worker-task pair first.";

    fn build(sim: &mut SimBuilder) {
        let valuation = sim.world().resource::<Greedy>().0;
        sim.init_resource::<State>();
        sim.add_systems(Phase::Decide, decide);
        install_monitor(sim, valuation);
    }

    fn validate(&self, _: &ValidateCtx) -> Result<(), String> {
        self.0.validate()
    }
}

fn decide(
    params: Res<Greedy>,
    space: Res<Space>,
    tasks: Tasks,
    mut state: ResMut<State>,
    mut q: WorkerQuery,
) {
    let state = &mut *state;
    if !state.planner.prepare(&tasks, &q) {
        return;
    }
    let matrix = state.planner.costs(&tasks, &space, &params.0, false);
    let Ok(solution) = greedy_assignment(&matrix, Objective::Minimize) else {
        return;
    };
    state.planner.claim_assignment(&solution, &mut q);
}
