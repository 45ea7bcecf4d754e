//! Messaging: FIPA-ACL-like envelopes around typed payloads, carried by one message bus per
//! payload type through a channel with latency, loss, range, bandwidth, bounded mailboxes and
//! a communication topology, all configured by the scenario's `comms` section.
//!
//! A behavior that talks picks (or defines) a payload type and calls
//! [`SimBuilder::messaging`] in its `build`. Its agents then carry an [`Outbox`] and a
//! [`Mailbox`] for that type: Decide systems write outboxes (also from `par_iter_mut`), the
//! bus empties them after Decide in agent-id order, and fills mailboxes at the start of
//! Deliver of the tick the copy is due, in the order (delivery tick, sender id, send
//! sequence). Results are identical at any thread count.
//!
//! ```
//! use agora_engine::prelude::*;
//! use agora_engine::comms::{Mailbox, Outbox, Performative};
//! use serde::{Deserialize, Serialize};
//!
//! /// Agents tell a random neighbour a number every tick and keep the largest heard.
//! #[derive(Component, Clone, Debug, Default, Serialize, Deserialize)]
//! #[serde(default, deny_unknown_fields)]
//! struct Rumour {}
//!
//! #[derive(Component, Default)]
//! struct Largest(u32);
//!
//! impl Behavior for Rumour {
//!     const NAME: &'static str = "rumour";
//!     const SUMMARY: &'static str = "Tell a neighbour the largest number heard.";
//!     fn build(sim: &mut SimBuilder) {
//!         sim.messaging::<u32>(Self::NAME);
//!         sim.add_systems(Phase::Decide, talk);
//!     }
//!     fn spawn(&self, agent: &mut AgentSpawn) {
//!         let id = agent.id();
//!         agent.insert(Largest(id));
//!     }
//! }
//!
//! fn talk(
//!     tick: Res<Tick>,
//!     rng: Res<SimRng>,
//!     bus: Res<agora_engine::comms::Bus<u32>>,
//!     mut agents: Query<(&AgentId, &mut Largest, &mut Mailbox<u32>, &mut Outbox<u32>)>,
//! ) {
//!     agents.par_iter_mut().for_each(|(id, mut best, mut inbox, mut outbox)| {
//!         for m in inbox.drain() {
//!             best.0 = best.0.max(m.payload);
//!         }
//!         let mut r = rng.agent(id.0, tick.0, Purpose::DECIDE);
//!         if let Some(to) = bus.random_neighbor(id.0, &mut r) {
//!             outbox.tell(to, Performative::Inform, best.0);
//!         }
//!     });
//! }
//!
//! let mut registry = Registry::new();
//! registry.behavior::<Rumour>();
//! let scenario = Scenario::parse(
//!     r#"#![enable(implicit_some)]
//!     (schema: 1, seed: 1, ticks: 100, world: (width: 10.0, height: 10.0),
//!         comms: (latency: Uniform(1, 3), loss: 0.1, topology: Ring),
//!         populations: [(behavior: "rumour", count: 20)])"#,
//!     "inline",
//!     &registry,
//! )
//! .unwrap();
//! let mut sim = Sim::new(&scenario, &registry, SimOptions::default()).unwrap();
//! sim.run().unwrap();
//! let c = agora_engine::comms::counters(sim.world());
//! assert_eq!(c.sent, 20 * 100);
//! assert!(c.balanced() && c.dropped_total() > 0);
//! let mut q = sim.world_mut().query::<&Largest>();
//! assert!(q.iter(sim.world()).all(|l| l.0 == 19), "the largest id spread around the ring");
//! ```

mod bus;
mod channel;
mod envelope;
pub mod graph;
mod record;
mod size;
mod spec;
#[cfg(test)]
mod tests;
pub mod topology;

pub use bus::{Bus, Neighbors};
pub use channel::{
    Channel, CommsCounters, DropReason, MailboxHandle, MailboxSlots, Members, MessageEvent, Net,
    Outcome, Payload, Standing,
};
pub use envelope::{
    Cast, ConversationId, Envelope, Header, Mailbox, MessageId, Outbox, Performative, Recipients,
};
pub use graph::{GraphSummary, summarize, undirected};
pub use size::serialized_size;
pub use spec::{
    CommsRecordSpec, CommsSpec, Latency, MAX_LATENCY, MailboxSpec, Overflow, SpecProblem,
    TopologySpec,
};
pub use topology::Topology;

pub use record::MESSAGES_CSV_HEADER;

use crate::digest::{DigestState, StableHasher};
use crate::error::{Error, ScenarioError};
use crate::events::SpawnHooks;
use crate::phase::EngineSet;
use crate::scenario::Scenario;
use crate::sim::SimBuilder;
use bevy_ecs::prelude::*;
use bevy_ecs::schedule::IntoScheduleConfigs;

/// Orders the buses' transmit systems, so that their log rows and draws follow registration
/// order.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct TransmitOrder(u32);

/// Delivered copies per `(sender, receiver)` pair: `(sender, receiver, copies)`, sorted.
pub type TalkEdges = Vec<(u32, u32, u64)>;

/// A graph as node ids and undirected edges.
pub type NodesAndEdges = (Vec<u32>, Vec<(u32, u32)>);

/// Type-erased access to every bus of a run, in registration order.
#[derive(Clone, Copy)]
pub(crate) struct BusHooks {
    counters: fn(&World) -> CommsCounters,
    talk: fn(&World) -> Option<TalkEdges>,
    topology: fn(&World) -> (Vec<u32>, Topology),
    take_log: fn(&mut World, &mut Vec<MessageEvent>),
    load_edges: fn(&mut World, &[(u32, u32)]),
}

/// The buses of a run.
#[derive(Resource, Default, Clone)]
pub(crate) struct Buses(pub(crate) Vec<BusHooks>);

impl<P: Payload> DigestState for Bus<P> {
    fn digest(&self, h: &mut StableHasher) {
        let c = self.counters();
        for v in [
            c.sent,
            c.delivered,
            c.in_flight,
            c.latency_sum,
            c.bytes_sent,
        ]
        .into_iter()
        .chain(c.dropped)
        {
            h.write_u64(v);
        }
    }
}

fn bus_counters<P: Payload>(w: &World) -> CommsCounters {
    w.get_resource::<Bus<P>>()
        .map(|b| *b.counters())
        .unwrap_or_default()
}

fn bus_talk<P: Payload>(w: &World) -> Option<Vec<(u32, u32, u64)>> {
    w.get_resource::<Bus<P>>().and_then(Bus::talk_edges)
}

fn bus_topology<P: Payload>(w: &World) -> (Vec<u32>, Topology) {
    w.get_resource::<Bus<P>>()
        .map_or_else(Default::default, |b| {
            (b.members().to_vec(), b.topology().clone())
        })
}

fn bus_take_log<P: Payload>(w: &mut World, into: &mut Vec<MessageEvent>) {
    if let Some(mut bus) = w.get_resource_mut::<Bus<P>>() {
        bus.channel.take_log(into);
    }
}

fn bus_load_edges<P: Payload>(w: &mut World, edges: &[(u32, u32)]) {
    if let Some(mut bus) = w.get_resource_mut::<Bus<P>>() {
        bus.edge_list = edges.to_vec();
    }
}

fn give_mailboxes<P: Payload>(world: &mut World, spawned: &[(Entity, u32, u16)]) {
    let pops = match world.get_resource::<Bus<P>>() {
        Some(b) => b.populations.clone(),
        None => return,
    };
    for &(e, id, pop) in spawned {
        if pops.contains(&pop) {
            world
                .entity_mut(e)
                .insert((Mailbox::<P>::default(), Outbox::<P>::new(id)));
        }
    }
}

impl SimBuilder<'_> {
    /// Gives the agents of `behavior`'s populations a [`Mailbox<P>`] and an [`Outbox<P>`],
    /// and runs a message bus for `P` under the scenario's `comms` channel model. Several
    /// behaviors may share one payload type; each calls this with its own name.
    pub fn messaging<P: Payload>(&mut self, behavior: &str) -> &mut Self {
        let pops = self.populations_of(behavior);
        if let Some(mut bus) = self.world_mut().get_resource_mut::<Bus<P>>() {
            bus.populations.extend(pops);
            bus.populations.sort_unstable();
            bus.populations.dedup();
            return self;
        }
        let spec = self.scenario().comms.clone();
        self.world_mut().init_resource::<Buses>();
        self.world_mut().init_resource::<SpawnHooks>();
        let index = self.world().resource::<Buses>().0.len() as u32;
        let mut bus = Bus::<P>::new(&spec, pops, index);
        if spec.record.graph {
            bus.channel.enable_talk_graph();
        }
        if spec.record.messages {
            let keep: Vec<Performative> = spec
                .record
                .performatives
                .iter()
                .filter_map(|n| Performative::parse(n).ok())
                .collect();
            bus.channel.enable_log(&keep);
        }
        self.insert_resource(bus);
        if index == 0 {
            // One recorder serves every bus of the run.
            if spec.record.messages {
                self.add_recorder(record::MessagesRecorder::default());
            }
            if spec.record.graph {
                self.add_recorder(record::TalkGraphRecorder::default());
            }
        }
        self.world_mut().resource_mut::<Buses>().0.push(BusHooks {
            counters: bus_counters::<P>,
            talk: bus_talk::<P>,
            topology: bus_topology::<P>,
            take_log: bus_take_log::<P>,
            load_edges: bus_load_edges::<P>,
        });
        self.world_mut()
            .resource_mut::<SpawnHooks>()
            .0
            .push(give_mailboxes::<P>);
        self.add_engine_systems(EngineSet::Deliver, bus::deliver::<P>);
        let order = TransmitOrder(index);
        let schedule = self.schedule_mut();
        schedule.configure_sets(order.in_set(EngineSet::Transmit));
        if index > 0 {
            schedule.configure_sets(order.after(TransmitOrder(index - 1)));
        }
        schedule.add_systems(bus::transmit::<P>.in_set(order));
        self.digest_resource::<Bus<P>>();
        self
    }
}

/// After the initial spawn: reads the edge-list file, if the topology names one, and checks
/// that every agent it names exists (initial agents and those scheduled to join).
pub(crate) fn finish_build(world: &mut World, scenario: &Scenario) -> Result<(), Error> {
    let Some(buses) = world.get_resource::<Buses>().cloned() else {
        return Ok(());
    };
    let TopologySpec::EdgeList(file) = &scenario.comms.topology else {
        return Ok(());
    };
    let path = match scenario.source.as_ref().and_then(|s| s.parent()) {
        Some(dir) => dir.join(file),
        None => std::path::PathBuf::from(file),
    };
    let origin = scenario
        .source
        .as_ref()
        .map_or_else(|| "scenario".to_owned(), |p| p.display().to_string());
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::Scenario(
            ScenarioError::new(
                &origin,
                format!("cannot read the edge list `{}`: {e}", path.display()),
            )
            .at_field("comms.topology"),
        )
    })?;
    let joining: u64 = scenario
        .events
        .iter()
        .map(|e| match e.action {
            crate::events::EventAction::Spawn { count, .. } => u64::from(count),
            crate::events::EventAction::Kill { .. } => 0,
        })
        .sum();
    let edges =
        topology::parse_edge_list(&text, scenario.agent_count() + joining).map_err(|e| {
            Error::Scenario(
                ScenarioError::new(path.display().to_string(), e.message).at(e.line, e.column),
            )
        })?;
    for b in &buses.0 {
        (b.load_edges)(world, &edges);
    }
    Ok(())
}

/// Message accounting summed over every bus of the run (all zero when nobody talks).
pub fn counters(world: &World) -> CommsCounters {
    let mut total = CommsCounters::default();
    if let Some(buses) = world.get_resource::<Buses>() {
        for b in &buses.0 {
            total.add(&(b.counters)(world));
        }
    }
    total
}

/// Who delivered to whom, `(sender, receiver, copies)` sorted, over every bus; `None` unless
/// `comms.record.graph` is on.
pub fn talk_graph(world: &World) -> Option<Vec<(u32, u32, u64)>> {
    let buses = world.get_resource::<Buses>()?;
    let mut all: Option<Vec<(u32, u32, u64)>> = None;
    for b in &buses.0 {
        if let Some(edges) = (b.talk)(world) {
            all.get_or_insert_with(Vec::new).extend(edges);
        }
    }
    all.map(|mut v| {
        v.sort_unstable();
        let mut merged: Vec<(u32, u32, u64)> = Vec::with_capacity(v.len());
        for (a, b, n) in v {
            match merged.last_mut() {
                Some(last) if last.0 == a && last.1 == b => last.2 += n,
                _ => merged.push((a, b, n)),
            }
        }
        merged
    })
}

/// The communication topology of every bus, merged: member ids and undirected edges
/// (`None` when nobody talks, or when a complete topology has more than
/// [`graph::EXACT_DIAMETER_LIMIT`] members, which would be too many edges to list).
pub fn topology_graph(world: &World) -> Option<NodesAndEdges> {
    let buses = world.get_resource::<Buses>()?;
    if buses.0.is_empty() {
        return None;
    }
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for b in &buses.0 {
        let (members, topo) = (b.topology)(world);
        if topo.is_complete() {
            if members.len() > graph::EXACT_DIAMETER_LIMIT {
                return None;
            }
            for (i, &a) in members.iter().enumerate() {
                for &c in &members[i + 1..] {
                    edges.push((a, c));
                }
            }
        } else {
            let live = |x: u32| members.binary_search(&x).is_ok();
            edges.extend(topo.edges().filter(|&(a, c)| live(a) && live(c)));
        }
        nodes.extend(members);
    }
    Some((nodes, edges))
}
