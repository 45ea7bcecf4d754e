//! `token`: token-based mutual exclusion per contested thing, the token passed by messages over
//! the scenario's message bus (`comms:` latency, loss, range apply).
//!
//! Every contested thing (cell, edge, resource, task) has one token, created at the first-come
//! party the first time the thing is contested (where a token starts is arbitrary in the
//! protocol; here it costs no message). Then, every tick the thing is contested:
//!
//! - if the holder is a party, it wins (spare capacity goes to the others first come), unless
//!   it has won `timeout` contested ticks in a row while a requester is a party: a holder that
//!   keeps winning without getting through (it waits behind someone) then passes the token on;
//! - every other party that has not asked yet sends the holder a `request` message;
//! - if the holder is not a party, it sends the token (an `inform` message) to the earliest
//!   requester that is a party; while the token travels nobody wins (the conflict is left
//!   undecided and everyone waits), and a token not delivered within `timeout` ticks (lost) is
//!   sent again.
//!
//! Requests reach the holder after the channel's latency and queue in arrival order; the
//! queue travels with the token, as in Suzuki and Kasami's broadcast algorithm (1985), so a
//! request that arrives after the token has moved on is not lost. Tokens of things not contested
//! for `forget` ticks are dropped. Each request and each token pass is one message spent on
//! resolution.

use agora_engine::comms::{Mailbox, Outbox, Performative};
use agora_engine::prelude::*;
use agora_engine::{Contested, ResourceId};
use bevy_ecs::prelude::Local;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Scenario: `conflicts: (policy: "token", params: (timeout: 8))`
#[derive(Resource, Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Token {
    /// Ticks after which an undelivered token or an unanswered request is sent again, and
    /// after which a holder winning in a row passes the token to a waiting requester
    /// (default 8).
    pub timeout: u64,
    /// Ticks without contention after which a thing's token is dropped (default 50).
    pub forget: u64,
}

impl Default for Token {
    fn default() -> Self {
        Token {
            timeout: 8,
            forget: 50,
        }
    }
}

/// A contested thing as a message field: kind, then up to four coordinates.
pub type ThingKey = [i32; 5];

/// The key of a contested thing.
pub fn thing_key(thing: Contested) -> ThingKey {
    match thing {
        Contested::Cell(c) => [0, c.x, c.y, 0, 0],
        Contested::Edge(a, b) => [1, a.x, a.y, b.x, b.y],
        Contested::Resource(ResourceId(r)) => [2, r as i32, 0, 0, 0],
        Contested::Task(t) => [3, t as i32, 0, 0, 0],
    }
}

/// A token-protocol message: a request for the token of `thing`, or the token itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenMsg {
    /// The thing the token protects.
    pub thing: ThingKey,
    /// For a token pass, its sequence number (stale copies are ignored); 0 for a request.
    pub pass: u64,
}

/// One thing's token.
#[derive(Debug, Clone, Default)]
struct TokenState {
    holder: u32,
    /// In transit: (to, pass number, tick sent).
    transit: Option<(u32, u64, u64)>,
    /// Requesters in arrival order.
    queue: VecDeque<u32>,
    /// Requests sent and not yet arrived: (requester, tick sent).
    asked: Vec<(u32, u64)>,
    passes: u64,
    last_contested: u64,
    /// The first tick of the holder's current run of wins (contested ticks in a row).
    winning_since: Option<u64>,
}

/// Every token of the run, by thing.
#[derive(Resource, Debug, Default)]
pub struct Tokens {
    tokens: BTreeMap<ThingKey, TokenState>,
    /// Token passes so far.
    pub passes: u64,
    /// Requests sent so far.
    pub requests: u64,
}

impl Tokens {
    /// The current holder of `thing`'s token (also while it travels), if it has one.
    pub fn holder(&self, thing: Contested) -> Option<u32> {
        self.tokens.get(&thing_key(thing)).map(|t| t.holder)
    }
}

impl Mechanism for Token {
    const SECTION: Section = Section::Conflicts;
    const NAME: &'static str = "token";
    const SUMMARY: &'static str =
        "One token per contested thing, passed by messages: only its holder wins.";

    fn build(sim: &mut SimBuilder) {
        sim.use_intents();
        super::messaging_for_everyone::<TokenMsg>(sim);
        sim.init_resource::<Tokens>();
        sim.add_systems(Phase::Resolve, pass_tokens);
    }
}

/// Reused buffers.
#[derive(Default)]
struct Scratch {
    arrived: Vec<(ThingKey, u32, u32, u64)>,
    sends: Vec<(u32, u32, Performative, TokenMsg)>,
    /// Entity by agent id (`Entity::PLACEHOLDER` for none).
    entity_of: Vec<Entity>,
}

fn pass_tokens(
    tick: Res<Tick>,
    params: Res<Token>,
    mut tokens: ResMut<Tokens>,
    mut conflicts: ResMut<Conflicts>,
    mut agents: Query<(
        Entity,
        &AgentId,
        &mut Mailbox<TokenMsg>,
        &mut Outbox<TokenMsg>,
    )>,
    mut scratch: Local<Scratch>,
) {
    let now = tick.0;
    let s = &mut *scratch;
    s.arrived.clear();
    s.sends.clear();
    s.entity_of.fill(Entity::PLACEHOLDER);
    for (entity, id, mut inbox, _) in &mut agents {
        let i = id.0 as usize;
        if i >= s.entity_of.len() {
            s.entity_of.resize(i + 1, Entity::PLACEHOLDER);
        }
        s.entity_of[i] = entity;
        for m in inbox.drain() {
            s.arrived
                .push((m.payload.thing, m.sender(), id.0, m.payload.pass));
        }
    }
    // Arrival order within a tick: by thing, then sender (mailboxes are visited in no
    // particular order).
    s.arrived.sort_unstable();
    let tokens = &mut *tokens;
    for &(thing, from, to, pass) in &s.arrived {
        let Some(t) = tokens.tokens.get_mut(&thing) else {
            continue;
        };
        if pass == 0 {
            t.asked.retain(|a| a.0 != from);
            if !t.queue.contains(&from) && t.holder != from {
                t.queue.push_back(from);
            }
        } else if t
            .transit
            .is_some_and(|(dest, p, _)| dest == to && p == pass)
        {
            t.holder = to;
            t.transit = None;
            t.winning_since = None;
            t.queue.retain(|&a| a != to);
        }
    }
    let mut spent = 0;
    for mut c in conflicts.iter_mut() {
        let key = thing_key(c.thing());
        let first = c.parties()[0].agent;
        let t = tokens.tokens.entry(key).or_insert_with(|| TokenState {
            holder: first,
            ..TokenState::default()
        });
        let prev = t.last_contested;
        t.last_contested = now;
        let is_party =
            |a: u32, c: &agora_engine::ConflictMut<'_>| c.parties().iter().any(|p| p.agent == a);
        match t.transit {
            Some((to, pass, sent)) => {
                if now >= sent + params.timeout {
                    t.transit = Some((to, pass, now));
                    s.sends.push((
                        t.holder,
                        to,
                        Performative::Inform,
                        TokenMsg { thing: key, pass },
                    ));
                }
                c.set_winners(0);
            }
            None if is_party(t.holder, &c)
                && !(t.winning_since.is_some_and(|w| now >= w + params.timeout)
                    && t.queue.iter().any(|&a| is_party(a, &c))) =>
            {
                if t.winning_since.is_none() || prev + 1 < now {
                    t.winning_since = Some(now);
                }
                c.award(t.holder);
            }
            None => {
                t.winning_since = None;
                if let Some(pos) = t.queue.iter().position(|&a| is_party(a, &c)) {
                    let to = t.queue[pos];
                    t.passes += 1;
                    let pass = t.passes;
                    t.transit = Some((to, pass, now));
                    s.sends.push((
                        t.holder,
                        to,
                        Performative::Inform,
                        TokenMsg { thing: key, pass },
                    ));
                    tokens.passes += 1;
                }
                c.set_winners(0);
            }
        }
        // Everyone else asks the holder once (again after `timeout`, the request may be lost).
        t.asked.retain(|a| now < a.1 + params.timeout);
        for p in c.parties() {
            let a = p.agent;
            let waiting = t.transit.is_some_and(|x| x.0 == a);
            if a == t.holder || waiting || t.queue.contains(&a) || t.asked.iter().any(|x| x.0 == a)
            {
                continue;
            }
            t.asked.push((a, now));
            s.sends.push((
                a,
                t.holder,
                Performative::Request,
                TokenMsg {
                    thing: key,
                    pass: 0,
                },
            ));
            tokens.requests += 1;
        }
    }
    for (from, to, performative, msg) in s.sends.drain(..) {
        if let Some(&e) = s.entity_of.get(from as usize)
            && let Ok((_, _, _, mut outbox)) = agents.get_mut(e)
        {
            outbox.tell(to, performative, msg);
            spent += 1;
        }
    }
    conflicts.add_messages(spent);
    tokens
        .tokens
        .retain(|_, t| t.transit.is_some() || now < t.last_contested + params.forget);
}
