//! Conflict-resolution policies, one file each, selected by a scenario's
//! `conflicts: (policy: "...", params: (...))`.
//!
//! A policy is a [`Mechanism`] of
//! [`Section::Conflicts`](agora_engine::Section): its Resolve systems run between the
//! engine's detection and settling, and reorder the parties of each conflict in the
//! [`Conflicts`] resource (the first `winners` of them win). It may
//! leave a conflict undecided for a tick, defer losers (backoff) and count the messages it
//! spends. See `engine/src/intent/mod.rs` for the stages of the Resolve phase.
//!
//! Random draws come from each party's own stream for [`Purpose::CONFLICT`], one `u64` slot
//! per use (see `draw`), so no decision depends on the order conflicts are visited in.

mod auction;
mod backoff;
mod first_come;
mod negotiation;
mod priority;
pub mod procedures;
mod random;
mod token;
mod voting;

pub use auction::{Auction, Credits};
pub use backoff::{Backoff, CollisionWinner};
pub use first_come::{FirstCome, TieBreak};
pub use negotiation::{Fallback, Negotiation, NegotiationStats, Offer, Protocol};
pub use priority::{Priority, PriorityKey};
pub use random::RandomWinner;
pub use token::{ThingKey, Token, TokenMsg, Tokens, thing_key};
pub use voting::{Voters, Voting, VotingRule};

use agora_engine::prelude::*;

/// Slots of the [`Purpose::CONFLICT`] stream: 0 to 3 random ranking keys (by conflict kind),
/// 4 backoff, 5 voting tie-breaks. The engine uses slot 7 for random deadlock victims.
pub(crate) mod slot {
    /// Backoff waits.
    pub const BACKOFF: u32 = 4;
    /// Voting ties.
    pub const VOTE: u32 = 5;
}

/// Gives every population's agents a bus for `P`: policies that resolve conflicts by
/// messages (token, negotiation) talk with whoever is in conflict, whatever its behavior.
pub(crate) fn messaging_for_everyone<P: agora_engine::comms::Payload>(sim: &mut SimBuilder) {
    let behaviors: Vec<String> = sim
        .scenario()
        .populations
        .iter()
        .map(|p| p.behavior.clone())
        .collect();
    for b in behaviors {
        sim.messaging::<P>(&b);
    }
}

/// The `slot`-th `u64` of `agent`'s conflict stream at `tick`.
pub(crate) fn draw(rng: &SimRng, agent: u32, tick: u64, slot: u32) -> u64 {
    let mut r = rng.agent(agent, tick, Purpose::CONFLICT);
    for _ in 0..slot {
        r.next_u64();
    }
    r.next_u64()
}
