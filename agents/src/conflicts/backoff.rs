//! `backoff`: losers wait a random, exponentially growing time before trying again, as in
//! CSMA/CD's truncated binary exponential backoff.

use super::{draw, slot};
use agora_engine::prelude::*;
use serde::{Deserialize, Serialize};

/// Who wins a collision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CollisionWinner {
    /// A seeded random party wins; the others back off.
    #[default]
    Random,
    /// The earliest request wins; the others back off.
    FirstCome,
    /// Nobody: every party backs off (pure CSMA, where a collision destroys every frame).
    None,
}

/// Scenario: `conflicts: (policy: "backoff", params: (slot: 1, max_exponent: 10))`
///
/// After its `c`-th loss in a row a party waits a uniform number of slots in
/// `0 .. 2^min(c, max_exponent)`, then its wants count again.
#[derive(Resource, Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Backoff {
    /// Who wins a collision (default `Random`).
    pub winner: CollisionWinner,
    /// Ticks per backoff slot (default 1).
    pub slot: u64,
    /// Cap on the exponent (default 10, as in Ethernet).
    pub max_exponent: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            winner: CollisionWinner::Random,
            slot: 1,
            max_exponent: 10,
        }
    }
}

impl Mechanism for Backoff {
    const SECTION: Section = Section::Conflicts;
    const NAME: &'static str = "backoff";
    const SUMMARY: &'static str =
        "Losers back off a random, exponentially growing number of ticks (CSMA-like).";

    fn build(sim: &mut SimBuilder) {
        sim.use_intents();
        sim.add_systems(Phase::Resolve, collide);
    }

    fn validate(&self, _: &ValidateCtx) -> Result<(), String> {
        if self.slot == 0 {
            return Err("`slot` must be at least 1 tick".into());
        }
        if self.max_exponent > 32 {
            return Err(format!(
                "`max_exponent` must be at most 32, got {}",
                self.max_exponent
            ));
        }
        Ok(())
    }
}

fn collide(params: Res<Backoff>, rng: Res<SimRng>, mut conflicts: ResMut<Conflicts>) {
    let tick = conflicts.tick();
    let mut deferrals = Vec::new();
    for mut c in conflicts.iter_mut() {
        let kind = c.kind().index() as u32;
        match params.winner {
            CollisionWinner::Random => {
                c.rank_by_key(|p| (draw(&rng, p.agent, tick, kind), p.agent))
            }
            CollisionWinner::FirstCome => c.rank_by_key(|p| (p.since, p.agent)),
            CollisionWinner::None => c.set_winners(0),
        }
        let w = c.winners() as usize;
        for p in &c.parties()[w..] {
            let exponent = (p.losses + 1).min(params.max_exponent);
            let slots = draw(&rng, p.agent, tick, slot::BACKOFF) % (1u64 << exponent);
            // Waiting 0 slots means trying again next tick.
            deferrals.push((p.agent, tick + 1 + slots * params.slot));
        }
    }
    for (agent, until) in deferrals {
        conflicts.defer(agent, until);
    }
}
