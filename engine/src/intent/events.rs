//! The conflict event log: one row per conflict in `events_conflicts.csv` when the scenario
//! asks for it (`record: (events: ["conflicts"])`).

use super::{Conflicts, Contested};
use crate::phase::Tick;
use crate::record::{EventLog, LogEvent};
use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// One conflict of one tick, as the policy left it: its kind, the contested thing, the parties
/// in the policy's ranking and the winners (the first `winners` of them; none when the policy
/// left it undecided this tick).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictEvent {
    /// `vertex`, `swap`, `resource` or `task`.
    pub kind: String,
    /// The contested thing: `cell(x y)`, `edge(x y|x y)`, `resource(i)` or `task(i)`.
    pub thing: String,
    /// The parties' ids in ranked order, space-separated.
    pub parties: String,
    /// The winners' ids, space-separated (empty when undecided).
    pub winners: String,
}

impl LogEvent for ConflictEvent {
    const KIND: &'static str = "conflicts";
}

pub(crate) fn log_conflicts(
    tick: Res<Tick>,
    conflicts: Res<Conflicts>,
    mut log: ResMut<EventLog<ConflictEvent>>,
) {
    if !log.is_enabled() {
        return;
    }
    for (c, parties) in conflicts.iter() {
        let thing = match c.thing() {
            Contested::Cell(_)
            | Contested::Edge(..)
            | Contested::Resource(_)
            | Contested::Task(_) => c.thing().to_string(),
        };
        let mut ids = String::new();
        let mut winners = String::new();
        for (i, p) in parties.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            let _ = write!(ids, "{sep}{}", p.agent);
            if (i as u32) < c.winners() {
                let _ = write!(winners, "{sep}{}", p.agent);
            }
        }
        log.push(
            tick.0,
            ConflictEvent {
                kind: c.kind().name().to_owned(),
                thing,
                parties: ids,
                winners,
            },
        );
    }
}
