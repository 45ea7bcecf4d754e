//! `random_walk`: every tick, step a fixed distance in a uniformly random direction.
//!
//! The smallest complete behavior, and the one to copy: a params struct that is also the
//! agents' component, a `Behavior` impl that names it and adds one system, and the system.

use agora_engine::prelude::*;
use serde::{Deserialize, Serialize};

/// Scenario: `(behavior: "random_walk", count: 100, params: (step: 0.5))`
#[derive(Component, Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RandomWalk {
    /// Distance moved per tick, in world units (default 1.0).
    pub step: f64,
}

impl Default for RandomWalk {
    fn default() -> Self {
        RandomWalk { step: 1.0 }
    }
}

impl Behavior for RandomWalk {
    const NAME: &'static str = "random_walk";
    const SUMMARY: &'static str =
        "Step a fixed distance in a uniformly random direction each tick.";

    fn build(sim: &mut SimBuilder) {
        sim.add_systems(Phase::Act, walk);
    }

    fn validate(&self, ctx: &ValidateCtx) -> Result<(), String> {
        if ctx.world.kind != SpaceKind::Continuous {
            return Err("random_walk needs a continuous world (`kind: Continuous`)".into());
        }
        if !(self.step.is_finite() && self.step >= 0.0) {
            return Err(format!(
                "`step` must be a non-negative number, got {}",
                self.step
            ));
        }
        Ok(())
    }
}

/// Each agent draws its direction from its own random stream for this tick, so the result
/// does not depend on the order agents are visited in.
fn walk(
    tick: Res<Tick>,
    rng: Res<SimRng>,
    space: Res<Space>,
    mut agents: Query<(&AgentId, &RandomWalk, &mut Position)>,
) {
    agents.iter_mut().for_each(|(id, walk, mut pos)| {
        let angle = rng
            .agent(id.0, tick.0, Purpose::DECIDE)
            .random_range(0.0..std::f64::consts::TAU);
        pos.0 = space.wrap(pos.0 + walk.step * DVec2::from_angle(angle));
    });
}
