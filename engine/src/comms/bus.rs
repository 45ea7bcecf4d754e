//! The message bus of one payload type: the ECS resource and the two engine systems that
//! drive its channel every tick (deliver at the start of Deliver, transmit after Decide).

use super::channel::{Channel, CommsCounters, Members, Net, Payload};
use super::envelope::{Mailbox, Outbox};
use super::spec::CommsSpec;
use super::topology::{self, BuildInput, Topology};
use crate::agent::{AgentId, GridCell, Population, Position};
use crate::events::AgentDirectory;
use crate::phase::Tick;
use crate::rng::{AgentRng, SimRng};
use crate::space::Space;
use bevy_ecs::prelude::*;
use glam::DVec2;

/// The message bus for payload type `P`: members, topology and channel. Behaviors read it
/// (neighbours, counters) and never write it; they send through their [`Outbox`] and receive
/// in their [`Mailbox`].
#[derive(Resource)]
pub struct Bus<P: Payload> {
    pub(crate) channel: Channel<P>,
    pub(crate) members: Members,
    pub(crate) topology: Topology,
    pub(crate) spec: CommsSpec,
    /// Populations whose agents use this bus.
    pub(crate) populations: Vec<u16>,
    pub(crate) edge_list: Vec<(u32, u32)>,
    /// Registration order among buses (keys topology draws).
    pub(crate) index: u32,
    synced: Option<u64>,
    /// Members the topology was last built over.
    built_over: Vec<u32>,
    built_at: Option<u64>,
    senders: Vec<(u32, Entity)>,
}

impl<P: Payload> std::fmt::Debug for Bus<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("members", &self.members.len())
            .field("counters", self.channel.counters())
            .finish_non_exhaustive()
    }
}

/// A member's neighbours: every other member on a complete topology, the graph's neighbours
/// (alive ones) otherwise.
#[derive(Debug, Clone)]
pub enum Neighbors<'a> {
    /// Every member but `except`.
    All {
        /// Member ids.
        ids: std::slice::Iter<'a, u32>,
        /// The agent itself.
        except: u32,
    },
    /// Graph neighbours.
    Graph {
        /// Neighbour ids.
        ids: std::slice::Iter<'a, u32>,
        /// For skipping dead neighbours.
        members: &'a Members,
    },
}

impl Iterator for Neighbors<'_> {
    type Item = u32;
    #[inline]
    fn next(&mut self) -> Option<u32> {
        match self {
            Neighbors::All { ids, except } => ids.find(|&&m| m != *except).copied(),
            Neighbors::Graph { ids, members } => ids.find(|&&m| members.slot(m).is_some()).copied(),
        }
    }
}

impl<P: Payload> Bus<P> {
    pub(crate) fn new(spec: &CommsSpec, populations: Vec<u16>, index: u32) -> Bus<P> {
        Bus {
            channel: Channel::new(spec),
            members: Members::default(),
            topology: Topology::default(),
            spec: spec.clone(),
            populations,
            edge_list: Vec::new(),
            index,
            synced: None,
            built_over: Vec::new(),
            built_at: None,
            senders: Vec::new(),
        }
    }

    /// Live member ids, ascending.
    pub fn members(&self) -> &[u32] {
        self.members.ids()
    }

    /// Whether agent `id` is a live member.
    pub fn is_member(&self, id: u32) -> bool {
        self.members.slot(id).is_some()
    }

    /// The current topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Whether `a` may send to `b` (both members and neighbours).
    pub fn can_talk(&self, a: u32, b: u32) -> bool {
        self.is_member(b) && self.topology.connected(a, b)
    }

    /// Agent `a`'s live neighbours, ascending.
    pub fn neighbors(&self, a: u32) -> Neighbors<'_> {
        if self.topology.is_complete() {
            Neighbors::All {
                ids: self.members.ids().iter(),
                except: a,
            }
        } else {
            Neighbors::Graph {
                ids: self.topology.neighbors(a).iter(),
                members: &self.members,
            }
        }
    }

    /// Number of live neighbours of `a`.
    pub fn degree(&self, a: u32) -> usize {
        if self.topology.is_complete() {
            self.members.len() - usize::from(self.is_member(a))
        } else {
            self.neighbors(a).count()
        }
    }

    /// A live neighbour of `a` chosen uniformly with `rng`, if it has any.
    pub fn random_neighbor(&self, a: u32, rng: &mut AgentRng) -> Option<u32> {
        let d = self.degree(a);
        if d == 0 {
            return None;
        }
        let k = rng.below(d as u64) as usize;
        if self.topology.is_complete() {
            let ids = self.members.ids();
            // Skip `a` itself: members below it keep their index, those above shift by one.
            let self_at = self.members.slot(a).map(|s| s as usize);
            let i = match self_at {
                Some(s) if k >= s => k + 1,
                _ => k,
            };
            ids.get(i).copied()
        } else {
            self.neighbors(a).nth(k)
        }
    }

    /// Message accounting so far.
    pub fn counters(&self) -> &CommsCounters {
        self.channel.counters()
    }

    /// Delivered copies per `(sender, receiver)`, when `comms.record.graph` is on.
    pub fn talk_edges(&self) -> Option<Vec<(u32, u32, u64)>> {
        self.channel.talk_edges()
    }

    fn sync_members(&mut self, dir: &AgentDirectory, agents: impl Iterator<Item = (u32, u16)>) {
        self.members.rebuild(agents, dir.gone());
        self.synced = Some(dir.generation());
    }

    fn refresh_topology(&mut self, tick: u64, rng: &SimRng, space: &Space) {
        let due = match (self.built_at, self.spec.rebuild_every) {
            (None, _) => true,
            (Some(_), Some(n)) if tick.is_multiple_of(n) => true,
            _ => {
                // Joiners get links: rebuild when a member is not in the last build.
                let built = &self.built_over;
                self.members
                    .ids()
                    .iter()
                    .any(|m| built.binary_search(m).is_err())
            }
        };
        if !due || self.topology.is_complete() && self.built_at.is_some() {
            return;
        }
        self.topology = topology::build(
            &self.spec.topology,
            &BuildInput {
                members: self.members.ids(),
                positions: self.members.positions(),
                space,
                rng,
                tick,
                edge_list: &self.edge_list,
                channel: self.index,
            },
        );
        self.built_over.clear();
        self.built_over.extend_from_slice(self.members.ids());
        self.built_at = Some(tick);
    }
}

fn position_of(pos: Option<&Position>, cell: Option<&GridCell>) -> DVec2 {
    match (pos, cell) {
        (Some(p), _) => p.0,
        (None, Some(c)) => DVec2::new(f64::from(c.x) + 0.5, f64::from(c.y) + 0.5),
        (None, None) => DVec2::ZERO,
    }
}

type MailboxQuery<'w, 's, P> = Query<
    'w,
    's,
    (
        &'static AgentId,
        &'static Population,
        Option<&'static Position>,
        Option<&'static GridCell>,
        &'static mut Mailbox<P>,
    ),
>;

/// Start of Deliver: follow membership changes, refresh positions and the topology, and move
/// every copy due now into its mailbox.
pub(crate) fn deliver<P: Payload>(
    tick: Res<'_, Tick>,
    rng: Res<'_, SimRng>,
    space: Res<'_, Space>,
    dir: Res<'_, AgentDirectory>,
    mut bus: ResMut<'_, Bus<P>>,
    mut mailboxes: MailboxQuery<'_, '_, P>,
) {
    let bus = &mut *bus;
    if bus.synced != Some(dir.generation()) {
        bus.sync_members(&dir, mailboxes.iter().map(|(id, pop, ..)| (id.0, pop.0)));
    }
    mailboxes.iter().for_each(|(id, _, pos, cell, _)| {
        if let Some(slot) = bus.members.slot(id.0) {
            bus.members.set_position(slot, position_of(pos, cell));
        }
    });
    bus.refresh_topology(tick.0, &rng, &space);
    // Mailboxes by member slot. The handles borrow the query, so this vector cannot outlive
    // the call: one allocation per tick, against a per-copy entity lookup without it.
    let mut by_slot: Vec<Option<Mut<'_, Mailbox<P>>>> = Vec::new();
    by_slot.resize_with(bus.members.len(), || None);
    for (id, _, _, _, mb) in mailboxes.iter_mut() {
        if let Some(slot) = bus.members.slot(id.0) {
            by_slot[slot as usize] = Some(mb);
        }
    }
    bus.channel
        .deliver(tick.0, &bus.members, by_slot.as_mut_slice());
}

/// After Decide: empty every outbox into the channel in agent-id order.
pub(crate) fn transmit<P: Payload>(
    tick: Res<'_, Tick>,
    rng: Res<'_, SimRng>,
    space: Res<'_, Space>,
    mut bus: ResMut<'_, Bus<P>>,
    mut outboxes: Query<'_, '_, (Entity, &AgentId, &mut Outbox<P>)>,
) {
    let Bus {
        channel,
        members,
        topology,
        senders,
        ..
    } = &mut *bus;
    senders.clear();
    senders.extend(
        outboxes
            .iter()
            .filter(|(_, _, ob)| !ob.is_empty())
            .map(|(e, id, _)| (id.0, e)),
    );
    senders.sort_unstable_by_key(|s| s.0);
    let net = Net {
        tick: tick.0,
        rng: &rng,
        space: &space,
        members,
        topology,
    };
    for &(_, e) in senders.iter() {
        if let Ok((_, _, mut ob)) = outboxes.get_mut(e) {
            channel.transmit(&net, &mut ob);
        }
    }
}
