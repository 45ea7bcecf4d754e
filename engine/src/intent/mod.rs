//! Intents and the Resolve phase: what agents want, which wants collide, who gets what.
//!
//! Behaviors never move agents or take resources directly. In Decide an agent writes its
//! [`Intent`] (move to a cell, use a resource, claim a task); in Resolve the engine gathers
//! every intent, detects the conflicts among them ([`ConflictKind`]: vertex, swap, resource
//! capacity, task double-claim), lets the scenario's conflict policy rank the parties of each
//! conflict ([`Conflicts`]), settles the outcome of every intent ([`Outcome`]), maintains the
//! wait-for graph and its deadlocks, and in Act applies the granted moves.
//!
//! The stages of one tick:
//!
//! 1. **Detect** (start of Resolve, engine): intents are gathered in agent-id order; each
//!    conflict gets its parties ranked by the default rule, first come first served
//!    (earliest request, then lowest id).
//! 2. **Policy** (Resolve, the `conflicts:` plug-in): reorders the parties of each conflict;
//!    the first [`ConflictMut::winners`] of them win. A policy may also leave a conflict
//!    undecided for this tick (a negotiation in progress) or defer losers (backoff).
//! 3. **Settle** (end of Resolve, engine): moves that make way ([`Intent::give_way`]) are put
//!    first; winners are granted; chains of moves into cells being vacated are followed (an
//!    agent may follow another, and rotations of three or more agents move together, but two
//!    agents never swap cells); every intent gets its [`Ruling`]; the wait-for graph is built
//!    and its cycles are tracked as deadlocks, and a deadlock that lasts `patience` ticks gets
//!    a victim ([`DeadlockSpec`]); statistics are updated.
//! 4. **Apply** (start of Act, engine): granted moves change [`GridCell`]s and the
//!    [`GridOccupancy`](crate::GridOccupancy); resource and task holds are already in [`Resources`] and
//!    [`TaskClaims`].
//!
//! With `record: (events: ["conflicts"])` every conflict is written to
//! `events_conflicts.csv` ([`ConflictEvent`]: tick, kind, contested thing, ranked parties,
//! winners).
//!
//! Without a `conflicts:` section the first-come rule of step 1 stands, deadlock victims are
//! the youngest member, told to back off, after 2 ticks.
//!
//! ```
//! use agora_engine::prelude::*;
//! use serde::{Deserialize, Serialize};
//!
//! /// Every agent tries to step east each tick.
//! #[derive(Component, Clone, Debug, Default, Serialize, Deserialize)]
//! #[serde(default, deny_unknown_fields)]
//! struct East {}
//!
//! impl Behavior for East {
//!     const NAME: &'static str = "east";
//!     const SUMMARY: &'static str = "Step east.";
//!     fn build(sim: &mut SimBuilder) {
//!         sim.use_intents();
//!         sim.add_systems(Phase::Decide, want_east);
//!     }
//!     fn spawn(&self, agent: &mut AgentSpawn) {
//!         agent.insert(Intent::default());
//!     }
//! }
//!
//! fn want_east(mut q: Query<(&GridCell, &mut Intent)>) {
//!     q.iter_mut().for_each(|(cell, mut intent)| {
//!         intent.to = Some(GridCell::new(cell.x + 1, cell.y));
//!     });
//! }
//!
//! let mut registry = Registry::new();
//! registry.behavior::<East>();
//! let scenario = Scenario::parse(
//!     r#"(schema: 1, seed: 1, ticks: 5,
//!         world: (kind: Grid, width: 6.0, height: 1.0, boundary: Walls, one_per_cell: true),
//!         populations: [(behavior: "east", count: 2, placement: Positions([(0.0, 0.0), (1.0, 0.0)]))])"#,
//!     "inline",
//!     &registry,
//! )
//! .unwrap();
//! let mut sim = Sim::new(&scenario, &registry, SimOptions::default()).unwrap();
//! sim.run().unwrap();
//! // The two agents walked east in single file until the front one met the wall.
//! let mut q = sim.world_mut().query::<(&AgentId, &GridCell, &Outcome)>();
//! let mut end: Vec<_> = q.iter(sim.world()).map(|(id, c, o)| (id.0, c.x, o.movement)).collect();
//! end.sort_by_key(|e| e.0);
//! assert_eq!(end[0].1, 4);
//! assert_eq!(end[1].1, 5);
//! assert!(matches!(end[0].2, Ruling::Blocked { by: 1 }));
//! ```

mod deadlock;
mod detect;
mod events;
mod resources;
mod settle;
mod stats;
#[cfg(test)]
mod tests;

pub use deadlock::{Deadlock, DeadlockTracker, EndedDeadlock, TrackerReport, WaitForGraph};
pub use events::ConflictEvent;
pub use resources::{ResourceSpec, Resources, TaskClaims};
pub use stats::{AgentConflictStats, ConflictStats, TickConflicts};

use crate::agent::GridCell;
use crate::phase::{Phase, Slot};
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::IntoScheduleConfigs;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Index of a resource in the scenario's `resources` table (its position in the list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourceId(pub u32);

/// What an agent wants this tick. Its behavior writes it in Decide; the engine reads it in
/// Resolve and answers in the agent's [`Outcome`]. It persists: a want stays until the
/// behavior changes it, and a held resource or task stays held while it is wanted.
///
/// Inserting `Intent` also inserts an [`Outcome`].
#[derive(Component, Debug, Clone, Copy, Default, PartialEq)]
#[require(Outcome)]
pub struct Intent {
    /// Move to this cell: a neighbour of the agent's cell under the world's neighbourhood
    /// (Moore or von Neumann, radius 1), or the cell itself (stay). Grid worlds only.
    /// Default `None`: stay.
    pub to: Option<GridCell>,
    /// The move makes way: the agent backs off after losing a conflict or being chosen as a
    /// deadlock victim. Such moves go first in every conflict with moves that do not make
    /// way, whatever the policy ranks, so that an agent backing off pushes the queue behind
    /// it back. Default false.
    pub give_way: bool,
    /// Use one unit of a resource of the scenario's `resources` table, and keep holding it
    /// while this is set. Default `None`.
    pub resource: Option<ResourceId>,
    /// Claim the task with this id, and keep the claim while this is set (the task
    /// subsystem's id; the capacity of a task is 1 unless [`TaskClaims::set_capacity`] says
    /// otherwise). Default `None`.
    pub task: Option<u32>,
}

impl Intent {
    /// Stops wanting anything: no move, no resource, no task (holds are released next tick).
    pub fn clear(&mut self) {
        *self = Intent::default();
    }
}

/// How urgent an agent's wants are: higher is more urgent. Optional; agents without it count
/// as 0. Policies that rank by urgency and the `LowestPriority` deadlock victim rule read it
/// (a charging robot sets it from its battery, a task from its deadline).
#[derive(Component, Debug, Clone, Copy, Default, PartialEq, PartialOrd)]
pub struct Urgency(pub f64);

/// The kinds of conflict the engine detects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ConflictKind {
    /// Two or more agents want to move into the same cell (one agent per cell worlds).
    Vertex,
    /// Two agents want to exchange cells: the edge conflict, traversing one edge in opposite
    /// directions. Neither can move; the winner has the right of way and the loser is
    /// expected to make way.
    Swap,
    /// More agents request a resource than it has free units.
    Resource,
    /// More agents claim a task than it has free slots (a double claim).
    Task,
}

impl ConflictKind {
    /// Every kind, in column order.
    pub const ALL: [ConflictKind; 4] = [
        ConflictKind::Vertex,
        ConflictKind::Swap,
        ConflictKind::Resource,
        ConflictKind::Task,
    ];

    /// `vertex`, `swap`, `resource` or `task`.
    pub fn name(self) -> &'static str {
        match self {
            ConflictKind::Vertex => "vertex",
            ConflictKind::Swap => "swap",
            ConflictKind::Resource => "resource",
            ConflictKind::Task => "task",
        }
    }

    /// Position in [`ConflictKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The thing a conflict is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Contested {
    /// A cell (vertex conflicts).
    Cell(GridCell),
    /// The edge between two cells, the smaller cell first (swap conflicts).
    Edge(GridCell, GridCell),
    /// A resource (capacity conflicts).
    Resource(ResourceId),
    /// A task, by id (double claims).
    Task(u32),
}

impl fmt::Display for Contested {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Contested::Cell(c) => write!(f, "cell({} {})", c.x, c.y),
            Contested::Edge(a, b) => write!(f, "edge({} {}|{} {})", a.x, a.y, b.x, b.y),
            Contested::Resource(r) => write!(f, "resource({})", r.0),
            Contested::Task(t) => write!(f, "task({t})"),
        }
    }
}

/// One party of a conflict, as policies see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Party {
    /// The agent's id.
    pub agent: u32,
    /// The agent's entity (to read the policy's own components of it).
    pub entity: Entity,
    /// The tick the agent started wanting this thing without interruption (first-come order).
    pub since: u64,
    /// Conflicts the agent lost in a row (exponential backoff reads it); 0 after a win.
    pub losses: u32,
    /// The agent's [`Urgency`] (0 without one).
    pub urgency: f64,
    /// Whether the want is a move that makes way ([`Intent::give_way`]).
    pub give_way: bool,
}

/// One conflict: its kind, the contested thing, and how many of its parties can win.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conflict {
    kind: ConflictKind,
    thing: Contested,
    capacity: u32,
    winners: u32,
    holders: u32,
    start: u32,
    len: u32,
}

impl Conflict {
    /// The kind.
    pub fn kind(&self) -> ConflictKind {
        self.kind
    }

    /// The contested thing.
    pub fn thing(&self) -> Contested {
        self.thing
    }

    /// How many parties can win: 1 for a cell or an edge (the right of way), the free units
    /// of a resource, the free slots of a task.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// How many parties win: the first `winners` of the ranking (`capacity` unless the policy
    /// changed it).
    pub fn winners(&self) -> u32 {
        self.winners
    }

    /// For resources and tasks, the agents already holding it (who keep it); 0 otherwise.
    pub fn holders(&self) -> u32 {
        self.holders
    }

    /// Number of parties.
    pub fn party_count(&self) -> usize {
        self.len as usize
    }
}

/// A conflict whose ranking a policy may change.
#[derive(Debug)]
pub struct ConflictMut<'a> {
    conflict: &'a mut Conflict,
    parties: &'a mut [Party],
}

impl ConflictMut<'_> {
    /// The conflict.
    pub fn conflict(&self) -> &Conflict {
        self.conflict
    }

    /// The kind.
    pub fn kind(&self) -> ConflictKind {
        self.conflict.kind
    }

    /// The contested thing.
    pub fn thing(&self) -> Contested {
        self.conflict.thing
    }

    /// How many parties can win.
    pub fn capacity(&self) -> u32 {
        self.conflict.capacity
    }

    /// The parties, best ranked first.
    pub fn parties(&self) -> &[Party] {
        self.parties
    }

    /// The parties, to reorder: the first [`Self::winners`] win.
    pub fn parties_mut(&mut self) -> &mut [Party] {
        self.parties
    }

    /// How many of the ranked parties win.
    pub fn winners(&self) -> u32 {
        self.conflict.winners
    }

    /// Lets only the first `n` parties win (at most the capacity). `0` leaves the conflict
    /// undecided this tick: every party waits (a negotiation or a token still in transit).
    pub fn set_winners(&mut self, n: u32) {
        self.conflict.winners = n.min(self.conflict.capacity);
    }

    /// Moves `agent` to the front of the ranking (nothing if it is not a party).
    pub fn award(&mut self, agent: u32) {
        if let Some(i) = self.parties.iter().position(|p| p.agent == agent) {
            self.parties[..=i].rotate_right(1);
        }
    }

    /// Ranks the parties by a key, smallest first; ties keep the current order.
    pub fn rank_by_key<K: PartialOrd>(&mut self, mut key: impl FnMut(&Party) -> K) {
        self.parties.sort_by(|a, b| {
            key(a)
                .partial_cmp(&key(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    }
}

/// The tick's conflicts, filled in Detect, ranked by the policy, settled by the engine.
///
/// Conflicts come in a fixed order (kind, then contested thing) and the parties of each start
/// ranked first come, first served; a policy reorders them in place.
#[derive(Resource, Debug, Default)]
pub struct Conflicts {
    tick: u64,
    list: Vec<Conflict>,
    parties: Vec<Party>,
    deferrals: Vec<(u32, u64)>,
    messages: u64,
}

impl Conflicts {
    /// The tick these conflicts belong to.
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// Number of conflicts.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Each conflict with its ranked parties.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&Conflict, &[Party])> + '_ {
        self.list.iter().map(|c| {
            let (s, e) = (c.start as usize, (c.start + c.len) as usize);
            (c, &self.parties[s..e])
        })
    }

    /// Each conflict, to rank.
    pub fn iter_mut(&mut self) -> impl ExactSizeIterator<Item = ConflictMut<'_>> + '_ {
        let mut rest: &mut [Party] = &mut self.parties;
        self.list.iter_mut().map(move |conflict| {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(conflict.len as usize);
            rest = tail;
            ConflictMut {
                conflict,
                parties: head,
            }
        })
    }

    /// Ignores `agent`'s wants (moves, new requests) until tick `until` (exclusive): the
    /// agent backs off. Its outcome says [`Ruling::Deferred`] meanwhile; holds it already has
    /// are kept. A later call for the same agent replaces the earlier.
    pub fn defer(&mut self, agent: u32, until: u64) {
        self.deferrals.push((agent, until));
    }

    /// Counts `n` messages spent on resolving conflicts this tick (ballots, bids, offers,
    /// token passes), for the `messages` statistics.
    pub fn add_messages(&mut self, n: u64) {
        self.messages += n;
    }

    pub(crate) fn clear(&mut self, tick: u64) {
        self.tick = tick;
        self.list.clear();
        self.parties.clear();
        self.deferrals.clear();
        self.messages = 0;
    }

    /// Appends a conflict whose parties were pushed with [`Conflicts::push_party`] since
    /// `start`, ranked first come, first served.
    pub(crate) fn close(
        &mut self,
        kind: ConflictKind,
        thing: Contested,
        capacity: u32,
        holders: u32,
        start: usize,
    ) {
        let parties = &mut self.parties[start..];
        parties.sort_by_key(|p| (p.since, p.agent));
        let len = parties.len() as u32;
        self.list.push(Conflict {
            kind,
            thing,
            capacity,
            winners: capacity.min(len),
            holders,
            start: start as u32,
            len,
        });
    }

    pub(crate) fn push_party(&mut self, p: Party) {
        self.parties.push(p);
    }

    pub(crate) fn party_len(&self) -> usize {
        self.parties.len()
    }
}

/// Why an intent was not considered at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// A move in a world that is not a grid, or by an agent without a cell.
    NotGrid,
    /// The target cell is outside the grid.
    OutsideGrid,
    /// The target cell is not a neighbour of the agent's cell.
    NotAdjacent,
    /// The target cell is an obstacle.
    Obstacle,
    /// The resource id is not in the scenario's `resources` table.
    UnknownResource,
    /// The agent is not within the resource's range.
    OutOfRange,
}

/// The engine's answer to one intent.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Ruling {
    /// There was no such intent.
    #[default]
    None,
    /// Granted: the move is applied in this tick's Act, the resource or task is held.
    Granted,
    /// Lost a conflict of this kind to `winner` (`None`: the conflict was left undecided, or
    /// more parties lost than won). The agent waits; after a swap it should make way.
    Lost {
        /// The conflict's kind.
        kind: ConflictKind,
        /// The best-ranked winner.
        winner: Option<u32>,
    },
    /// No conflict was lost, but another agent is in the way: the occupant of the target
    /// cell, who stays (or who won a swap against this agent's right of way), or a holder of
    /// the resource or task.
    Blocked {
        /// The agent waited for.
        by: u32,
    },
    /// The agent is backing off: its wants are ignored until tick `until`.
    Deferred {
        /// First tick its wants count again.
        until: u64,
    },
    /// The intent is invalid.
    Rejected(Rejection),
}

impl Ruling {
    /// Whether the agent waits because of this ruling (lost, blocked or deferred).
    pub fn is_wait(&self) -> bool {
        matches!(
            self,
            Ruling::Lost { .. } | Ruling::Blocked { .. } | Ruling::Deferred { .. }
        )
    }
}

/// What a deadlock victim is told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum DeadlockAction {
    /// Step back out of the way (movers) or let go and retry later (resources). The engine
    /// has already released what the victim held.
    #[default]
    BackOff,
    /// Find another way: another path avoiding the deadlock, another resource.
    Replan,
}

/// An order given to a deadlock victim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VictimOrder {
    /// What to do.
    pub action: DeadlockAction,
    /// Members of the deadlock.
    pub size: u32,
    /// The member the victim was waiting for (its successor in the cycle), if any.
    pub waiting_for: Option<u32>,
}

/// The engine's answer to an agent's intents, written in Resolve each tick the agent has an
/// [`Intent`] (the component is inserted with it). Behaviors read it in Act (to react at
/// once) or in the next tick's Decide.
#[derive(Component, Debug, Clone, Copy, PartialEq, Default)]
pub struct Outcome {
    /// The tick it answers (the executing [`crate::Tick`] of that Resolve).
    pub tick: u64,
    /// The move.
    pub movement: Ruling,
    /// The resource use.
    pub resource: Ruling,
    /// The task claim.
    pub task: Ruling,
    /// Set when the agent was chosen as a deadlock victim.
    pub victim: Option<VictimOrder>,
    /// How many agents wait for this agent (its in-degree in the wait-for graph): an agent
    /// parked in someone's way learns it here.
    pub blocking: u32,
}

impl Outcome {
    /// Whether any of the agent's intents waits.
    pub fn waiting(&self) -> bool {
        self.movement.is_wait() || self.resource.is_wait() || self.task.is_wait()
    }
}

/// How deadlocks are broken: the `deadlock` field of the scenario's `conflicts` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadlockSpec {
    /// Which member of a deadlock is the victim (default `Youngest`).
    pub victim: VictimRule,
    /// What the victim is told to do (default `BackOff`).
    pub action: DeadlockAction,
    /// Ticks a deadlock must last before a victim is chosen (default 2: a swap that the
    /// policy's loser resolves by making way at once never needs a victim). At least 1.
    pub patience: u64,
}

impl Default for DeadlockSpec {
    fn default() -> Self {
        DeadlockSpec {
            victim: VictimRule::Youngest,
            action: DeadlockAction::BackOff,
            patience: 2,
        }
    }
}

/// How a deadlock's victim is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum VictimRule {
    /// The most recently spawned member (highest id): it has the least invested.
    #[default]
    Youngest,
    /// The member with the lowest [`Urgency`], ties to the lowest id.
    LowestPriority,
    /// A member drawn from the run's random streams.
    Random,
}

/// Wall time spent in the Resolve phase (detection, the policy, settling), for benchmarks and
/// profiling. It is never part of results.
#[derive(Resource, Debug, Default, Clone)]
pub struct ResolveClock {
    started: Option<std::time::Instant>,
    /// The last tick's Resolve phase.
    pub last: std::time::Duration,
    /// Every Resolve phase so far.
    pub total: std::time::Duration,
    /// Resolve phases timed.
    pub ticks: u64,
}

fn clock_start(mut clock: ResMut<'_, ResolveClock>) {
    clock.started = Some(std::time::Instant::now());
}

fn clock_stop(mut clock: ResMut<'_, ResolveClock>) {
    if let Some(t0) = clock.started.take() {
        let dt = t0.elapsed();
        clock.last = dt;
        clock.total += dt;
        clock.ticks += 1;
    }
}

/// The engine's intent machinery, inserted by [`crate::SimBuilder::use_intents`].
#[derive(Resource, Debug, Clone, Default)]
pub(crate) struct IntentConfig {
    pub(crate) deadlock: DeadlockSpec,
}

/// The stages of the Resolve phase that the engine runs around the policy.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum IntentSet {
    /// Start of Resolve.
    Detect,
    /// End of Resolve.
    Settle,
    /// Start of Act.
    Apply,
}

impl crate::SimBuilder<'_> {
    /// Turns on intents and the Resolve machinery: behaviors whose agents write [`Intent`]s
    /// call it in `build` (and so do conflict policies). Safe to call many times.
    pub fn use_intents(&mut self) -> &mut Self {
        if !self.world().contains_resource::<IntentConfig>() {
            let deadlock = self
                .scenario()
                .conflicts
                .as_ref()
                .map(|c| c.deadlock)
                .unwrap_or_default();
            self.insert_resource(IntentConfig { deadlock });
            self.event_log::<ConflictEvent>();
        }
        self
    }
}

/// Adds the engine's Resolve systems when some plug-in asked for intents; called by
/// `Sim::new` once every plug-in is built (`slots` plug-in slots per phase).
pub(crate) fn install(
    world: &mut World,
    schedule: &mut Schedule,
    slots: u16,
    scenario: &crate::Scenario,
) {
    if !world.contains_resource::<IntentConfig>() {
        return;
    }
    world.insert_resource(Resources::new(&scenario.resources));
    world.init_resource::<TaskClaims>();
    world.init_resource::<Conflicts>();
    world.init_resource::<ConflictStats>();
    world.init_resource::<detect::IntentState>();
    world.init_resource::<settle::DeadlockState>();
    world.init_resource::<ResolveClock>();
    let last = slots.saturating_sub(1);
    schedule.configure_sets((
        IntentSet::Detect
            .in_set(Phase::Resolve)
            .before(Slot(Phase::Resolve, 0)),
        IntentSet::Settle
            .in_set(Phase::Resolve)
            .after(Slot(Phase::Resolve, last)),
        IntentSet::Apply
            .in_set(Phase::Act)
            .before(Slot(Phase::Act, 0)),
    ));
    schedule.add_systems((
        (clock_start, detect::detect)
            .chain()
            .in_set(IntentSet::Detect),
        (settle::settle, clock_stop, events::log_conflicts)
            .chain()
            .in_set(IntentSet::Settle),
        settle::apply.in_set(IntentSet::Apply),
    ));
}

/// Whether `to` is `from` or one of its neighbours (radius 1) in a grid of `w` x `h` cells.
#[inline]
pub(crate) fn adjacent(
    from: GridCell,
    to: GridCell,
    w: i32,
    h: i32,
    torus: bool,
    moore: bool,
) -> bool {
    let d = |a: i32, b: i32, n: i32| {
        let d = (b - a).abs();
        if torus { d.min(n - d) } else { d }
    };
    let (dx, dy) = (d(from.x, to.x, w), d(from.y, to.y, h));
    if moore {
        dx <= 1 && dy <= 1
    } else {
        dx + dy <= 1
    }
}
