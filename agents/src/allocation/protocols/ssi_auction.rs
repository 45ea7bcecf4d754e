//! `ssi_auction`: sequential single-item auctions over the message bus (Lagoudakis et al.
//! 2005; Koenig et al. 2006), with the MiniSum (BidSumPath) and MiniMax (BidMaxPath) bidding
//! rules.
//!
//! An auctioneer (the lowest-id live worker, which does not bid) announces the unallocated
//! open tasks in a `cfp`; every worker with room in its queue answers with its single best
//! bid (`propose`: task, value, insertion index) or `refuse`; once all have answered or the
//! reply-by tick has passed, the lowest `(bid, worker id, task id)` wins an
//! `accept-proposal`, the winner inserts the task into its queue at the index it bid for,
//! and the next round is announced in the same tick. Rounds go on until no task is left or
//! nobody bids; new tasks start a new auction. Per round: one announcement to each of the
//! `n` bidders, `n` answers and one award, `2n + 1` copies.

use super::messages::{AllocMsg, BidderQuery as Agents, ProtocolStats, point, sorted_ids};
use crate::allocation::common::{DEFAULT_DISTANCE_COST, Scoring, Valuation, install_monitor};
use crate::allocation::insertion::{Point, minimax_bid, minisum_bid};
use agora_engine::comms::{Bus, ConversationId, Header, Performative, Recipients};
use agora_engine::prelude::*;
use agora_engine::task::{TaskId, TaskIntent, TaskStatus, Tasks};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The team objective, which fixes what robots bid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SsiRule {
    /// Total travel distance: bid the marginal cost of inserting the task into the path.
    #[default]
    MiniSum,
    /// Longest path: bid the cost of the whole path with the task inserted.
    MiniMax,
}

/// Scenario: `allocation: (protocol: "ssi_auction", params: (rule: MiniSum))`.
#[derive(Resource, Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SsiAuction {
    /// Bidding rule (default `MiniSum`).
    pub rule: SsiRule,
    /// Ticks from an announcement to its reply-by deadline (default 3).
    pub bid_timeout: u64,
    /// Most tasks offered in one round, lowest ids first (default 100).
    pub batch: u32,
    /// Ticks to wait before auctioning again after a round without bids (default 5).
    pub retry: u64,
    /// Ticks after an award by which the winner must claim the task, or it is auctioned
    /// again (default 10).
    pub award_timeout: u64,
    /// The objective the optimality gap is measured in (default `Distance`).
    pub scoring: Scoring,
    /// Reward lost per unit of distance under `Profit` scoring (default 0.01).
    pub distance_cost: f64,
}

impl Default for SsiAuction {
    fn default() -> Self {
        SsiAuction {
            rule: SsiRule::MiniSum,
            bid_timeout: 3,
            batch: 100,
            retry: 5,
            award_timeout: 10,
            scoring: Scoring::Distance,
            distance_cost: DEFAULT_DISTANCE_COST,
        }
    }
}

#[derive(Debug, Clone, Default)]
enum Stage {
    #[default]
    Idle,
    Collecting {
        reply_by: u64,
        invited: u64,
        answers: u64,
        /// Lowest `(bid, agent, task, at)` so far.
        best: Option<(f64, u32, u32, u32)>,
    },
    Pause {
        until: u64,
    },
}

#[derive(Resource, Default)]
struct State {
    auctioneer: Option<u32>,
    round: u32,
    /// Rounds in the current auction.
    rounds: u64,
    stage: Stage,
    /// Awarded and not yet claimed: task -> award tick.
    awarded: BTreeMap<u32, u64>,
    conversation: ConversationId,
    ids: Vec<(u32, Entity)>,
    offer: Vec<u32>,
    order: Vec<TaskId>,
    path: Vec<Point>,
}

impl Mechanism for SsiAuction {
    const SECTION: Section = Section::Allocation;
    const NAME: &'static str = "ssi_auction";
    const SUMMARY: &'static str =
        "Sequential single-item auctions over the bus, MiniSum or MiniMax bids.";

    fn build(sim: &mut SimBuilder) {
        let p = sim.world().resource::<SsiAuction>();
        let valuation = Valuation::new(p.scoring, p.distance_cost);
        sim.messaging::<AllocMsg>("worker");
        sim.init_resource::<State>();
        sim.init_resource::<ProtocolStats>();
        sim.add_systems(Phase::Decide, decide);
        install_monitor(sim, valuation);
    }

    fn validate(&self, _: &ValidateCtx) -> Result<(), String> {
        if self.bid_timeout == 0 || self.retry == 0 || self.award_timeout == 0 {
            return Err("`bid_timeout`, `retry` and `award_timeout` must be at least 1".into());
        }
        if self.batch == 0 {
            return Err("`batch` must be at least 1".into());
        }
        Valuation::new(self.scoring, self.distance_cost).validate()
    }
}

fn decide(
    params: Res<SsiAuction>,
    tick: Res<Tick>,
    tasks: Tasks,
    bus: Res<Bus<AllocMsg>>,
    mut state: ResMut<State>,
    mut stats: ResMut<ProtocolStats>,
    mut q: Agents,
) {
    let now = tick.0;
    let p = &*params;
    let st = &mut *state;
    sorted_ids(q.iter().map(|(e, id, ..)| (e, id)), &mut st.ids);
    let Some(&(auctioneer, auctioneer_e)) = st.ids.first() else {
        return;
    };
    if st.auctioneer != Some(auctioneer) {
        // A new auctioneer (the first, or a successor after a failure) starts afresh.
        if st.auctioneer.is_some() && st.rounds > 0 {
            stats.reannounced += st.awarded.len() as u64;
        }
        st.auctioneer = Some(auctioneer);
        st.stage = Stage::Idle;
        st.awarded.clear();
        st.rounds = 0;
    }

    // 1. Bidders answer announcements and take awards; the auctioneer collects bids.
    for i in 0..st.ids.len() {
        let (me, e) = st.ids[i];
        let Ok((_, _, w, pos, mut intents, mut inbox, mut outbox)) = q.get_mut(e) else {
            continue;
        };
        for env in inbox.drain() {
            let conv = env.conversation();
            match env.payload {
                AllocMsg::Auction {
                    round,
                    tasks: ref offered,
                } => {
                    let claimed = intents
                        .0
                        .iter()
                        .filter(|x| matches!(x, TaskIntent::Claim { .. }))
                        .count();
                    let room = (w.capacity as usize).saturating_sub(w.queue().len() + claimed);
                    // The path bid on: from the first queued task once work on it started
                    // (it cannot be preempted), from the worker's position otherwise.
                    // Awards taken this tick are not in the queue yet; bid as if they were.
                    st.order.clear();
                    st.order.extend_from_slice(w.queue());
                    for x in &intents.0 {
                        if let TaskIntent::Claim { task, at } = *x {
                            let at = at.unwrap_or(usize::MAX).min(st.order.len());
                            st.order.insert(at, task);
                        }
                    }
                    st.path.clear();
                    let mut start = point(pos.0);
                    let mut lead = 0.0;
                    let mut skip = 0;
                    for (k, &qt) in st.order.iter().enumerate() {
                        let Some((t, s)) = tasks.get(qt) else {
                            continue;
                        };
                        if k == 0 && s.work_done > 0 {
                            lead = pos.0.distance(t.location);
                            start = point(t.location);
                            skip = 1;
                        } else {
                            st.path.push(point(t.location));
                        }
                    }
                    let mut best: Option<(f64, u32, u32)> = None;
                    if room > 0 {
                        for &task in offered {
                            let Some((t, s)) = tasks.get(TaskId(task)) else {
                                continue;
                            };
                            if s.status != TaskStatus::Open
                                || !w.can_do(t)
                                || st.order.contains(&t.id)
                            {
                                continue;
                            }
                            let bid = match p.rule {
                                SsiRule::MiniSum => minisum_bid(start, &st.path, point(t.location)),
                                SsiRule::MiniMax => {
                                    let mut b = minimax_bid(start, &st.path, point(t.location));
                                    b.value += lead;
                                    b
                                }
                            };
                            if best.is_none_or(|(v, _, _)| bid.value < v) {
                                best = Some((bid.value, task, (bid.position + skip) as u32));
                            }
                        }
                    }
                    let header = Header::new(if best.is_some() {
                        Performative::Propose
                    } else {
                        Performative::Refuse
                    })
                    .conversation(conv)
                    .in_reply_to(env.id);
                    let msg = match best {
                        Some((value, task, at)) => AllocMsg::Bid {
                            round,
                            task,
                            value,
                            at,
                        },
                        None => AllocMsg::Decline { task: round },
                    };
                    outbox.send(Recipients::Agent(env.sender()), header, msg);
                }
                AllocMsg::Bid {
                    round,
                    task,
                    value,
                    at,
                } if me == auctioneer && round == st.round => {
                    if let Stage::Collecting {
                        reply_by,
                        answers,
                        best,
                        ..
                    } = &mut st.stage
                    {
                        if env.delivered > *reply_by {
                            stats.late += 1;
                            continue;
                        }
                        *answers += 1;
                        let from = env.sender();
                        let better =
                            best.is_none_or(|(v, a, t, _)| (value, from, task) < (v, a, t));
                        if better {
                            *best = Some((value, from, task, at));
                        }
                    } else {
                        stats.late += 1;
                    }
                }
                AllocMsg::Decline { task: round } if me == auctioneer && round == st.round => {
                    if let Stage::Collecting {
                        reply_by, answers, ..
                    } = &mut st.stage
                        && env.delivered <= *reply_by
                    {
                        *answers += 1;
                    } else {
                        stats.late += 1;
                    }
                }
                AllocMsg::Bid { .. } | AllocMsg::Decline { .. } => stats.late += 1,
                AllocMsg::Award { task, at } => {
                    let claimed = intents
                        .0
                        .iter()
                        .filter(|x| matches!(x, TaskIntent::Claim { .. }))
                        .count();
                    let room = (w.capacity as usize).saturating_sub(w.queue().len() + claimed);
                    let ok = room > 0
                        && tasks
                            .get(TaskId(task))
                            .is_some_and(|(t, s)| s.status == TaskStatus::Open && w.can_do(t));
                    if ok {
                        intents.claim_at(TaskId(task), at.unwrap_or(u32::MAX) as usize);
                    } else {
                        outbox.send(
                            Recipients::Agent(env.sender()),
                            Header::new(Performative::Failure)
                                .conversation(conv)
                                .in_reply_to(env.id),
                            AllocMsg::Fail { task },
                        );
                    }
                }
                AllocMsg::Fail { task }
                    if me == auctioneer && st.awarded.remove(&task).is_some() =>
                {
                    stats.reannounced += 1;
                }
                _ => {}
            }
        }
    }

    // 2. The auctioneer: settle the round, then announce the next.
    // Awards are settled once the task is claimed (no longer open) or the claim is overdue.
    let award_timeout = p.award_timeout;
    let mut overdue = 0;
    st.awarded.retain(|&task, &mut at| {
        let open = tasks
            .get(TaskId(task))
            .is_some_and(|(_, s)| s.status == TaskStatus::Open);
        if open && now >= at + award_timeout {
            overdue += 1;
        }
        open && now < at + award_timeout
    });
    stats.reannounced += overdue;
    let Ok((.., mut out)) = q.get_mut(auctioneer_e) else {
        return;
    };
    let mut announce = false;
    match std::mem::take(&mut st.stage) {
        Stage::Collecting {
            reply_by,
            invited,
            answers,
            best,
        } => {
            if now < reply_by && answers < invited {
                st.stage = Stage::Collecting {
                    reply_by,
                    invited,
                    answers,
                    best,
                };
                return;
            }
            stats.answered += answers;
            stats.timed_out += invited.saturating_sub(answers);
            match best {
                Some((_, winner, task, at)) => {
                    out.send(
                        Recipients::Agent(winner),
                        Header::new(Performative::AcceptProposal).conversation(st.conversation),
                        AllocMsg::Award { task, at: Some(at) },
                    );
                    st.awarded.insert(task, now);
                    st.rounds += 1;
                    announce = true;
                }
                None => {
                    if st.rounds > 0 {
                        stats.rounds.push(st.rounds);
                        st.rounds = 0;
                    }
                    st.stage = Stage::Pause {
                        until: now + p.retry,
                    };
                }
            }
        }
        Stage::Pause { until } => {
            if now >= until {
                announce = true;
            } else {
                st.stage = Stage::Pause { until };
            }
        }
        Stage::Idle => announce = true,
    }
    if !announce {
        return;
    }
    st.offer.clear();
    let awarded = &st.awarded;
    st.offer.extend(
        tasks
            .open()
            .filter(|(t, s)| s.free_places(t) > 0 && !awarded.contains_key(&t.id.0))
            .map(|(t, _)| t.id.0)
            .take(p.batch as usize),
    );
    if st.offer.is_empty() {
        if st.rounds > 0 {
            stats.rounds.push(st.rounds);
            st.rounds = 0;
        }
        st.stage = Stage::Idle;
        return;
    }
    st.round += 1;
    st.conversation = ConversationId::new(auctioneer, st.round);
    let invited = bus.degree(auctioneer) as u64;
    stats.invited += invited;
    out.send(
        Recipients::Broadcast,
        Header::new(Performative::Cfp).conversation(st.conversation),
        AllocMsg::Auction {
            round: st.round,
            tasks: st.offer.clone(),
        },
    );
    st.stage = Stage::Collecting {
        reply_by: now + p.bid_timeout,
        invited,
        answers: 0,
        best: None,
    };
}
