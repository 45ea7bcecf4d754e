//! What the message-based protocols (`contract_net`, `ssi_auction`, `cbba`) say to each
//! other, and the counters they keep besides the bus's own accounting.
//!
//! One payload type serves the three protocols, so that a run has one bus and the bus's
//! counters (copies and bytes per performative) are the protocol's message costs. Payload
//! bytes are what the bus measures: the compact binary encoding of these variants.

use crate::allocation::insertion::Point;
use agora_engine::comms::{Mailbox, Outbox};
use agora_engine::prelude::*;
use agora_engine::task::{TaskIntents, Worker};
use serde::Serialize;

/// The workers of the bidding protocols (`ssi_auction`, `cbba`) with their message queues.
pub(super) type BidderQuery<'w, 's> = Query<
    'w,
    's,
    (
        Entity,
        &'static AgentId,
        &'static Worker,
        &'static Position,
        &'static mut TaskIntents,
        &'static mut Mailbox<AllocMsg>,
        &'static mut Outbox<AllocMsg>,
    ),
>;

/// A position as the route and bundle planners take it.
pub(super) fn point(v: DVec2) -> Point {
    Point::new(v.x, v.y)
}

/// The content of an allocation message; the performative travels in the envelope header.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum AllocMsg {
    /// `cfp` (contract net): a task, what it needs, and the reply-by tick. `round` counts the
    /// calls of one conversation (iterated contract net sends revised calls).
    Call {
        /// The task.
        task: u32,
        /// Its location.
        x: f64,
        /// Its location.
        y: f64,
        /// Skills it needs (bit set).
        skills: u32,
        /// Ticks of work.
        workload: u64,
        /// Answers delivered after this tick are ignored.
        reply_by: u64,
        /// 1 for the first call, 2 for the first revised call, ...
        round: u32,
    },
    /// `propose`: the contractor's cost for the task (lower is better).
    Offer {
        /// The task.
        task: u32,
        /// Its cost.
        cost: f64,
    },
    /// `refuse` (contract net, SSI): no offer for the task (or the auction round).
    Decline {
        /// The task (the auction round for SSI).
        task: u32,
    },
    /// `accept-proposal`: the task is the receiver's; `at` is the queue index it was bid for.
    Award {
        /// The task.
        task: u32,
        /// Queue index the bid assumed (SSI; `None`: append).
        at: Option<u32>,
    },
    /// `reject-proposal`.
    Turn {
        /// The task.
        task: u32,
    },
    /// `inform` (inform-done): the task is complete, or a cancel was carried out.
    Done {
        /// The task.
        task: u32,
    },
    /// `failure`: the contractor could not take or finish the task.
    Fail {
        /// The task.
        task: u32,
    },
    /// `cancel`: the manager withdraws the call or the award.
    Cancel {
        /// The task.
        task: u32,
    },
    /// `cfp` (SSI): one auction round over these tasks.
    Auction {
        /// Round number.
        round: u32,
        /// The tasks on offer, ascending ids.
        tasks: Vec<u32>,
    },
    /// `propose` (SSI): the bidder's single best bid of the round.
    Bid {
        /// Round number.
        round: u32,
        /// The task.
        task: u32,
        /// The bid (lower wins).
        value: f64,
        /// Queue index the bid assumes.
        at: u32,
    },
    /// `inform` (CBBA): one consensus broadcast, `(y, z, s)` of Choi, Brunet & How.
    Consensus {
        /// The allocation epoch (a fixed set of tasks and agents).
        epoch: u32,
        /// Send tick.
        sent_at: f64,
        /// Winning bids, per task of the epoch.
        y: Vec<f64>,
        /// Winners (team index, -1 for none), per task of the epoch.
        z: Vec<i32>,
        /// Per team member, when information from it was last heard.
        s: Vec<f64>,
    },
}

/// Protocol-level counts the bus cannot see: auction and consensus rounds, answers and
/// time-outs of calls, re-announcements and cancels. Read by the `task_allocation` metric.
#[derive(Resource, Debug, Default, Clone, PartialEq)]
pub struct ProtocolStats {
    /// Rounds of each finished allocation: contract-net calls per award, SSI rounds per
    /// auction, CBBA consensus rounds to convergence per epoch.
    pub rounds: Vec<u64>,
    /// Calls (cfp copies addressed) whose answer was awaited.
    pub invited: u64,
    /// Answers (propose or refuse) received by the deadline.
    pub answered: u64,
    /// Awaited answers that had not come by the deadline.
    pub timed_out: u64,
    /// Answers that came after the deadline (ignored).
    pub late: u64,
    /// Tasks announced again after a failure, a lost award or no offer.
    pub reannounced: u64,
    /// Conversations cancelled.
    pub cancelled: u64,
    /// Epochs (CBBA) that ended without the team agreeing.
    pub unconverged: u64,
}

impl ProtocolStats {
    /// Mean rounds per finished allocation; NaN before the first.
    pub fn rounds_mean(&self) -> f64 {
        if self.rounds.is_empty() {
            f64::NAN
        } else {
            self.rounds.iter().sum::<u64>() as f64 / self.rounds.len() as f64
        }
    }
}

/// The live workers that talk, ascending ids: `(id, entity)`.
pub(crate) fn sorted_ids<'a>(
    q: impl Iterator<Item = (Entity, &'a AgentId)>,
    out: &mut Vec<(u32, Entity)>,
) {
    out.clear();
    out.extend(q.map(|(e, id)| (id.0, e)));
    out.sort_unstable_by_key(|p| p.0);
}
