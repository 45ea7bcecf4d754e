//! `first_come`: the earliest request wins (a FIFO queue per contested thing).

use super::draw;
use agora_engine::prelude::*;
use serde::{Deserialize, Serialize};

/// How requests made in the same tick are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TieBreak {
    /// The lowest agent id first.
    #[default]
    Id,
    /// A seeded random order.
    Random,
}

/// Scenario: `conflicts: (policy: "first_come", params: (ties: Random))`
///
/// A party's request time is the tick it started wanting the contested thing without
/// interruption ([`Party::since`](agora_engine::Party)). This is also what the engine does
/// without a `conflicts` section (with ties by id).
#[derive(Resource, Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FirstCome {
    /// Ties between requests of the same tick (default `Id`).
    pub ties: TieBreak,
}

impl Mechanism for FirstCome {
    const SECTION: Section = Section::Conflicts;
    const NAME: &'static str = "first_come";
    const SUMMARY: &'static str = "The earliest request wins; ties by id or at random.";

    fn build(sim: &mut SimBuilder) {
        sim.use_intents();
        sim.add_systems(Phase::Resolve, rank);
    }
}

fn rank(params: Res<FirstCome>, rng: Res<SimRng>, mut conflicts: ResMut<Conflicts>) {
    let tick = conflicts.tick();
    for mut c in conflicts.iter_mut() {
        match params.ties {
            TieBreak::Id => c.rank_by_key(|p| (p.since, p.agent)),
            TieBreak::Random => {
                let slot = c.kind().index() as u32;
                c.rank_by_key(|p| (p.since, draw(&rng, p.agent, tick, slot), p.agent));
            }
        }
    }
}
