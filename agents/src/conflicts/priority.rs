//! `priority`: a fixed order decides every conflict.

use agora_engine::prelude::*;
use serde::{Deserialize, Serialize};

/// What orders the parties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum PriorityKey {
    /// The lowest agent id wins.
    #[default]
    Id,
    /// The highest [`Urgency`] wins (chargers: lowest battery; commuters: longest wait),
    /// ties to the lowest id.
    Urgency,
}

/// Scenario: `conflicts: (policy: "priority", params: (by: Urgency))`
#[derive(Resource, Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Priority {
    /// What orders the parties (default `Id`).
    pub by: PriorityKey,
    /// Reverse the order: the highest id, or the lowest urgency, wins (default false).
    pub reverse: bool,
}

impl Mechanism for Priority {
    const SECTION: Section = Section::Conflicts;
    const NAME: &'static str = "priority";
    const SUMMARY: &'static str =
        "A fixed order wins every conflict: the lowest agent id, or the highest urgency.";

    fn build(sim: &mut SimBuilder) {
        sim.use_intents();
        sim.add_systems(Phase::Resolve, rank);
    }
}

fn rank(params: Res<Priority>, mut conflicts: ResMut<Conflicts>) {
    for mut c in conflicts.iter_mut() {
        match params.by {
            PriorityKey::Id => c.rank_by_key(|p| p.agent),
            PriorityKey::Urgency => c.rank_by_key(|p| (-p.urgency, p.agent)),
        }
        if params.reverse {
            c.parties_mut().reverse();
        }
    }
}
