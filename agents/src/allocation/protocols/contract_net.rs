//! `contract_net`: the FIPA Contract Net Interaction Protocol (SC00029H) and its iterated
//! variant (SC00030H) over the message bus.
//!
//! For every open task a manager sends a `cfp` (the task and a reply-by tick) to its
//! neighbours; each contractor answers `propose` (its cost) or `refuse`; at the deadline, or
//! once every invited agent has answered (JADE's `handleAllResponses`), the manager sends
//! `accept-proposal` to the cheapest offers (one per free place) and `reject-proposal` to
//! the others. The winner claims the task and reports `inform` (inform-done) when it is
//! complete, or `failure` when it cannot take it. A manager re-announces a task (a new
//! conversation) when its award fails, when the contractor disappears (agent failure) or the
//! award goes unanswered, and after `retry` ticks when nobody offered. It sends `cancel`
//! when a task is withdrawn at its deadline; a contractor answers a cancel with `inform`.

use super::messages::{AllocMsg, ProtocolStats, sorted_ids};
use crate::allocation::common::{DEFAULT_DISTANCE_COST, Scoring, Valuation, install_monitor};
use agora_engine::comms::{
    Bus, ConversationId, Header, Mailbox, MessageId, Outbox, Performative, Recipients,
};
use agora_engine::prelude::*;
use agora_engine::task::{
    Task, TaskId, TaskIntent, TaskIntents, TaskNotice, TaskNotices, TaskStatus, Tasks, Worker,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Who manages (announces and awards) a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Managers {
    /// One dispatcher, the lowest-id live worker, manages every task (and bids on none);
    /// when it fails, the next lowest takes over and re-announces.
    #[default]
    Dispatcher,
    /// The live worker nearest to a task when it is announced manages it (ties: lowest id)
    /// and does not bid on it; managers are chosen again when they fail.
    Announcer,
}

/// Scenario: `allocation: (protocol: "contract_net", params: (managers: Dispatcher))`.
#[derive(Resource, Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ContractNet {
    /// Who announces and awards tasks (default `Dispatcher`).
    pub managers: Managers,
    /// Ticks from a `cfp` to its reply-by deadline (default 3: one tick each way at the
    /// default latency, plus one).
    pub bid_timeout: u64,
    /// Iterated contract net: when the best offer costs more than `reserve`, the manager
    /// rejects all but the `shortlist` best offerers and sends them a revised `cfp`, up to
    /// `max_rounds` calls per conversation (default `false`).
    pub iterated: bool,
    /// Most calls per conversation with `iterated` (default 3).
    pub max_rounds: u32,
    /// Offerers kept for a revised call (default 3; at least the task's free places).
    pub shortlist: u32,
    /// An offer at or below this cost is accepted at once with `iterated` (default 0).
    pub reserve: f64,
    /// Ticks to wait before announcing again a task nobody offered for (default 5).
    pub retry: u64,
    /// Ticks after an award by which the task must be claimed, or it is announced again
    /// (default 10).
    pub award_timeout: u64,
    /// What an offer's cost is (default `Distance`).
    pub scoring: Scoring,
    /// Reward lost per unit of distance under `Profit` scoring (default 0.01).
    pub distance_cost: f64,
}

impl Default for ContractNet {
    fn default() -> Self {
        ContractNet {
            managers: Managers::Dispatcher,
            bid_timeout: 3,
            iterated: false,
            max_rounds: 3,
            shortlist: 3,
            reserve: 0.0,
            retry: 5,
            award_timeout: 10,
            scoring: Scoring::Distance,
            distance_cost: DEFAULT_DISTANCE_COST,
        }
    }
}

impl ContractNet {
    fn valuation(&self) -> Valuation {
        Valuation::new(self.scoring, self.distance_cost)
    }
}

/// Where a conversation is.
#[derive(Debug, Clone, PartialEq)]
enum Stage {
    /// Waiting for answers to the latest call.
    Collecting {
        reply_by: u64,
        invited: u64,
        answers: u64,
        offers: Vec<(f64, u32)>,
    },
    /// Awarded to these contractors at tick `at`.
    Awarded { to: Vec<u32>, at: u64 },
    /// Nobody offered; announce again at `until`.
    Waiting { until: u64 },
}

/// One manager's conversation about one task.
#[derive(Debug, Clone)]
struct Conversation {
    manager: u32,
    id: ConversationId,
    /// The latest call: answers must be in reply to it (a straggler answering an earlier
    /// call of an iterated conversation is late).
    call: MessageId,
    round: u32,
    stage: Stage,
}

/// A contractor's side: offers awaiting an answer, and tasks it holds under contract.
#[derive(Debug, Clone, Default)]
struct Contractor {
    /// `(task, manager, give up waiting after this tick)`.
    pending: Vec<(u32, u32, u64)>,
    /// `(task, manager)`.
    contracts: Vec<(u32, u32)>,
}

#[derive(Resource, Default)]
struct State {
    /// Open conversations by task id.
    convs: BTreeMap<u32, Conversation>,
    /// Per agent id.
    contractors: Vec<Contractor>,
    /// Conversations opened so far, per manager id.
    serials: Vec<u32>,
    opened: Vec<u32>,
    ids: Vec<(u32, Entity)>,
    /// This tick's calls to one contractor: `(cost, task, manager, conversation, call)`.
    calls: Vec<(f64, u32, u32, ConversationId, MessageId)>,
    targets: Vec<u32>,
}

/// What a manager does about a conversation this tick.
enum Action {
    Close,
    Reannounce,
    Cancel(Vec<u32>),
    Revise(Vec<(f64, u32)>, usize),
    Award(Vec<(f64, u32)>, usize),
}

fn entity_of(ids: &[(u32, Entity)], agent: u32) -> Option<Entity> {
    ids.binary_search_by_key(&agent, |x| x.0)
        .ok()
        .map(|k| ids[k].1)
}

/// Whether `manager` awarded `task` to `contractor` in a live conversation.
fn awarded_to(
    convs: &BTreeMap<u32, Conversation>,
    task: u32,
    manager: u32,
    contractor: u32,
) -> bool {
    convs.get(&task).is_some_and(|c| {
        c.manager == manager
            && matches!(&c.stage, Stage::Awarded { to, .. } if to.contains(&contractor))
    })
}

fn call(t: &Task, reply_by: u64, round: u32) -> AllocMsg {
    AllocMsg::Call {
        task: t.id.0,
        x: t.location.x,
        y: t.location.y,
        skills: t.skills.0,
        workload: t.workload,
        reply_by,
        round,
    }
}

/// A `propose` (`Some(cost)`) or `refuse` (`None`) reached manager `me`.
fn manager_answer(
    st: &mut State,
    stats: &mut ProtocolStats,
    me: u32,
    task: u32,
    conv: ConversationId,
    (from, offer, delivered, answers_to): (u32, Option<f64>, u64, Option<MessageId>),
) {
    let Some(c) = st.convs.get_mut(&task) else {
        stats.late += 1;
        return;
    };
    let Stage::Collecting {
        reply_by,
        answers,
        offers,
        ..
    } = &mut c.stage
    else {
        stats.late += 1;
        return;
    };
    if c.manager != me || c.id != conv || answers_to != Some(c.call) || delivered > *reply_by {
        stats.late += 1;
        return;
    }
    *answers += 1;
    if let Some(cost) = offer {
        offers.push((cost, from));
    }
}

impl Mechanism for ContractNet {
    const SECTION: Section = Section::Allocation;
    const NAME: &'static str = "contract_net";
    const SUMMARY: &'static str =
        "FIPA Contract Net over the bus: cfp, propose/refuse, accept/reject, inform, cancel.";

    fn build(sim: &mut SimBuilder) {
        let valuation = sim.world().resource::<ContractNet>().valuation();
        sim.messaging::<AllocMsg>("worker");
        sim.init_resource::<State>();
        sim.init_resource::<ProtocolStats>();
        sim.add_systems(Phase::Decide, decide);
        install_monitor(sim, valuation);
    }

    fn validate(&self, _: &ValidateCtx) -> Result<(), String> {
        if self.bid_timeout == 0 {
            return Err("`bid_timeout` must be at least 1 tick".into());
        }
        if self.max_rounds == 0 || self.shortlist == 0 {
            return Err("`max_rounds` and `shortlist` must be at least 1".into());
        }
        if !self.reserve.is_finite() {
            return Err(format!("`reserve` must be finite, got {}", self.reserve));
        }
        if self.retry == 0 || self.award_timeout == 0 {
            return Err("`retry` and `award_timeout` must be at least 1 tick".into());
        }
        self.valuation().validate()
    }
}

type Agents<'w, 's> = Query<
    'w,
    's,
    (
        Entity,
        &'static AgentId,
        &'static Worker,
        &'static Position,
        &'static mut TaskIntents,
        &'static TaskNotices,
        &'static mut Mailbox<AllocMsg>,
        &'static mut Outbox<AllocMsg>,
    ),
>;

fn header(p: Performative, c: ConversationId) -> Header {
    Header::new(p).conversation(c)
}

/// The cost of `task` for a worker at the end of its queue.
fn offer_cost(
    valuation: Valuation,
    space: &Space,
    tasks: &Tasks,
    w: &Worker,
    pos: DVec2,
    task: &Task,
) -> f64 {
    let from = w
        .queue()
        .last()
        .and_then(|&q| tasks.get(q))
        .map_or(pos, |(t, _)| t.location);
    valuation.cost(space, from, w.speed, task)
}

#[expect(clippy::too_many_arguments, reason = "a system's parameters")]
fn decide(
    params: Res<ContractNet>,
    tick: Res<Tick>,
    space: Res<Space>,
    tasks: Tasks,
    bus: Res<Bus<AllocMsg>>,
    mut state: ResMut<State>,
    mut stats: ResMut<ProtocolStats>,
    mut q: Agents,
) {
    let now = tick.0;
    let p = &*params;
    let valuation = p.valuation();
    let st = &mut *state;
    sorted_ids(q.iter().map(|(e, id, ..)| (e, id)), &mut st.ids);
    if let Some(&(max, _)) = st.ids.last()
        && st.contractors.len() <= max as usize
    {
        st.contractors
            .resize(max as usize + 1, Contractor::default());
    }
    let live = |ids: &[(u32, Entity)], a: u32| ids.binary_search_by_key(&a, |x| x.0).is_ok();

    // 1. Every agent reads its mail and its task notices, in id order.
    for i in 0..st.ids.len() {
        let (me, e) = st.ids[i];
        let Ok((_, _, w, pos, mut intents, notices, mut inbox, mut outbox)) = q.get_mut(e) else {
            continue;
        };
        let c = &mut st.contractors[me as usize];
        for n in &notices.0 {
            match *n {
                TaskNotice::Completed(t) => {
                    if let Some(k) = c.contracts.iter().position(|x| x.0 == t.0) {
                        let (_, m) = c.contracts.swap_remove(k);
                        outbox.tell(m, Performative::Inform, AllocMsg::Done { task: t.0 });
                    }
                }
                TaskNotice::Lost { task: t, .. } | TaskNotice::Rejected { task: t, .. } => {
                    if let Some(k) = c.contracts.iter().position(|x| x.0 == t.0) {
                        let (_, m) = c.contracts.swap_remove(k);
                        outbox.tell(m, Performative::Failure, AllocMsg::Fail { task: t.0 });
                    }
                }
                TaskNotice::Expired(t) | TaskNotice::Released(t) => {
                    c.contracts.retain(|x| x.0 != t.0);
                }
                TaskNotice::Won(_) => {}
            }
        }
        c.pending.retain(|x| x.2 >= now);
        st.calls.clear();
        for env in inbox.drain() {
            let from = env.sender();
            let conv = env.conversation();
            match env.payload {
                AllocMsg::Call { task, .. } => {
                    // Answered below, all calls of the tick together. A call is for a task
                    // it can do and that is still open, or it is refused.
                    let cost = tasks
                        .get(TaskId(task))
                        .filter(|(t, s)| {
                            s.status == TaskStatus::Open
                                && w.can_do(t)
                                && !w.queue().contains(&t.id)
                        })
                        .map_or(f64::INFINITY, |(t, _)| {
                            offer_cost(valuation, &space, &tasks, w, pos.0, t)
                        });
                    st.calls.push((cost, task, from, conv, env.id));
                }
                AllocMsg::Offer { task, cost } => {
                    let at = env.delivered;
                    let re = env.header.answers();
                    manager_answer(st, &mut stats, me, task, conv, (from, Some(cost), at, re));
                }
                AllocMsg::Decline { task } => {
                    let at = env.delivered;
                    let re = env.header.answers();
                    manager_answer(st, &mut stats, me, task, conv, (from, None, at, re));
                }
                AllocMsg::Award { task, .. } => {
                    let c = &mut st.contractors[me as usize];
                    c.pending.retain(|x| x.0 != task);
                    let claimed = intents
                        .0
                        .iter()
                        .filter(|x| matches!(x, TaskIntent::Claim { .. }))
                        .count();
                    let room = (w.capacity as usize)
                        .saturating_sub(w.queue().len() + claimed + c.pending.len());
                    let ok = room > 0
                        && tasks
                            .get(TaskId(task))
                            .is_some_and(|(t, s)| s.status == TaskStatus::Open && w.can_do(t));
                    if ok {
                        intents.claim(TaskId(task));
                        c.contracts.push((task, from));
                    } else {
                        outbox.send(
                            Recipients::Agent(from),
                            header(Performative::Failure, conv).in_reply_to(env.id),
                            AllocMsg::Fail { task },
                        );
                    }
                }
                AllocMsg::Turn { task } => {
                    st.contractors[me as usize].pending.retain(|x| x.0 != task);
                }
                AllocMsg::Cancel { task } => {
                    let c = &mut st.contractors[me as usize];
                    c.pending.retain(|x| x.0 != task);
                    if w.queue().contains(&TaskId(task)) {
                        intents.release(TaskId(task));
                    }
                    c.contracts.retain(|x| x.0 != task);
                    outbox.send(
                        Recipients::Agent(from),
                        header(Performative::Inform, conv).in_reply_to(env.id),
                        AllocMsg::Done { task },
                    );
                }
                // inform-done: the contract (or a cancel) is settled.
                AllocMsg::Done { task }
                    if awarded_to(&st.convs, task, me, from)
                        && tasks
                            .get(TaskId(task))
                            .is_some_and(|(_, s)| s.status == TaskStatus::Done) =>
                {
                    st.convs.remove(&task);
                }
                // failure: the contractor could not take or finish it; announce again.
                AllocMsg::Fail { task }
                    if awarded_to(&st.convs, task, me, from)
                        && tasks
                            .get(TaskId(task))
                            .is_some_and(|(_, s)| s.status == TaskStatus::Open) =>
                {
                    st.convs.remove(&task);
                    stats.reannounced += 1;
                }
                _ => {}
            }
        }
        // Answer this tick's calls: offers for the cheapest ones the queue has room for.
        let c = &mut st.contractors[me as usize];
        let claimed = intents
            .0
            .iter()
            .filter(|x| matches!(x, TaskIntent::Claim { .. }))
            .count();
        let mut room =
            (w.capacity as usize).saturating_sub(w.queue().len() + claimed + c.pending.len());
        st.calls
            .sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for &(cost, task, manager, conv, call) in &st.calls {
            let again = c.pending.iter().position(|x| x.0 == task);
            if let Some(k) = again {
                // A revised call for a task already offered on: the earlier offer stands
                // for the new round.
                c.pending.swap_remove(k);
                room += 1;
            }
            if cost.is_finite() && room > 0 {
                room -= 1;
                c.pending
                    .push((task, manager, now + p.bid_timeout + p.award_timeout));
                outbox.send(
                    Recipients::Agent(manager),
                    header(Performative::Propose, conv).in_reply_to(call),
                    AllocMsg::Offer { task, cost },
                );
            } else {
                outbox.send(
                    Recipients::Agent(manager),
                    header(Performative::Refuse, conv).in_reply_to(call),
                    AllocMsg::Decline { task },
                );
            }
        }
    }

    // 2. Managers: deadlines, awards, failures, cancels and new announcements, task order.
    let mut actions: Vec<(u32, Action)> = Vec::new();
    for (&task, conv) in st.convs.iter_mut() {
        let Some((t, s)) = tasks.get(TaskId(task)) else {
            continue;
        };
        if !live(&st.ids, conv.manager) {
            actions.push((task, Action::Reannounce));
            continue;
        }
        match &mut conv.stage {
            Stage::Collecting {
                reply_by,
                invited,
                answers,
                offers,
            } => {
                if s.status == TaskStatus::Expired {
                    let to: Vec<u32> = offers.iter().map(|o| o.1).collect();
                    actions.push((task, Action::Cancel(to)));
                    continue;
                }
                if s.status.is_final() || s.free_places(t) == 0 {
                    actions.push((task, Action::Close));
                    continue;
                }
                if now < *reply_by && answers < invited {
                    continue;
                }
                stats.answered += *answers;
                stats.timed_out += invited.saturating_sub(*answers);
                offers.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let free = s.free_places(t) as usize;
                if offers.is_empty() {
                    conv.stage = Stage::Waiting {
                        until: now + p.retry,
                    };
                    continue;
                }
                let keep = (p.shortlist as usize).max(free);
                if p.iterated
                    && conv.round < p.max_rounds
                    && offers[0].0 > p.reserve
                    && offers.len() > keep
                {
                    let offers = std::mem::take(offers);
                    actions.push((task, Action::Revise(offers, keep)));
                } else {
                    let offers = std::mem::take(offers);
                    actions.push((task, Action::Award(offers, free)));
                }
            }
            Stage::Awarded { to, at } => {
                if s.status == TaskStatus::Done {
                    actions.push((task, Action::Close));
                } else if s.status == TaskStatus::Expired {
                    actions.push((task, Action::Cancel(to.clone())));
                } else if s.status == TaskStatus::Open
                    && (now >= *at + p.award_timeout || to.iter().all(|&a| !live(&st.ids, a)))
                {
                    actions.push((task, Action::Reannounce));
                }
            }
            Stage::Waiting { until } => {
                if s.status.is_final() {
                    actions.push((task, Action::Close));
                } else if now >= *until && s.status == TaskStatus::Open {
                    actions.push((task, Action::Reannounce));
                }
            }
        }
    }
    for (task, action) in actions {
        let Some(conv) = st.convs.get(&task).cloned() else {
            continue;
        };
        let manager = entity_of(&st.ids, conv.manager);
        // A round closed before its deadline (task gone, manager failed) still accounts for
        // every call it awaited.
        if let Stage::Collecting {
            invited, answers, ..
        } = &conv.stage
            && !matches!(action, Action::Revise(..) | Action::Award(..))
        {
            stats.answered += *answers;
            stats.timed_out += invited.saturating_sub(*answers);
        }
        match action {
            Action::Close => {
                st.convs.remove(&task);
            }
            Action::Reannounce => {
                stats.reannounced += 1;
                st.convs.remove(&task);
            }
            Action::Cancel(to) => {
                stats.cancelled += 1;
                if let Some((.., mut out)) = manager.and_then(|e| q.get_mut(e).ok()) {
                    for a in to {
                        out.send(
                            Recipients::Agent(a),
                            header(Performative::Cancel, conv.id),
                            AllocMsg::Cancel { task },
                        );
                    }
                }
                st.convs.remove(&task);
            }
            Action::Revise(offers, keep) => {
                let Some((.., mut out)) = manager.and_then(|e| q.get_mut(e).ok()) else {
                    continue;
                };
                for &(_, a) in &offers[keep..] {
                    out.send(
                        Recipients::Agent(a),
                        header(Performative::RejectProposal, conv.id),
                        AllocMsg::Turn { task },
                    );
                }
                st.targets.clear();
                st.targets.extend(offers[..keep].iter().map(|o| o.1));
                st.targets.sort_unstable();
                let (t, _) = tasks.get(TaskId(task)).expect("checked above");
                let reply_by = now + p.bid_timeout;
                let sent = out.send(
                    Recipients::Agents(&st.targets),
                    header(Performative::Cfp, conv.id),
                    call(t, reply_by, conv.round + 1),
                );
                let c = st.convs.get_mut(&task).expect("present");
                c.call = sent;
                c.round += 1;
                c.stage = Stage::Collecting {
                    reply_by,
                    invited: keep as u64,
                    answers: 0,
                    offers: Vec::new(),
                };
                stats.invited += keep as u64;
            }
            Action::Award(offers, free) => {
                let Some((.., mut out)) = manager.and_then(|e| q.get_mut(e).ok()) else {
                    continue;
                };
                let winners: Vec<u32> = offers.iter().take(free).map(|o| o.1).collect();
                for (k, &(_, a)) in offers.iter().enumerate() {
                    let (perf, msg) = if k < free {
                        (
                            Performative::AcceptProposal,
                            AllocMsg::Award { task, at: None },
                        )
                    } else {
                        (Performative::RejectProposal, AllocMsg::Turn { task })
                    };
                    out.send(Recipients::Agent(a), header(perf, conv.id), msg);
                }
                stats.rounds.push(u64::from(conv.round));
                let c = st.convs.get_mut(&task).expect("present");
                c.stage = Stage::Awarded {
                    to: winners,
                    at: now,
                };
            }
        }
    }

    // 3. Announce open tasks that no conversation covers.
    st.opened.clear();
    st.opened.extend(
        tasks
            .open()
            .filter(|(_, s)| s.status == TaskStatus::Open)
            .map(|(t, _)| t.id.0)
            .filter(|id| !st.convs.contains_key(id)),
    );
    if st.ids.is_empty() {
        return;
    }
    let opened = std::mem::take(&mut st.opened);
    for &task in &opened {
        let Some((t, _)) = tasks.get(TaskId(task)) else {
            continue;
        };
        let manager = match p.managers {
            Managers::Dispatcher => st.ids[0].0,
            Managers::Announcer => {
                let mut best: Option<(f64, u32)> = None;
                for &(a, e) in &st.ids {
                    if let Ok((_, _, _, pos, ..)) = q.get(e) {
                        let d = space.delta(pos.0, t.location).length();
                        if best.is_none_or(|b| d < b.0) {
                            best = Some((d, a));
                        }
                    }
                }
                match best {
                    Some((_, a)) => a,
                    None => continue,
                }
            }
        };
        let Ok(k) = st.ids.binary_search_by_key(&manager, |x| x.0) else {
            continue;
        };
        let Ok((.., mut out)) = q.get_mut(st.ids[k].1) else {
            continue;
        };
        if st.serials.len() <= manager as usize {
            st.serials.resize(manager as usize + 1, 0);
        }
        st.serials[manager as usize] += 1;
        let id = ConversationId::new(manager, st.serials[manager as usize]);
        let reply_by = now + p.bid_timeout;
        let sent = out.send(
            Recipients::Broadcast,
            header(Performative::Cfp, id),
            call(t, reply_by, 1),
        );
        let invited = bus.degree(manager) as u64;
        stats.invited += invited;
        st.convs.insert(
            task,
            Conversation {
                manager,
                id,
                call: sent,
                round: 1,
                stage: Stage::Collecting {
                    reply_by,
                    invited,
                    answers: 0,
                    offers: Vec::new(),
                },
            },
        );
    }
    st.opened = opened;
}
