//! `negotiation`: bilateral negotiation over the message bus between the two first-come parties
//! of a conflict (the others lose to whichever of them wins).
//!
//! Each party values the contested thing at `v = 1 + urgency`: its behavior folds its own state
//! into its [`Urgency`] (a charger's empty battery, a claimer's distance to the task, a
//! commuter's wait), so utilities come from the agents' state.
//!
//! - `Zeuthen`: the monotonic concession protocol with the Zeuthen strategy (see
//!   [`monotonic_concession`]) over a small discrete deal set: "X goes first and pays the other
//!   a compensation `c`", for both orders and `c` in `deals` equal steps from 0 to `v_X`
//!   (utilities `v_X - c` and `c`). The agreement maximises the product of utilities, so the
//!   party valuing the thing more goes first. Each round both parties send a proposal.
//! - `Alternating`: Rubinstein's alternating offers over the surplus of going first, the
//!   first-come party proposing; each party's per-round discount factor is `discount^v` (more
//!   urgent, more impatient). Played in stationary equilibrium the first offer, the Rubinstein
//!   share, is accepted: one offer and one acceptance. The party with the larger share goes first.
//!
//! Every proposal, offer and acceptance is a message on the bus (the scenario's `comms:` latency
//! and loss apply); a round starts only when the previous round's messages have arrived, and the
//! conflict stays undecided (both wait) until the last one has. A negotiation ends in the
//! conflict deal when it hits `max_rounds` or lasts more than `timeout` ticks (lost messages);
//! the `fallback` rule then decides. A negotiation is between a pair of agents, not over one
//! cell: as waiting agents reshuffle, the pair meets again over the next cell, so it goes on
//! while the pair meets within `linger` ticks, and its deal (who goes first) stands for their
//! meetings after it ends (within `linger` ticks of each other, for at most `timeout` ticks). Outcomes, rounds and utilities are kept in
//! [`NegotiationStats`] for the `negotiation` metric.

use super::procedures::{
    AlternatingOffers, AlternatingOffersConfig, Equilibrium, monotonic_concession,
};
use super::token::{ThingKey, thing_key};
use agora_engine::comms::{Mailbox, Outbox, Performative};
use agora_engine::prelude::*;
use bevy_ecs::prelude::Local;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The bargaining protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Protocol {
    /// Monotonic concession with the Zeuthen strategy over a discrete deal set.
    #[default]
    Zeuthen,
    /// Rubinstein's alternating offers, stationary equilibrium.
    Alternating,
}

/// Who wins when a negotiation fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Fallback {
    /// The first-come party.
    #[default]
    FirstCome,
    /// The more urgent party (ties: first come).
    Urgency,
}

/// Scenario: `conflicts: (policy: "negotiation", params: (protocol: Zeuthen, max_rounds: 10))`
#[derive(Resource, Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Negotiation {
    /// The protocol (default `Zeuthen`).
    pub protocol: Protocol,
    /// Compensation steps per order in the Zeuthen deal set (default 4: five deals per order).
    pub deals: u32,
    /// Base discount factor per round for `Alternating`, in (0, 1) (default 0.9).
    pub discount: f64,
    /// Rounds after which the negotiation ends in the conflict deal (default 10).
    pub max_rounds: u32,
    /// Ticks after which a negotiation still waiting for messages fails (default 30).
    pub timeout: u64,
    /// Who wins a failed negotiation (default `FirstCome`).
    pub fallback: Fallback,
    /// Ticks a negotiation survives without its two parties meeting in a conflict before it
    /// is abandoned (default 8). Waiting agents step aside and retry, so the same pair meets
    /// again over another cell a few ticks later: the negotiation is between the pair, not
    /// over one cell.
    pub linger: u64,
}

impl Default for Negotiation {
    fn default() -> Self {
        Negotiation {
            protocol: Protocol::Zeuthen,
            deals: 4,
            discount: 0.9,
            max_rounds: 10,
            timeout: 30,
            fallback: Fallback::FirstCome,
            linger: 8,
        }
    }
}

/// A negotiation message: a proposal, an offer or an acceptance in round `step` of the
/// negotiation between `a` and `b` (`a < b`) over `thing`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Offer {
    /// The contested thing.
    pub thing: ThingKey,
    /// The party with the lower id.
    pub a: u32,
    /// The party with the higher id.
    pub b: u32,
    /// The message's step of the protocol, from 0.
    pub step: u32,
    /// The deal proposed (an index into the deal set), or the share offered.
    pub value: f64,
}

/// Welfare and cost of the negotiations of a run.
#[derive(Resource, Debug, Default, Clone)]
pub struct NegotiationStats {
    /// Negotiations ended (agreed or failed).
    pub ended: u64,
    /// Negotiations ended in the conflict deal (round limit or timeout): the fallback decided.
    pub failed: u64,
    /// Negotiations dropped because the pair stopped meeting (for `linger` ticks) before they
    /// ended.
    pub abandoned: u64,
    /// Rounds of every ended negotiation.
    pub rounds: u64,
    /// Sum over ended negotiations of `u_a + u_b` (0 for failures).
    pub utility_sum: f64,
    /// Sum over ended negotiations of `u_a * u_b` (0 for failures).
    pub utility_product: f64,
}

/// The planned exchange of one negotiation, computed when it starts (the strategies are
/// deterministic given the utilities), and how far the messages have got.
#[derive(Debug, Clone)]
struct Session {
    started: u64,
    seen: u64,
    /// Per step, the messages `(from, to, value)`.
    steps: Vec<Vec<(u32, u32, f64)>>,
    step: usize,
    /// Messages of the current step not yet arrived.
    outstanding: u32,
    winner: Option<u32>,
    rounds: u32,
    utilities: [f64; 2],
}

impl Mechanism for Negotiation {
    const SECTION: Section = Section::Conflicts;
    const NAME: &'static str = "negotiation";
    const SUMMARY: &'static str = "The two first-come parties bargain over the bus (Zeuthen concession or Rubinstein offers).";

    fn validate(&self, _ctx: &ValidateCtx<'_>) -> Result<(), String> {
        if !(self.discount > 0.0 && self.discount < 1.0) {
            return Err(format!(
                "`discount` must be strictly between 0 and 1, got {}",
                self.discount
            ));
        }
        if self.max_rounds == 0 || self.deals == 0 {
            return Err("`max_rounds` and `deals` must be at least 1".into());
        }
        Ok(())
    }

    fn build(sim: &mut SimBuilder) {
        sim.use_intents();
        super::messaging_for_everyone::<Offer>(sim);
        sim.init_resource::<NegotiationStats>();
        sim.add_systems(Phase::Resolve, negotiate);
    }
}

/// Plans the exchange between `a` (first come) and `b` valuing the thing at `va` and `vb`.
fn plan(params: &Negotiation, a: u32, b: u32, va: f64, vb: f64) -> Session {
    let mut steps = Vec::new();
    let (winner, rounds, utilities) = match params.protocol {
        Protocol::Zeuthen => {
            let k = params.deals;
            // Deals: a first paying c, then b first paying c.
            let mut deals = Vec::with_capacity(2 * (k as usize + 1));
            for i in 0..=k {
                let c = va * f64::from(i) / f64::from(k);
                deals.push([va - c, c]);
            }
            for i in 0..=k {
                let c = vb * f64::from(i) / f64::from(k);
                deals.push([c, vb - c]);
            }
            let out = monotonic_concession(&deals, params.max_rounds).unwrap_or(
                super::procedures::ConcessionOutcome {
                    agreement: None,
                    rounds: params.max_rounds,
                    utilities: [0.0; 2],
                    concessions: [0; 2],
                },
            );
            for r in 0..out.rounds.max(1) {
                let v = f64::from(r);
                steps.push(vec![(a, b, v), (b, a, v)]);
            }
            let winner = out.agreement.map(|d| if d <= k as usize { a } else { b });
            (winner, out.rounds.max(1), out.utilities)
        }
        Protocol::Alternating => {
            let config = AlternatingOffersConfig {
                discount_1: params.discount.powf(va),
                discount_2: params.discount.powf(vb),
                max_rounds: params.max_rounds,
                ..AlternatingOffersConfig::default()
            };
            let out = AlternatingOffers::new(config)
                .map(|mut g| g.play_equilibrium(Equilibrium::Stationary))
                .ok();
            let (agreed, rounds, shares) = out.map_or((false, params.max_rounds, [0.0; 2]), |o| {
                (o.agreed, o.rounds, o.shares)
            });
            for r in 0..rounds {
                let (from, to) = if r % 2 == 0 { (a, b) } else { (b, a) };
                steps.push(vec![(from, to, shares[0])]);
            }
            if agreed {
                let (from, to) = if rounds % 2 == 1 { (b, a) } else { (a, b) };
                steps.push(vec![(from, to, shares[0])]);
            }
            let winner = agreed.then(|| if shares[0] >= shares[1] { a } else { b });
            let u = if agreed {
                [shares[0] * va, shares[1] * vb]
            } else {
                [0.0; 2]
            };
            (winner, rounds, u)
        }
    };
    Session {
        started: 0,
        seen: 0,
        steps,
        step: 0,
        outstanding: 0,
        winner,
        rounds,
        utilities,
    }
}

/// The pair `(a, b)`, `a < b`. Not the contested thing: the pair's meetings move from cell to
/// cell as they reshuffle, and a session keyed on the cell would be abandoned with each move.
type SessionKey = (u32, u32);

/// Reused buffers and the sessions in progress.
#[derive(Default)]
struct State {
    sessions: BTreeMap<SessionKey, Session>,
    arrived: Vec<(SessionKey, u32)>,
    sends: Vec<(u32, u32, Offer)>,
    entity_of: Vec<Entity>,
    /// Pairs whose negotiation ended, with the winner (`None`: the fallback), the tick it
    /// ended and the tick the pair last met. The deal ("this one goes first") stands while the
    /// pair keeps meeting (within `linger` ticks, for at most `timeout` ticks), so a queue
    /// is not renegotiated at every cell, and a pair meeting in two conflicts at once (a cell
    /// and an edge) gets one answer in both.
    ended: BTreeMap<SessionKey, (Option<u32>, u64, u64)>,
}

fn negotiate(
    tick: Res<Tick>,
    params: Res<Negotiation>,
    mut stats: ResMut<NegotiationStats>,
    mut conflicts: ResMut<Conflicts>,
    mut agents: Query<(Entity, &AgentId, &mut Mailbox<Offer>, &mut Outbox<Offer>)>,
    mut state: Local<State>,
) {
    let now = tick.0;
    let st = &mut *state;
    st.arrived.clear();
    let (linger, timeout) = (params.linger, params.timeout);
    st.ended
        .retain(|_, e| now < e.2 + linger && now < e.1 + timeout);
    st.entity_of.fill(Entity::PLACEHOLDER);
    for (entity, id, mut inbox, _) in &mut agents {
        let i = id.0 as usize;
        if i >= st.entity_of.len() {
            st.entity_of.resize(i + 1, Entity::PLACEHOLDER);
        }
        st.entity_of[i] = entity;
        for m in inbox.drain() {
            st.arrived
                .push(((m.payload.a, m.payload.b), m.payload.step));
        }
    }
    for &(key, step) in &st.arrived {
        if let Some(s) = st.sessions.get_mut(&key)
            && s.step == step as usize
        {
            s.outstanding = s.outstanding.saturating_sub(1);
        }
    }
    let stats = &mut *stats;
    for mut c in conflicts.iter_mut() {
        if c.parties().len() < 2 {
            continue;
        }
        let (pa, pb) = (c.parties()[0], c.parties()[1]);
        let thing = thing_key(c.thing());
        // The pair, whichever order the ranking gives them this tick.
        let key = (pa.agent.min(pb.agent), pa.agent.max(pb.agent));
        if let Some(e) = st.ended.get_mut(&key) {
            e.2 = now;
            decide(&params, &mut c, e.0, pa, pb);
            continue;
        }
        if st.sessions.get(&key).is_some_and(|s| s.seen == now) {
            // Already advanced this tick over another of the pair's conflicts.
            c.set_winners(0);
            continue;
        }
        let session = st.sessions.entry(key).or_insert_with(|| {
            let mut s = plan(
                &params,
                pa.agent,
                pb.agent,
                1.0 + pa.urgency,
                1.0 + pb.urgency,
            );
            s.started = now;
            s.outstanding = 0;
            s.step = usize::MAX;
            s
        });
        session.seen = now;
        // The current step's messages have all arrived: move on.
        let mut send_step = None;
        if session.outstanding == 0 {
            session.step = session.step.wrapping_add(1);
            if session.step < session.steps.len() {
                send_step = Some(session.step);
            }
        }
        let timed_out = now >= session.started + params.timeout;
        let done = session.step >= session.steps.len() && session.outstanding == 0;
        if done || timed_out {
            let winner = if done { session.winner } else { None };
            stats.ended += 1;
            stats.rounds += u64::from(session.rounds);
            if winner.is_some() {
                stats.utility_sum += session.utilities[0] + session.utilities[1];
                stats.utility_product += session.utilities[0] * session.utilities[1];
            } else {
                stats.failed += 1;
            }
            decide(&params, &mut c, winner, pa, pb);
            st.ended.insert(key, (winner, now, now));
            st.sessions.remove(&key);
            continue;
        }
        if let Some(step) = send_step {
            session.outstanding = session.steps[step].len() as u32;
            for &(from, to, value) in &session.steps[step] {
                st.sends.push((
                    from,
                    to,
                    Offer {
                        thing,
                        a: key.0,
                        b: key.1,
                        step: step as u32,
                        value,
                    },
                ));
            }
        }
        c.set_winners(0);
    }
    let mut spent = 0;
    for (from, to, offer) in st.sends.drain(..) {
        if let Some(&e) = st.entity_of.get(from as usize)
            && let Ok((_, _, _, mut outbox)) = agents.get_mut(e)
        {
            outbox.tell(to, Performative::Propose, offer);
            spent += 1;
        }
    }
    conflicts.add_messages(spent);
    let before = st.sessions.len();
    st.sessions.retain(|_, s| now < s.seen + linger);
    stats.abandoned += (before - st.sessions.len()) as u64;
}

/// Awards the conflict to the negotiated `winner`, or by the fallback rule.
fn decide(
    params: &Negotiation,
    c: &mut agora_engine::ConflictMut<'_>,
    winner: Option<u32>,
    pa: agora_engine::Party,
    pb: agora_engine::Party,
) {
    match winner {
        Some(w) => c.award(w),
        None => {
            if params.fallback == Fallback::Urgency && pb.urgency > pa.urgency {
                c.award(pb.agent);
            }
        }
    }
}
