//! `optimal`: centralised optimal assignment (Jonker-Volgenant shortest augmenting paths),
//! re-solved whenever tasks arrive, complete or reopen, or workers free up. The ground truth
//! for optimality gaps.

use crate::allocation::centralized::{Planner, WorkerQuery};
use crate::allocation::common::{Valuation, install_monitor};
use crate::allocation::lap::{LapSolver, Objective};
use agora_engine::prelude::*;
use agora_engine::task::Tasks;
use serde::{Deserialize, Serialize};

/// Scenario: `allocation: (protocol: "optimal", params: (scoring: Distance))`.
///
/// Each time the board changes, idle workers are matched to the free places of open tasks
/// (a coalition task offers one place per missing worker) so as to assign as many workers
/// as possible at the least total cost: one minimum-cost assignment over the idle workers
/// and the places, plus a "stay idle" column per worker that costs more than any real
/// assignment can save. Pairs whose skills do not match are forbidden.
#[derive(Resource, Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Default)]
#[serde(transparent)]
pub struct Optimal(pub Valuation);

#[derive(Resource, Default)]
struct State {
    planner: Planner,
    solver: LapSolver,
}

impl Mechanism for Optimal {
    const SECTION: Section = Section::Allocation;
    const NAME: &'static str = "optimal";
    const SUMMARY: &'static str = "Centralised optimal assignment (Jonker-Volgenant), re-solved when tasks or workers change.";

    fn build(sim: &mut SimBuilder) {
        let valuation = sim.world().resource::<Optimal>().0;
        sim.init_resource::<State>();
        sim.add_systems(Phase::Decide, decide);
        install_monitor(sim, valuation);
    }

    fn validate(&self, _: &ValidateCtx) -> Result<(), String> {
        self.0.validate()
    }
}

fn decide(
    params: Res<Optimal>,
    space: Res<Space>,
    tasks: Tasks,
    mut state: ResMut<State>,
    mut q: WorkerQuery,
) {
    let state = &mut *state;
    if !state.planner.prepare(&tasks, &q) {
        return;
    }
    let matrix = state.planner.costs(&tasks, &space, &params.0, true);
    let Ok(solution) = state.solver.solve(&matrix, Objective::Minimize) else {
        return;
    };
    state.planner.claim_assignment(&solution, &mut q);
}
