//! Agent memory: beliefs about subjects (agents, tasks, locations, named facts), each with a
//! value, the tick it was observed, where it came from and how confident the agent is;
//! bounded, with an eviction policy, and with confidence that decays with age.
//!
//! ```
//! use agora_engine::memory::{Eviction, Key, Memory, MemoryConfig, Source, Subject};
//!
//! let mut m = Memory::<(i32, i32)>::new(MemoryConfig {
//!     capacity: 2,
//!     eviction: Eviction::Oldest,
//!     half_life: Some(10.0),
//!     ..Default::default()
//! });
//! let food = Key::of(Subject::named("food"));
//! m.observe(food, (3, 4), 0, 1.0);
//! m.tell(Key::of(Subject::Agent(7)), (0, 0), 2, 7, 0.8);
//! m.observe(Key::of(Subject::Cell(1, 1)), (1, 1), 5, 1.0); // full: evicts the oldest
//! assert!(m.peek(food).is_none());
//! let b = m.recall(Key::of(Subject::Agent(7)), 12).unwrap();
//! assert_eq!(b.source, Source::Told(7));
//! assert!((m.confidence_of(Key::of(Subject::Agent(7)), 12).unwrap() - 0.4).abs() < 1e-6);
//! ```

use crate::comms::{Mailbox, Payload, Performative};
use crate::digest::StableHasher;
use crate::phase::{Phase, Tick};
use crate::sim::SimBuilder;
use bevy_ecs::prelude::*;
use serde::{Deserialize, Serialize};

/// What a belief is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// An agent, by id.
    Agent(u32),
    /// A task, by id.
    Task(u32),
    /// A location: a grid cell, or a position rounded to whole units.
    Cell(i32, i32),
    /// A named fact ([`Subject::named`]).
    Fact(u64),
}

impl Subject {
    /// A named fact; the name is hashed with a fixed function, so the same name is the same
    /// subject in every run and on every platform.
    pub fn named(name: &str) -> Subject {
        let mut h = StableHasher::new();
        h.write(name.as_bytes());
        Subject::Fact(h.finish())
    }
}

/// A belief's key: the subject and which of its attributes (0 when there is one belief per
/// subject).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// What it is about.
    pub subject: Subject,
    /// Which attribute of the subject.
    pub attribute: u16,
}

impl Key {
    /// The key of one attribute of `subject`.
    pub fn new(subject: Subject, attribute: u16) -> Key {
        Key { subject, attribute }
    }

    /// The key of `subject`'s attribute 0.
    pub fn of(subject: Subject) -> Key {
        Key::new(subject, 0)
    }
}

/// Where a belief came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// The agent perceived it.
    Perceived,
    /// Another agent told it (an `inform` message).
    Told(u32),
    /// Read from a shared blackboard.
    Shared,
}

/// One belief.
#[derive(Debug, Clone, PartialEq)]
pub struct Belief<V> {
    /// What it is about.
    pub key: Key,
    /// What is believed.
    pub value: V,
    /// When it was observed (by whoever observed it first).
    pub observed: u64,
    /// Where it came from.
    pub source: Source,
    /// Confidence in `[0, 1]` when it was observed; see [`Memory::confidence_of`] for now.
    pub confidence: f32,
    /// Last tick it was recalled or written.
    pub last_used: u64,
}

/// Which belief makes room when memory is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Eviction {
    /// The one observed longest ago.
    #[default]
    Oldest,
    /// The one with the lowest confidence now.
    LeastConfident,
    /// The one recalled or written longest ago.
    Lru,
}

/// Memory settings; behaviors embed this in their params.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryConfig {
    /// Most beliefs held (default 32).
    pub capacity: u32,
    /// Who goes when full (default `Oldest`).
    pub eviction: Eviction,
    /// Confidence halves every this many ticks (default `None`: no decay).
    pub half_life: Option<f64>,
    /// [`Memory::prune`] forgets beliefs whose confidence fell below this (default 0).
    pub forget_below: f32,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            capacity: 32,
            eviction: Eviction::Oldest,
            half_life: None,
            forget_below: 0.0,
        }
    }
}

impl MemoryConfig {
    /// Checks the values; the message says what is expected.
    pub fn check(&self) -> Result<(), String> {
        if self.capacity == 0 {
            return Err("memory `capacity` must be at least 1".into());
        }
        if let Some(h) = self.half_life
            && !(h.is_finite() && h > 0.0)
        {
            return Err(format!(
                "memory `half_life` must be a positive number of ticks, got {h}"
            ));
        }
        if !(0.0..=1.0).contains(&self.forget_below) {
            return Err(format!(
                "memory `forget_below` is a confidence in [0, 1], got {}",
                self.forget_below
            ));
        }
        Ok(())
    }
}

/// A per-agent memory of beliefs with values of type `V`. Beliefs are kept sorted by key, so
/// recall is a binary search and "everything about a subject" is one contiguous slice.
#[derive(Component, Debug, Clone)]
pub struct Memory<V: Send + Sync + 'static> {
    config: MemoryConfig,
    beliefs: Vec<Belief<V>>,
    recalls: u64,
    recall_age_sum: u64,
    evictions: u64,
}

impl<V: Send + Sync + 'static> Default for Memory<V> {
    fn default() -> Self {
        Memory::new(MemoryConfig::default())
    }
}

impl<V: Send + Sync + 'static> Memory<V> {
    /// An empty memory.
    pub fn new(config: MemoryConfig) -> Memory<V> {
        Memory {
            config,
            beliefs: Vec::new(),
            recalls: 0,
            recall_age_sum: 0,
            evictions: 0,
        }
    }

    /// Its settings.
    pub fn config(&self) -> &MemoryConfig {
        &self.config
    }

    /// Number of beliefs.
    pub fn len(&self) -> usize {
        self.beliefs.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.beliefs.is_empty()
    }

    /// All beliefs, by key.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Belief<V>> {
        self.beliefs.iter()
    }

    /// Beliefs evicted so far to make room.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Mean age (ticks between observation and recall) of the beliefs recalled so far: how
    /// stale the information the agent acts on is. NaN before the first recall.
    pub fn staleness(&self) -> f64 {
        if self.recalls == 0 {
            f64::NAN
        } else {
            self.recall_age_sum as f64 / self.recalls as f64
        }
    }

    /// `(recalls, sum of recalled ages)`, for aggregating staleness over agents.
    pub fn recall_totals(&self) -> (u64, u64) {
        (self.recalls, self.recall_age_sum)
    }

    /// Confidence `c` observed `age` ticks ago, decayed.
    fn decayed(&self, c: f32, age: u64) -> f32 {
        match self.config.half_life {
            Some(h) => c * (0.5f64).powf(age as f64 / h) as f32,
            None => c,
        }
    }

    /// A belief's confidence at `now`.
    pub fn confidence_at(&self, b: &Belief<V>, now: u64) -> f32 {
        self.decayed(b.confidence, now.saturating_sub(b.observed))
    }

    /// The confidence at `now` of the belief under `key`.
    pub fn confidence_of(&self, key: Key, now: u64) -> Option<f32> {
        self.peek(key).map(|b| self.confidence_at(b, now))
    }

    fn find(&self, key: Key) -> Result<usize, usize> {
        self.beliefs.binary_search_by(|b| b.key.cmp(&key))
    }

    /// The belief under `key`, without counting it as used.
    pub fn peek(&self, key: Key) -> Option<&Belief<V>> {
        self.find(key).ok().map(|i| &self.beliefs[i])
    }

    /// The belief under `key`, marked as used at `now` (for LRU eviction and staleness).
    pub fn recall(&mut self, key: Key, now: u64) -> Option<&Belief<V>> {
        let i = self.find(key).ok()?;
        let b = &mut self.beliefs[i];
        b.last_used = now;
        self.recalls += 1;
        self.recall_age_sum += now.saturating_sub(b.observed);
        Some(&self.beliefs[i])
    }

    /// Everything believed about `subject`, by attribute.
    pub fn about(&self, subject: Subject) -> &[Belief<V>] {
        let lo = self.beliefs.partition_point(|b| b.key.subject < subject);
        let hi = self.beliefs.partition_point(|b| b.key.subject <= subject);
        &self.beliefs[lo..hi]
    }

    /// The `n` most recently observed beliefs, newest first (ties by key).
    pub fn most_recent(&self, n: usize) -> Vec<&Belief<V>> {
        let mut all: Vec<&Belief<V>> = self.beliefs.iter().collect();
        all.sort_by(|a, b| b.observed.cmp(&a.observed).then(a.key.cmp(&b.key)));
        all.truncate(n);
        all
    }

    /// Writes a belief. An existing belief under the same key is replaced unless it was
    /// observed later than this one; when memory is full, one belief is evicted first
    /// according to the policy (judged at `now`). Returns whether it was stored.
    pub fn remember(&mut self, belief: Belief<V>, now: u64) -> bool {
        match self.find(belief.key) {
            Ok(i) => {
                if self.beliefs[i].observed > belief.observed {
                    return false;
                }
                self.beliefs[i] = belief;
                true
            }
            Err(_) => {
                if self.beliefs.len() >= self.config.capacity as usize {
                    self.evict(now);
                }
                let at = self.find(belief.key).unwrap_err();
                self.beliefs.insert(at, belief);
                true
            }
        }
    }

    /// Records something the agent perceived at `tick` (which is also "now").
    pub fn observe(&mut self, key: Key, value: V, tick: u64, confidence: f32) -> bool {
        self.remember(
            Belief {
                key,
                value,
                observed: tick,
                source: Source::Perceived,
                confidence: confidence.clamp(0.0, 1.0),
                last_used: tick,
            },
            tick,
        )
    }

    /// Records something agent `from` said, observed at `observed`, learnt at `now`.
    pub fn tell(&mut self, key: Key, value: V, observed: u64, from: u32, confidence: f32) -> bool {
        self.remember(
            Belief {
                key,
                value,
                observed,
                source: Source::Told(from),
                confidence: confidence.clamp(0.0, 1.0),
                last_used: observed,
            },
            observed,
        )
    }

    /// Forgets one belief.
    pub fn forget(&mut self, key: Key) -> Option<Belief<V>> {
        self.find(key).ok().map(|i| self.beliefs.remove(i))
    }

    /// Forgets every belief whose confidence at `now` is below `forget_below`; returns how
    /// many went.
    pub fn prune(&mut self, now: u64) -> usize {
        let floor = self.config.forget_below;
        if floor <= 0.0 {
            return 0;
        }
        let before = self.beliefs.len();
        let half_life = self.config.half_life;
        self.beliefs.retain(|b| {
            let age = now.saturating_sub(b.observed);
            let c = match half_life {
                Some(h) => b.confidence * (0.5f64).powf(age as f64 / h) as f32,
                None => b.confidence,
            };
            c >= floor
        });
        before - self.beliefs.len()
    }

    fn evict(&mut self, now: u64) {
        if self.beliefs.is_empty() {
            return;
        }
        // Ties go to the lowest key, so eviction never depends on insertion history.
        let victim = match self.config.eviction {
            Eviction::Oldest => (0..self.beliefs.len()).min_by_key(|&i| self.beliefs[i].observed),
            Eviction::Lru => (0..self.beliefs.len()).min_by_key(|&i| self.beliefs[i].last_used),
            Eviction::LeastConfident => (0..self.beliefs.len()).min_by(|&a, &b| {
                let ca = self.confidence_at(&self.beliefs[a], now);
                let cb = self.confidence_at(&self.beliefs[b], now);
                ca.total_cmp(&cb)
                    .then(self.beliefs[a].observed.cmp(&self.beliefs[b].observed))
            }),
        };
        if let Some(i) = victim {
            self.beliefs.remove(i);
            self.evictions += 1;
        }
    }
}

/// A memory shared by everyone, for centralised baselines (a blackboard agents post to and
/// read from). Insert it as a resource; write it from one system at a time, in agent-id
/// order, so that its contents do not depend on thread count.
#[derive(Resource, Debug, Clone)]
pub struct Blackboard<V: Send + Sync + 'static>(pub Memory<V>);

/// A payload that can inform a memory: what belief an `inform` message carries.
pub trait Informs<V> {
    /// The key, value and confidence to remember, if this message carries a belief.
    fn belief(&self) -> Option<(Key, V, f32)>;
}

/// Writes what `inform` messages delivered this tick say into the receiver's memory (the
/// messages stay in the mailbox for the behavior to read).
fn remember_informs<P: Payload + Informs<V>, V: Send + Sync + 'static>(
    tick: Res<'_, Tick>,
    mut agents: Query<'_, '_, (&Mailbox<P>, &mut Memory<V>)>,
) {
    let now = tick.0;
    agents.par_iter_mut().for_each(|(inbox, mut memory)| {
        for m in inbox.iter().filter(|m| m.delivered == now) {
            if m.performative() != Performative::Inform {
                continue;
            }
            if let Some((key, value, confidence)) = m.payload.belief() {
                memory.tell(key, value, m.sent, m.sender(), confidence);
            }
        }
    });
}

/// Per-run memory statistics over every agent's [`Memory<V>`] of every registered type.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MemoryTotals {
    /// Agents with a memory.
    pub agents: u64,
    /// Beliefs held.
    pub beliefs: u64,
    /// Sum over held beliefs of their age now, in ticks.
    pub age_sum: u64,
    /// Recalls so far.
    pub recalls: u64,
    /// Sum of recalled beliefs' ages.
    pub recall_age_sum: u64,
    /// Evictions so far.
    pub evictions: u64,
}

type TotalsFn = fn(&mut World, u64) -> MemoryTotals;

/// Memory types in use, registered by [`SimBuilder::memory`].
#[derive(Resource, Default, Clone)]
struct MemoryKinds(Vec<TotalsFn>);

fn totals_of<V: Send + Sync + 'static>(world: &mut World, now: u64) -> MemoryTotals {
    let mut t = MemoryTotals::default();
    let mut q = world.query::<&Memory<V>>();
    for m in q.iter(world) {
        t.agents += 1;
        t.beliefs += m.len() as u64;
        t.age_sum += m
            .iter()
            .map(|b| now.saturating_sub(b.observed))
            .sum::<u64>();
        let (r, s) = m.recall_totals();
        t.recalls += r;
        t.recall_age_sum += s;
        t.evictions += m.evictions();
    }
    t
}

/// Memory statistics summed over every registered memory type (integers, so the sum does not
/// depend on visiting order). `now` is the tick ages are measured at.
pub fn totals(world: &mut World, now: u64) -> MemoryTotals {
    let kinds = world
        .get_resource::<MemoryKinds>()
        .cloned()
        .unwrap_or_default();
    let mut all = MemoryTotals::default();
    for f in kinds.0 {
        let t = f(world, now);
        all.agents += t.agents;
        all.beliefs += t.beliefs;
        all.age_sum += t.age_sum;
        all.recalls += t.recalls;
        all.recall_age_sum += t.recall_age_sum;
        all.evictions += t.evictions;
    }
    all
}

/// Marks the type for registration once.
struct MemoryOf<V>(std::marker::PhantomData<V>);

impl SimBuilder<'_> {
    /// Declares that agents carry a [`Memory<V>`], so that memory statistics include it.
    pub fn memory<V: Send + Sync + 'static>(&mut self) -> &mut Self {
        if self.first_time::<MemoryOf<V>>() {
            self.world_mut().init_resource::<MemoryKinds>();
            self.world_mut()
                .resource_mut::<MemoryKinds>()
                .0
                .push(totals_of::<V>);
        }
        self
    }

    /// Writes received `inform` messages of type `P` into the receivers' [`Memory<V>`]
    /// during Deliver, as `Told(sender)` beliefs observed when the message was sent.
    pub fn remember_informs<P: Payload + Informs<V>, V: Send + Sync + 'static>(
        &mut self,
    ) -> &mut Self {
        self.memory::<V>();
        self.add_systems(Phase::Deliver, remember_informs::<P, V>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(capacity: u32, eviction: Eviction) -> Memory<u32> {
        Memory::new(MemoryConfig {
            capacity,
            eviction,
            ..Default::default()
        })
    }

    fn key(i: u32) -> Key {
        Key::of(Subject::Agent(i))
    }

    #[test]
    fn eviction_policies_choose_their_victims() {
        let mut m = mem(3, Eviction::Oldest);
        for (i, t) in [(1, 5), (2, 3), (3, 9)] {
            m.observe(key(i), i, t, 1.0);
        }
        m.observe(key(4), 4, 10, 1.0);
        assert!(m.peek(key(2)).is_none(), "observed at 3, the oldest");
        assert_eq!(m.evictions(), 1);

        let mut m = mem(3, Eviction::Lru);
        for (i, t) in [(1, 1), (2, 2), (3, 3)] {
            m.observe(key(i), i, t, 1.0);
        }
        m.recall(key(1), 8);
        m.observe(key(4), 4, 10, 1.0);
        assert!(m.peek(key(1)).is_some() && m.peek(key(2)).is_none());

        let mut m = mem(3, Eviction::LeastConfident);
        m.observe(key(1), 1, 0, 0.9);
        m.observe(key(2), 2, 0, 0.2);
        m.observe(key(3), 3, 0, 0.5);
        m.observe(key(4), 4, 1, 0.6);
        assert!(m.peek(key(2)).is_none());
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn confidence_decays_by_half_life_and_prune_forgets() {
        let mut m = Memory::<u32>::new(MemoryConfig {
            capacity: 8,
            half_life: Some(10.0),
            forget_below: 0.3,
            ..Default::default()
        });
        m.observe(key(1), 1, 0, 1.0);
        m.observe(key(2), 2, 15, 1.0);
        assert!((m.confidence_of(key(1), 10).unwrap() - 0.5).abs() < 1e-6);
        assert!((m.confidence_of(key(1), 20).unwrap() - 0.25).abs() < 1e-6);
        assert_eq!(m.prune(20), 1);
        assert!(m.peek(key(1)).is_none() && m.peek(key(2)).is_some());
    }

    #[test]
    fn newer_observations_win_and_queries_work() {
        let mut m = mem(8, Eviction::Oldest);
        m.observe(key(1), 10, 5, 1.0);
        assert!(
            !m.tell(key(1), 11, 3, 9, 1.0),
            "an older report does not overwrite"
        );
        assert!(m.tell(key(1), 12, 6, 9, 0.5));
        assert_eq!(m.peek(key(1)).unwrap().value, 12);
        m.observe(Key::new(Subject::Task(2), 0), 1, 1, 1.0);
        m.observe(Key::new(Subject::Task(2), 3), 2, 2, 1.0);
        m.observe(Key::of(Subject::named("nest")), 3, 7, 1.0);
        assert_eq!(m.about(Subject::Task(2)).len(), 2);
        let recent: Vec<u64> = m.most_recent(2).iter().map(|b| b.observed).collect();
        assert_eq!(recent, vec![7, 6]);
        m.recall(key(1), 10);
        m.recall(Key::new(Subject::Task(2), 3), 10);
        assert_eq!(m.staleness(), (4.0 + 8.0) / 2.0);
        assert_eq!(Subject::named("nest"), Subject::named("nest"));
        assert_ne!(Subject::named("nest"), Subject::named("food"));
    }
}
