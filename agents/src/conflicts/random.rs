//! `random`: a seeded random winner.

use super::draw;
use agora_engine::prelude::*;
use serde::{Deserialize, Serialize};

/// Scenario: `conflicts: (policy: "random")`
///
/// Each party draws a key from its own stream (slot = the conflict kind, so an agent in a
/// move and a resource conflict in one tick draws independently for each); the smallest key
/// wins, so every party is equally likely to, whatever the order of visiting.
#[derive(Resource, Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RandomWinner {}

impl Mechanism for RandomWinner {
    const SECTION: Section = Section::Conflicts;
    const NAME: &'static str = "random";
    const SUMMARY: &'static str = "A seeded random party wins each conflict.";

    fn build(sim: &mut SimBuilder) {
        sim.use_intents();
        sim.add_systems(Phase::Resolve, rank);
    }
}

fn rank(rng: Res<SimRng>, mut conflicts: ResMut<Conflicts>) {
    let tick = conflicts.tick();
    for mut c in conflicts.iter_mut() {
        let slot = c.kind().index() as u32;
        c.rank_by_key(|p| (draw(&rng, p.agent, tick, slot), p.agent));
    }
}
